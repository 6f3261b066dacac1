"""``python -m bench.wait_cost [--runs N]``: the CPU a wait costs in Celery, beside a return.

Every ``reload_model`` execution that waits (the first call of each model, at least) ends
as a Celery retry: ``ParkingTask.wait`` parks the task and the execution raises ``Retry``.
This runs one execution of each kind through Celery's own tracer, as a prefork pool
process does (``celery.app.trace.build_tracer``), with a ``ParkingTask`` (its ``__call__``
drops the task's own frames from a retry's traceback), and measures, per execution:

- ``trace``: the execution in the pool process. For a retry Celery builds billiard's
  ``ExceptionInfo``, which copies every frame's code positions (``co_positions()``, Python
  3.11+) so that the worker can format the traceback; the frame of Celery's ``trace_task``
  is always in it, and its code has thousands of positions.
- ``pickle``: what the pool process sends back to the worker (a retry: that
  ``ExceptionInfo``; a return: its repr), and its size.
- ``unpickle``: the worker reading it back.

No Redis, broker or upstream is involved: only what Celery and billiard do around the
task's body, which here is empty. Measured 2026-12-06 on a 2-core AMD host (idle):
a retry 700 + 190 + 235 us and 34.5 KB, a return 50 us and 0.1 KB.
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.app.trace import build_tracer
from celery.exceptions import Retry

from worker.messaging.task import ParkingTask

__all__ = ["Costs", "measure"]


class _NoLot:
    """A parking lot that parks nothing: a return's ``after_return`` forgets its job here."""

    def release(self, task_id: str) -> None:
        pass


class _Measured(ParkingTask):
    """``ParkingTask`` as the worker runs it, its parking lot left out (no Redis here)."""

    abstract = True
    lot_factory = staticmethod(_NoLot)  # type: ignore[assignment]


class Costs(dict[str, float]):
    """Microseconds per execution (``trace``, ``pickle``, ``unpickle``) and ``bytes``."""


def _per_call(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm up: caches, lazy imports
    started = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - started) / runs * 1e6


def measure(runs: int = 500) -> dict[str, Costs]:
    """``{"retry": Costs, "return": Costs}`` over ``runs`` executions of each."""
    app = Celery("wait-cost", set_as_current=False)

    @app.task(base=_Measured, bind=True, ignore_result=True, name="waits")
    def waits(self: _Measured) -> None:
        raise Retry(exc=RuntimeError("accepted; confirming"), when=60)

    @app.task(base=_Measured, bind=True, ignore_result=True, name="returns")
    def returns(self: _Measured) -> dict[str, Any]:
        return {"model_id": "m", "state": "warm", "reason": None, "upstream_calls": 2}

    costs: dict[str, Costs] = {}
    for kind, task in (("retry", waits), ("return", returns)):
        tracer = build_tracer(task.name, task, app=app, eager=False, propagate=False)
        request = {"id": "wait-cost", "task": task.name, "delivery_info": {}}

        def run(tracer: Any = tracer, request: dict[str, Any] = request) -> Any:
            retval, info, _, retval_repr = tracer("wait-cost", (), {}, request)
            return retval if info else retval_repr  # what fast_trace_task sends back

        sent = run()
        if (kind == "retry") != hasattr(sent, "traceback"):
            raise RuntimeError(f"the {kind} execution did not end as a {kind}: {sent!r}")
        data = pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL)
        costs[kind] = Costs(
            trace=_per_call(run, runs),
            pickle=_per_call(lambda sent=sent: pickle.dumps(sent, pickle.HIGHEST_PROTOCOL), runs),
            unpickle=_per_call(lambda data=data: pickle.loads(data), runs),
            bytes=float(len(data)),
        )
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    options = parser.parse_args()
    for kind, cost in measure(options.runs).items():
        total = cost["trace"] + cost["pickle"] + cost["unpickle"]
        print(
            f"{kind:>6}: trace {cost['trace']:6.0f} us, pickle {cost['pickle']:5.0f} us, "
            f"unpickle {cost['unpickle']:5.0f} us ({total:6.0f} us of CPU), "
            f"{cost['bytes'] / 1024:5.1f} KB to the worker"
        )


if __name__ == "__main__":
    main()
