"""Behaviour: a permanent error fails the model at once with the upstream's reason.

Given the upstream answers 400, 401, 402, 403 or 404, when the model's task
advances, then the model is failed after exactly one call, whatever the retry
budget, and the outcome's reason carries the upstream's message.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.support.reload_rig import Rig, error
from worker import constants as c
from worker.reload.reloader import Final

PERMANENT = [
    pytest.param(400, "model_id is required", id="400"),
    pytest.param(401, "Invalid API key", id="401"),
    pytest.param(402, "Insufficient credits. Please add more credits to continue.", id="402"),
    pytest.param(403, "This feature requires a premium subscription", id="403"),
    pytest.param(404, "Model not found: model-a", id="404"),
]


@pytest.mark.parametrize(("http_status", "message"), PERMANENT)
def test_given_a_permanent_error_when_advanced_then_failed_at_once_with_the_upstream_message(
    rig: Rig, http_status: int, message: str
) -> None:
    rig.build([error(http_status, message)], max_retries=8)

    step = rig.advance("model-a")

    assert isinstance(step, Final)
    assert step.outcome.state == "failed"
    assert step.outcome.upstream_calls == 1
    assert rig.upstream.calls == 1
    assert step.outcome.reason == f"HTTP {http_status}: {message}"
    assert step.how == "created"


def test_given_a_legacy_validation_body_then_the_reason_carries_its_messege(rig: Rig) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"status": "error", "messege": {"model_id": ["The model id field is required."]}}
        return httpx.Response(400, json=body)

    rig.build([answer])

    step = rig.advance("model-a")

    assert isinstance(step, Final)
    assert step.outcome.state == "failed"
    assert step.outcome.reason is not None
    assert "The model id field is required." in step.outcome.reason


def test_given_a_model_failed_permanently_then_it_is_not_remembered_as_warm(rig: Rig) -> None:
    rig.build([error(404, "Model not found: model-a")])

    step = rig.advance("model-a")

    assert isinstance(step, Final)
    assert not rig.redis.exists(c.last_warm_key("model-a"))
    assert not rig.redis.exists(c.flight_key("model-a"))
    assert rig.limiter.in_flight() == 0


def test_given_a_failed_flight_when_a_new_task_asks_again_then_a_new_flight_calls_again(
    rig: Rig,
) -> None:
    rig.build([error(402, "Insufficient credits."), error(402, "Insufficient credits.")])
    first = rig.advance("model-a", "task-1")

    second = rig.advance("model-a", "task-2")

    assert isinstance(first, Final)
    assert isinstance(second, Final)
    assert rig.upstream.calls == 2
    assert second.outcome.flight_id != first.outcome.flight_id
    assert second.how == "created"
