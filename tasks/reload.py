"""``reload_model(model_id, batch_id=None, priority="normal")``: warm one model, holding no slot.

Each execution takes at most one step of the model's flight (``worker.reload.reloader``)
and then either returns the final outcome (once per task id, whatever copies of
the message exist) or parks itself in Redis until its next step is due.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from celery.exceptions import Ignore, Reject, Retry

from worker.celery import app
from worker.messaging.results import Waiting
from worker.messaging.task import INFRASTRUCTURE_ERRORS, ParkingTask
from worker.reload.flight import Outcome
from worker.reload.reloader import Final
from worker.runtime import runtime
from worker.validation import check_model_id, check_priority

__all__ = ["reload_model"]

logger = logging.getLogger(__name__)


@app.task(name="reload_model", bind=True, max_retries=None)
def reload_model(
    self: ParkingTask, model_id: str, batch_id: str | None = None, priority: str = "normal"
) -> dict[str, Any]:
    """Warm ``model_id``; return ``{model_id, state, reason, upstream_calls, ...}`` once final.

    Parameters:
        model_id: the model to warm.
        batch_id: the batch the model belongs to (its ledger is kept up to date), or none.
        priority: ``"high"`` overtakes normal work in the queue (its waits are parked in the
            high lane) and in the limiter.

    Returns:
        ``model_id``, ``state`` (``warm``, ``failed`` or ``cancelled``), ``reason`` (null when
        warm), ``upstream_calls``, ``batch_id``, ``finished_at`` and ``priority``.

    Raises:
        InvalidModelIds: a bad argument; the task fails at once, before any call.
        Retry: the model waits (for the limiter, for the load), parked in Redis.
        Ignore: another copy of this task returned its result already.
    """
    model_id = check_model_id(model_id)
    if batch_id is not None:
        batch_id = check_model_id(batch_id, where="batch_id")
    priority = check_priority(priority)
    try:
        if batch_id is not None and runtime().ledger.cancelled(batch_id, model_id):
            outcome = _cancelled(self, model_id)
        else:
            outcome = _advance(self, model_id, batch_id, priority)
    except (Retry, Ignore, Reject, *INFRASTRUCTURE_ERRORS):
        raise
    except Exception as exc:
        # A bug must not leave the model (and so its batch) unfinished forever.
        logger.exception("internal error while reloading %s", model_id)
        outcome = _ended(model_id, "failed", f"internal error: {type(exc).__name__}")
        if batch_id is not None:
            _record(batch_id, outcome)
    if not self.finish_once():
        raise Ignore()  # another copy of this task returned its result already
    return {
        "model_id": model_id,
        "state": outcome.state,
        "reason": outcome.reason,
        "upstream_calls": outcome.upstream_calls,
        "batch_id": batch_id,
        "finished_at": outcome.finished_at,
        "priority": priority,
    }


def _advance(task: ParkingTask, model_id: str, batch_id: str | None, priority: str) -> Outcome:
    """Take one step; return the final outcome, or raise the ``Retry`` of a parked wait."""
    rt = runtime()
    task_id = task.request.id or f"adhoc:{model_id}"
    step = rt.reloader.advance(model_id, task_id, priority=priority)
    if isinstance(step, Final):
        if batch_id is not None:
            _record(batch_id, step.outcome)
        return step.outcome
    if batch_id is not None and rt.ledger.set_waiting(
        batch_id, model_id, step.stage, now=rt.clock(), reason=step.reason
    ):
        return _cancelled(task, model_id)  # cancelled during this step: stop now
    admission = None if step.needs is None else step.needs.to_admission()
    raise task.wait(Waiting(step.reason), step.seconds, admission)


def _cancelled(task: ParkingTask, model_id: str) -> Outcome:
    """The batch was cancelled: leave the model's flight (another batch may carry it on;
    with no task left, no further call is made) and end as cancelled."""
    runtime().reloader.flights.detach(task.request.id or f"adhoc:{model_id}", model_id)
    return _ended(model_id, "cancelled", "cancelled")


def _ended(model_id: str, state: Literal["failed", "cancelled"], reason: str) -> Outcome:
    """An outcome this task decided without a flight (no upstream call of its own)."""
    return Outcome(
        model_id=model_id,
        state=state,
        reason=reason,
        upstream_calls=0,
        flight_id="",
        finished_at=runtime().clock(),
    )


def _record(batch_id: str, outcome: Outcome) -> None:
    runtime().ledger.set_state(
        batch_id,
        outcome.model_id,
        outcome.state,
        now=outcome.finished_at,
        reason=outcome.reason,
        calls=outcome.upstream_calls,
    )
