"""Behaviour: under the confirm policy a cold model is warm only after a second "success".

Given a cold model and ``RELOAD_WARM_POLICY=confirm``, when its task advances,
then the first call starts the reload and the task comes back after about
``RELOAD_WARM_SECONDS``; coming back early makes no call; the check after the
wait answers "success" again and the model is warm after exactly two calls.
"""

from __future__ import annotations

import pytest

from tests.unit.support.reload_rig import KEY, START, Rig, processing, success
from worker import constants as c
from worker.reload.reloader import Final, Later

WARM = 120.0


def test_given_a_cold_model_when_first_advanced_then_one_call_and_later_about_warm_seconds(
    rig: Rig,
) -> None:
    rig.build([success()], warm_seconds=WARM)

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert rig.upstream.calls == 1
    assert rig.upstream.requests == [{"key": KEY, "model_id": "model-a"}]
    assert step.stage == "reloading"
    assert WARM * 0.99 <= step.seconds <= WARM * 1.05
    assert "accepted" in step.reason


def test_given_a_reload_in_progress_when_advanced_before_its_next_step_then_no_call(
    rig: Rig,
) -> None:
    rig.build([success()], warm_seconds=WARM)
    rig.advance("model-a")

    comebacks = []
    for seconds in (0.0, 1.0, 60.0, 50.0):
        rig.clock.advance(seconds)
        step = rig.advance("model-a")
        assert isinstance(step, Later)
        assert step.stage == "reloading"
        comebacks.append(rig.clock.now + step.seconds)

    assert rig.upstream.calls == 1
    # Each early visit is told to come back at the same moment: the flight's next step.
    assert comebacks == pytest.approx([comebacks[0]] * len(comebacks))
    assert comebacks[0] >= START + WARM


def test_given_the_wait_is_over_when_the_check_answers_success_then_warm_after_two_calls(
    rig: Rig,
) -> None:
    rig.build([success(), success("Model already loaded")], warm_seconds=WARM)

    final, laters = rig.run("model-a")

    assert isinstance(final, Final)
    assert final.outcome.state == "warm"
    assert final.outcome.reason is None
    assert final.outcome.upstream_calls == 2
    assert final.outcome.model_id == "model-a"
    assert rig.upstream.calls == 2
    # The confirmation came no earlier than the expected reload time.
    assert final.outcome.finished_at >= START + WARM
    assert sum(later.seconds for later in laters) >= WARM


def test_given_the_first_answer_is_processing_when_a_success_follows_then_warm_without_a_third_call(
    rig: Rig,
) -> None:
    # The model was already loading when we asked: "success" after it is proof enough.
    rig.build([processing(eta=30), success("Model already loaded")], warm_seconds=WARM)

    final, _ = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert final.outcome.upstream_calls == 2


def test_given_a_model_warm_when_finished_then_no_flight_or_step_lock_is_left_behind(
    rig: Rig,
) -> None:
    rig.build([success(), success()], warm_seconds=WARM)

    final, _ = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert not rig.redis.exists(c.flight_key("model-a"))
    assert not rig.redis.exists(c.step_lock_key("model-a"))
    assert rig.redis.exists(c.outcome_key(final.outcome.flight_id))
    assert rig.limiter.in_flight() == 0


def test_given_a_warm_outcome_when_the_same_task_runs_again_then_it_gets_the_same_outcome(
    rig: Rig,
) -> None:
    # A redelivered message (acks_late) must not start a second reload.
    rig.build([success(), success()], warm_seconds=WARM)
    final, _ = rig.run("model-a", "task-1")
    rig.clock.advance(5)

    again = rig.advance("model-a", "task-1")

    assert isinstance(again, Final)
    assert again.outcome == final.outcome
    assert rig.upstream.calls == 2
