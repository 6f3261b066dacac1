"""Behaviour: the rate counts a call from its answer, not from the end of the step.

Given a worker slowed down after the upstream answered (the step's Redis writes on a busy
CPU), when the reloader releases the call's lease, then the rate's window counts the call
from the moment its answer came back: the slowness after it does not hold the slot. An
error is an answer too.
"""

from __future__ import annotations

import time

from tests.unit.support.reload_rig import Rig, html, success
from tests.unit.support.stores import redis_now
from worker.reload.reloader import Later


class SlowMonitor:
    """Counts answers after a pause, as a worker on a busy CPU would."""

    def answered(self, answer: str, *, now: float) -> None:
        time.sleep(0.3)


def _counted_at(rig: Rig) -> float:
    [(_, counted)] = rig.redis.zrange(rig.limiter.calls_key, 0, -1, withscores=True)
    return float(counted)


def test_given_the_worker_is_slow_after_the_answer_then_the_call_counts_from_the_answer(
    rig: Rig,
) -> None:
    rig.build([success()])
    assert rig.reloader is not None
    rig.reloader.monitor = SlowMonitor()  # type: ignore[assignment]
    started = redis_now(rig.redis)

    step = rig.advance("model-a")

    released = redis_now(rig.redis)
    assert isinstance(step, Later) and step.reason == "accepted; confirming"
    assert released - started >= 0.3
    assert _counted_at(rig) < started + 0.15  # the answer, not the release 0.3 s later


def test_given_an_error_answer_then_the_call_counts_from_it_too(rig: Rig) -> None:
    rig.build([html(502)])
    assert rig.reloader is not None
    rig.reloader.monitor = SlowMonitor()  # type: ignore[assignment]
    started = redis_now(rig.redis)

    step = rig.advance("model-a")

    assert isinstance(step, Later) and step.reason.startswith("error 1/")
    assert _counted_at(rig) < started + 0.15
