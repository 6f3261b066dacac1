"""Behaviour: a model that takes longer than ``RELOAD_DEADLINE_SECONDS`` is failed.

Given a flight whose deadline has passed, when its task advances, then the
model is failed with "deadline exceeded" (naming the last thing it was
waiting for) and no further call is made; no wait is ever scheduled past the
deadline.
"""

from __future__ import annotations

import pytest

from tests.unit.support.reload_rig import START, Rig, error, processing, success
from worker.reload.reloader import Final, Later

DEADLINE = 300.0


def test_given_a_model_still_loading_at_the_deadline_then_failed_without_another_call(
    rig: Rig,
) -> None:
    # More "processing" answers than the deadline leaves room for.
    rig.build(
        [processing(eta=60) for _ in range(50)], warm_seconds=120.0, deadline_seconds=DEADLINE
    )

    final, laters = rig.run("model-a")

    assert isinstance(final, Final)
    assert final.outcome.state == "failed"
    assert final.outcome.reason is not None
    assert final.outcome.reason.startswith("deadline exceeded")
    assert "loading" in final.outcome.reason
    # Every call happened before the deadline, and the one at the deadline made none.
    assert rig.upstream.calls == final.outcome.upstream_calls
    assert rig.upstream.calls == len(laters)
    assert final.outcome.finished_at == pytest.approx(START + DEADLINE)


def test_given_a_wait_that_would_end_after_the_deadline_then_it_is_cut_at_the_deadline(
    rig: Rig,
) -> None:
    rig.build([success()], warm_seconds=120.0, deadline_seconds=50.0)

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert step.seconds == 50.0


def test_given_the_deadline_passed_while_the_task_was_away_then_failed_with_no_call(
    rig: Rig,
) -> None:
    rig.build([error(500, "boom")], deadline_seconds=DEADLINE, max_retries=5)
    first = rig.advance("model-a")
    assert isinstance(first, Later)

    rig.clock.advance(DEADLINE + 1000)  # the worker was down for a long time
    step = rig.advance("model-a")

    assert isinstance(step, Final)
    assert step.outcome.state == "failed"
    assert step.outcome.reason == "deadline exceeded (last: error 1/5: HTTP 500: boom)"
    assert step.outcome.upstream_calls == 1
    assert rig.upstream.calls == 1
