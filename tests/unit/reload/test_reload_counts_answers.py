"""Behaviour: every upstream answer is counted by kind in Redis, for the dashboard's /metrics.

Given a reloader with a monitor (as every worker has), when models go through accepted,
loading, confirmed-warm, 429, transient and permanent answers, then
``reload:metrics:answers`` holds one count per call, by kind, and the 429s of the last
minute are kept; a Redis failure while counting never changes the model's course.
"""

from __future__ import annotations

import redis

from tests.unit.support.reload_rig import Rig, error, html, processing, success
from worker.monitoring import Monitor
from worker.reload.reloader import Final


def test_each_call_is_counted_once_by_the_kind_of_its_answer(rig: Rig) -> None:
    answers = [
        success(),  # model-a: accepted
        processing(eta=5),  # loading
        success(),  # warm (confirms the reload)
        error(429, "Rate limit exceeded", retry_after=1),  # model-b: rate limited
        html(502),  # transient
        error(404, "Model not found"),  # permanent
    ]
    rig.build(answers, limiter="stub")
    monitor = Monitor(rig.redis)
    assert rig.reloader is not None
    rig.reloader.monitor = monitor

    warm, _ = rig.run("model-a", "task-a")
    failed, _ = rig.run("model-b", "task-b")

    assert warm.outcome.state == "warm" and failed.outcome.state == "failed"
    assert monitor.answers() == {
        "accepted": 1, "loading": 1, "warm": 1, "rate_limited": 1, "transient": 1, "permanent": 1,
    }  # fmt: skip
    assert sum(monitor.answers().values()) == rig.upstream.calls
    assert monitor.rate_limited_since(rig.clock() - 60) == 1


def test_already_loaded_counts_as_warm(rig: Rig) -> None:
    rig.build([success("Model already loaded"), success()])
    assert rig.reloader is not None
    rig.reloader.monitor = Monitor(rig.redis)

    step, _ = rig.run("model-a")

    assert isinstance(step, Final) and step.outcome.state == "warm"
    assert rig.reloader.monitor.answers()["warm"] == 2


class BrokenMonitor(Monitor):
    def answered(self, answer: str, *, now: float) -> None:
        raise redis.ConnectionError("Redis went away while counting")


def test_a_failed_count_is_dropped_and_the_model_carries_on(rig: Rig) -> None:
    rig.build([success(), success()])
    assert rig.reloader is not None
    rig.reloader.monitor = BrokenMonitor(rig.redis)

    step, _ = rig.run("model-a")

    assert step.outcome.state == "warm" and rig.upstream.calls == 2
