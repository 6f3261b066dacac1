"""Behaviour: any call answered ends the breaker's streak, even one granted before it began.

"The same error for several different models in a row" is what makes the breaker stop the
key (decision 0008). Given the real limiter and breaker on Redis, wired as a worker wires
them, when another model's failure is counted while a call is out, and that call is then
answered, the next failures start a new streak: random faults (a few % of 500s spread over
many models, the bench's faulty scenario) do not stop the key, while an account that fails
every call still opens it after three. Before, a call granted while no failure was counted
skipped the reset (a Redis round trip saved per call), so failures around successes of
calls already out added up to three and stopped the key for 5 s.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.unit.support.reload_rig import Answer, Rig, processing, success
from worker.limiter.breaker import Breaker
from worker.reload.reloader import Later


def _fail(breaker: Breaker, model_id: str) -> tuple[str, float]:
    """Count a failure of another model's call, as its worker would."""
    return breaker.failed(
        model_id=model_id,
        caller=f"task-{model_id}",
        signature="TransientError:500:Internal server error",
        reason="HTTP 500: Internal server error",
        permanent=False,
        account=False,
    )


def _after_a_failure_elsewhere(rig: Rig, answer: Answer) -> Answer:
    """An answer that comes after model-b's call, made meanwhile, failed."""

    def respond(request: httpx.Request) -> httpx.Response:
        assert rig.reloader is not None and rig.reloader.breaker is not None
        assert _fail(rig.reloader.breaker, "model-b") == ("closed", 1)
        return answer(request)

    return respond


@pytest.mark.parametrize(
    ("answer", "overrides"),
    [
        (success, {}),  # the slot is released after the answer
        (processing, {"loading_holds_slot": True}),  # the slot is kept: renewed instead
    ],
    ids=["released", "renewed"],
)
def test_given_a_failure_counted_while_a_call_was_out_then_its_answer_ends_the_streak(
    rig: Rig, answer: Callable[[], Answer], overrides: dict[str, bool]
) -> None:
    reloader = rig.build([], breaker=True, **overrides)
    breaker = reloader.breaker
    assert breaker is not None
    assert breaker.check("task-probe").action == "go"  # nothing counted yet
    rig.upstream.answers.append(_after_a_failure_elsewhere(rig, answer()))

    step = rig.advance("model-a")

    assert isinstance(step, Later)  # answered: the model is loading
    assert _fail(breaker, "model-c") == ("closed", 1)  # model-b's streak is over
    assert _fail(breaker, "model-d") == ("closed", 2)
    assert breaker.check("task-e").action == "go"


def test_given_every_call_failing_alike_then_three_models_still_stop_the_key(rig: Rig) -> None:
    reloader = rig.build([], breaker=True)
    breaker = reloader.breaker
    assert breaker is not None

    outcomes = [_fail(breaker, model)[0] for model in ("model-a", "model-b", "model-c")]

    assert outcomes == ["closed", "closed", "opened"]
    assert breaker.check("task-d").action == "wait"
