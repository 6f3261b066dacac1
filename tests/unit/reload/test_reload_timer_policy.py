"""Behaviour: under the timer policy one "success" is enough, and the timer says when.

Given ``RELOAD_WARM_POLICY=timer``, when a cold model's task advances, then it
calls once, comes back after about ``RELOAD_WARM_SECONDS`` and returns warm
with no further call; coming back before the timer ends neither calls nor finishes.
"""

from __future__ import annotations

from tests.unit.support.reload_rig import START, Rig, processing, success
from worker.reload.reloader import Final, Later

WARM = 120.0


def test_given_the_timer_policy_when_the_model_is_accepted_then_warm_after_the_timer_with_one_call(
    rig: Rig,
) -> None:
    rig.build([success()], warm_seconds=WARM, warm_policy="timer")

    final, laters = rig.run("model-a")

    assert isinstance(final, Final)
    assert final.outcome.state == "warm"
    assert final.outcome.reason is None
    assert final.outcome.upstream_calls == 1
    assert rig.upstream.calls == 1
    assert final.outcome.finished_at >= START + WARM
    assert laters[0].stage == "reloading"
    assert "timer" in laters[0].reason


def test_given_the_timer_is_running_when_advanced_early_then_no_call_and_not_final(
    rig: Rig,
) -> None:
    rig.build([success()], warm_seconds=WARM, warm_policy="timer")
    rig.advance("model-a")

    rig.clock.advance(WARM / 2)
    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert rig.upstream.calls == 1
    assert WARM / 2 - 1 <= step.seconds <= WARM / 2 * 1.1 + 0.1


def test_given_the_timer_policy_when_the_first_answer_is_processing_then_success_is_warm(
    rig: Rig,
) -> None:
    # A model seen loading needs no timer: the "success" after it is the confirmation.
    rig.build([processing(eta=30), success()], warm_seconds=WARM, warm_policy="timer")

    final, _ = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert final.outcome.upstream_calls == 2
    assert rig.upstream.calls == 2
