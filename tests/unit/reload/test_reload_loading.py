"""Behaviour: a loading model is waited for, never counted as a failure.

Given the upstream answers "processing" (with or without an ``eta``), when the
model's task advances, then it comes back at the eta (clamped between a
twentieth of ``RELOAD_WARM_SECONDS`` and the whole of it) or at a growing
interval capped at half of it; any number of such answers spend none of the
error budget, and an answer resets the count of consecutive errors.
"""

from __future__ import annotations

import pytest

from tests.unit.support.reload_rig import Rig, error, processing, success
from worker.reload.reloader import Final, Later

WARM = 120.0


@pytest.mark.parametrize(
    ("eta", "low", "high"),
    [
        pytest.param(30, 30, 30 * 1.05 + 0.1, id="eta-inside"),
        pytest.param(1, WARM / 20, WARM / 20 * 1.05 + 0.1, id="eta-below-a-twentieth"),
        pytest.param(3600, WARM * 0.99, WARM * 1.05 + 0.1, id="eta-above-warm-seconds"),
        pytest.param("45", 45, 45 * 1.05 + 0.1, id="eta-as-numeric-string"),
    ],
)
def test_given_processing_with_an_eta_when_advanced_then_it_comes_back_at_the_clamped_eta(
    rig: Rig, eta: float, low: float, high: float
) -> None:
    rig.build([processing(eta=eta)], warm_seconds=WARM)

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert low <= step.seconds <= high
    assert step.stage == "reloading"
    assert step.reason.startswith("loading")
    assert rig.upstream.calls == 1


def test_given_processing_without_an_eta_when_repeated_then_the_interval_grows_to_half_warm(
    rig: Rig,
) -> None:
    rig.build([processing() for _ in range(8)], warm_seconds=WARM)

    intervals = []
    for _ in range(8):
        step = rig.advance("model-a")
        assert isinstance(step, Later)
        intervals.append(step.seconds)
        rig.clock.advance(step.seconds)

    assert rig.upstream.calls == 8
    assert intervals[0] == pytest.approx(WARM / 8, abs=0.1)
    assert intervals == sorted(intervals)
    assert intervals[-1] > intervals[0] * 3
    assert max(intervals) <= WARM / 2 + 0.1
    assert intervals[-1] == pytest.approx(WARM / 2, abs=0.1)


def test_given_an_error_budget_of_zero_when_many_processing_answers_then_success_then_warm(
    rig: Rig,
) -> None:
    answers = [processing(eta=20) for _ in range(15)] + [processing() for _ in range(15)]
    rig.build([*answers, success("Model already loaded")], warm_seconds=WARM, max_retries=0)

    final, laters = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert final.outcome.upstream_calls == 31
    assert len(laters) == 30
    assert all(later.reason.startswith("loading") for later in laters)


def test_given_errors_separated_by_a_processing_answer_then_the_budget_counts_only_consecutive(
    rig: Rig,
) -> None:
    answers = [
        error(500, "Internal server error. Please try again."),
        error(500, "Internal server error. Please try again."),
        processing(eta=10),
        error(500, "Internal server error. Please try again."),
        error(500, "Internal server error. Please try again."),
        success("Model already loaded"),  # after "processing", one success is warm
    ]
    rig.build(answers, warm_seconds=WARM, max_retries=2)

    final, laters = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert final.outcome.upstream_calls == 6
    error_reasons = [later.reason for later in laters if later.reason.startswith("error")]
    assert [reason.split(":")[0] for reason in error_reasons] == [
        "error 1/2",
        "error 2/2",
        "error 1/2",
        "error 2/2",
    ]


def test_given_the_same_errors_without_a_processing_answer_between_then_the_model_fails(
    rig: Rig,
) -> None:
    # The counterpart of the test above: three errors in a row exceed a budget of two.
    answers = [error(500, "Internal server error. Please try again.") for _ in range(3)]
    rig.build(answers, warm_seconds=WARM, max_retries=2)

    final, _ = rig.run("model-a")

    assert isinstance(final, Final)
    assert final.outcome.state == "failed"
    assert final.outcome.upstream_calls == 3


def test_given_a_short_warm_time_and_a_load_that_never_ends_then_the_deadline_fails_it(
    rig: Rig,
) -> None:
    rig.build(
        [processing() for _ in range(2500)],
        warm_seconds=1.0,
        deadline_seconds=1000.0,  # reached after ~1820 checks; the overflow comes at ~1750
        limiter="stub",
    )

    final, _ = rig.run("model-a", max_steps=2500)

    assert final.outcome.state == "failed"
    assert final.outcome.reason is not None
    assert final.outcome.reason.startswith("deadline exceeded")
