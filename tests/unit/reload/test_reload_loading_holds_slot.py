"""Behaviour: with ``RELOAD_LOADING_HOLDS_SLOT`` a loading model keeps its limiter slot until final.

Given the upstream counts a loading model against the account's queue, when a
model is accepted or seen loading, then its concurrency lease is kept (another
model is told to wait for the in-flight cap), its own checks need only a rate
grant, and the slot is given back when the model is final, warm or failed.
Without the setting the slot is given back after every call.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.support.reload_rig import Rig, error, processing, success
from worker import constants as c
from worker.reload.reloader import Final, Later


def redis_now(rig: Rig) -> float:
    seconds, micros = rig.redis.time()
    return float(seconds) + micros / 1e6


def test_given_a_model_accepted_then_its_slot_is_kept_and_another_model_waits(rig: Rig) -> None:
    rig.build([success(), success(), success()], max_in_flight=1, loading_holds_slot=True)

    first = rig.advance("model-a", "task-a")
    other = rig.advance("model-b", "task-b")

    assert isinstance(first, Later)
    assert rig.limiter.in_flight() == 1
    assert isinstance(other, Later)
    assert other.reason == "limiter: in_flight"
    assert rig.upstream.calls_for("model-b") == 0


def test_given_a_held_slot_when_the_check_confirms_warm_then_the_slot_is_given_back(
    rig: Rig,
) -> None:
    rig.build([success(), success(), success()], max_in_flight=1, loading_holds_slot=True)

    final, _ = rig.run("model-a", "task-a")  # the check needs no second slot
    other = rig.advance("model-b", "task-b")

    assert final.outcome.state == "warm"
    assert final.outcome.upstream_calls == 2
    assert isinstance(other, Later)
    assert other.reason.startswith("accepted")
    assert rig.upstream.calls_for("model-b") == 1


def test_given_processing_answers_then_the_same_slot_is_kept_across_checks(rig: Rig) -> None:
    answers = [processing(eta=20), processing(eta=20), processing(), success()]
    rig.build(answers, max_in_flight=1, loading_holds_slot=True)

    leases = []
    for _ in range(3):
        step = rig.advance("model-a")
        assert isinstance(step, Later)
        leases.append(rig.redis.zrange(rig.limiter.leases_key, 0, -1))
        rig.clock.advance(step.seconds)
    final, _ = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert all(len(held) == 1 for held in leases)
    assert leases[0] == leases[1] == leases[2]
    assert rig.limiter.in_flight() == 0


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(error(404, "Model not found"), id="permanent-error-on-the-check"),
        pytest.param(None, id="deadline"),
    ],
)
def test_given_a_held_slot_when_the_model_fails_then_the_slot_is_given_back(
    rig: Rig, check: object
) -> None:
    answers = [success()] if check is None else [success(), check]
    rig.build(
        answers,  # type: ignore[arg-type]
        max_in_flight=1,
        loading_holds_slot=True,
        deadline_seconds=100.0 if check is None else 1800.0,
    )

    final, _ = rig.run("model-a")

    assert isinstance(final, Final)
    assert final.outcome.state == "failed"
    assert rig.limiter.in_flight() == 0


def test_given_the_setting_is_off_then_the_slot_is_given_back_after_the_call(rig: Rig) -> None:
    rig.build([success(), success()], max_in_flight=1, loading_holds_slot=False)

    rig.advance("model-a", "task-a")
    other = rig.advance("model-b", "task-b")

    assert rig.limiter.in_flight() == 0
    assert isinstance(other, Later)
    assert other.reason.startswith("accepted")
    assert rig.upstream.calls_for("model-b") == 1


def test_given_a_held_slot_when_a_429_asks_for_a_long_wait_then_the_slot_outlives_the_wait(
    rig: Rig,
) -> None:
    limited = error(429, "Rate limit exceeded.", retry_after=600)
    rig.build([success(), limited], max_in_flight=1, loading_holds_slot=True, warm_seconds=120.0)
    first = rig.advance("model-a")
    assert isinstance(first, Later)
    rig.clock.advance(125.0)  # the check is due

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert step.reason.startswith("rate limited")
    flight = rig.redis.hgetall(c.flight_key("model-a"))
    next_step_in = float(flight[b"next_at"]) - rig.clock.now
    leases: list[Any] = rig.redis.zrange(rig.limiter.leases_key, 0, -1, withscores=True)
    (lease, expiry), *_ = leases
    assert lease == flight[b"lease"]
    # The model is still loading upstream until its next step: its slot must last that long.
    assert expiry - redis_now(rig) >= next_step_in
