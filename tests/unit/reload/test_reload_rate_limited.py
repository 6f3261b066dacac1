"""Behaviour: a 429 pauses the whole key, and is not an error of the model.

Given the upstream answers 429 with ``retry_after``, when a model's task
advances, then the limiter is paused for that long for every worker (another
model's task is told to wait, without calling), the model comes back no sooner
than ``retry_after``, and any number of 429s spend none of the error budget.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.support.reload_rig import Rig, error, success
from worker.reload.reloader import Later

LIMIT_MESSAGE = "Rate limit exceeded. Maximum 5 queued requests allowed."


def test_given_a_429_with_retry_after_then_another_model_waits_on_the_limiter_without_calling(
    rig: Rig,
) -> None:
    rig.build([error(429, LIMIT_MESSAGE, retry_after=30)])

    first = rig.advance("model-a", "task-a")
    other = rig.advance("model-b", "task-b")

    assert rig.upstream.calls == 1
    assert rig.limiter.paused_for() == pytest.approx(30.0, abs=1.0)
    assert isinstance(first, Later)
    assert first.reason.startswith("rate limited: HTTP 429")
    assert isinstance(other, Later)
    assert other.reason == "limiter: paused"
    assert other.stage == "waiting"
    assert other.seconds == pytest.approx(30.0, abs=1.0)


def test_given_a_429_with_retry_after_then_the_model_comes_back_no_sooner(rig: Rig) -> None:
    rig.build([error(429, LIMIT_MESSAGE, retry_after=30)])

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert step.seconds >= 30.0
    assert step.seconds <= 30.0 * 1.05 + 0.1
    assert "retry after 30s" in step.reason


def test_given_a_retry_after_header_instead_of_the_field_then_the_key_is_paused_as_long(
    rig: Rig,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"status": "error", "message": LIMIT_MESSAGE}
        return httpx.Response(429, json=body, headers={"Retry-After": "12"})

    rig.build([answer], limiter="stub")

    step = rig.advance("model-a")

    assert rig.limiter.pauses == [12.0]
    assert isinstance(step, Later)
    assert step.seconds >= 12.0


def test_given_many_429s_and_a_budget_of_one_error_then_the_model_still_ends_warm(
    rig: Rig,
) -> None:
    limited = [error(429, LIMIT_MESSAGE, retry_after=10) for _ in range(6)]
    rig.build([*limited, success(), success()], limiter="stub", max_retries=1)

    final, laters = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert final.outcome.upstream_calls == 8
    assert rig.limiter.pauses == [10.0] * 6
    assert sum(1 for later in laters if later.reason.startswith("rate limited")) == 6
    assert not any(later.reason.startswith("error") for later in laters)


def test_given_a_429_without_retry_after_then_the_key_is_still_paused(rig: Rig) -> None:
    rig.build([error(429, LIMIT_MESSAGE), success()], limiter="stub", backoff_base_seconds=4.0)

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert len(rig.limiter.pauses) == 1
    assert 0.0 <= rig.limiter.pauses[0] <= 4.0
    assert step.seconds >= rig.limiter.pauses[0]


def test_given_the_same_rng_seed_then_a_429_without_retry_after_pauses_for_the_same_time(
    rig: Rig,
) -> None:
    pauses = []
    for model in ("model-a", "model-b"):
        rig.build([error(429, LIMIT_MESSAGE)], limiter="stub", backoff_base_seconds=4.0)
        rig.advance(model, f"task-{model}")
        pauses.extend(rig.limiter.pauses)

    assert len(pauses) == 2
    assert pauses[0] == pauses[1]
