"""Behaviour: transient errors back off and retry, then fail the model past the budget.

Given the upstream fails in a way that may pass (5xx, an HTML proxy page, a read
timeout, HTTP 200 with ``"status": "error"``, an unknown status), when the model's
task advances, then it comes back after a full-jitter backoff bounded by
``base * 2**(n-1)`` and calls again; after ``RELOAD_MAX_RETRIES`` retries the model
fails with a reason that names the last error.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.support.reload_rig import Answer, Rig, error, html, read_timeout, success
from worker.reload.reloader import Final, Later

TRANSIENT = [
    pytest.param(error(500, "Internal server error. Please try again."), "HTTP 500", id="500"),
    pytest.param(error(503, "Service unavailable"), "HTTP 503", id="503"),
    pytest.param(html(502), "HTTP 502", id="html-502"),
    pytest.param(read_timeout(), "read timeout", id="read-timeout"),
    pytest.param(error(200, "queue full"), "HTTP 200: queue full", id="200-with-error"),
    pytest.param(
        lambda request: httpx.Response(200, json={"status": "failed", "message": "?"}),
        "unexpected status",
        id="unknown-status",
    ),
]


@pytest.mark.parametrize(("answer", "named"), TRANSIENT)
def test_given_a_transient_error_when_advanced_then_it_backs_off_and_calls_again(
    rig: Rig, answer: Answer, named: str
) -> None:
    rig.build([answer, success(), success()], max_retries=3, backoff_base_seconds=1.0)

    first = rig.advance("model-a")

    assert isinstance(first, Later)
    assert first.reason.startswith("error 1/3: ")
    assert named in first.reason
    assert first.stage == "reloading"
    assert 0.0 <= first.seconds <= 1.0 + 1e-6  # full jitter: uniform(0, base)
    rig.clock.advance(first.seconds)

    second = rig.advance("model-a")

    assert rig.upstream.calls == 2
    assert isinstance(second, Later)
    assert second.reason.startswith("accepted")


def test_given_repeated_errors_then_each_backoff_stays_under_its_growing_ceiling(
    rig: Rig,
) -> None:
    answers = [error(500, "boom") for _ in range(7)]
    rig.build(answers, max_retries=6, backoff_base_seconds=2.0, backoff_max_seconds=20.0)

    final, laters = rig.run("model-a")

    assert final.outcome.state == "failed"
    ceilings = [min(20.0, 2.0 * 2 ** (n - 1)) for n in range(1, 7)]
    assert len(laters) == len(ceilings)
    for later, ceiling in zip(laters, ceilings, strict=True):
        assert 0.0 <= later.seconds <= ceiling + 1e-6
    # Full jitter spreads the waits: they are not all the same.
    assert len({round(later.seconds, 6) for later in laters}) == len(laters)


def test_given_errors_past_the_budget_then_failed_after_max_retries_plus_one_calls(
    rig: Rig,
) -> None:
    answers = [
        error(500, "Internal server error. Please try again."),
        read_timeout(),
        html(502),
        error(503, "the very last problem"),
    ]
    rig.build(answers, max_retries=3)

    final, laters = rig.run("model-a")

    assert isinstance(final, Final)
    assert final.outcome.state == "failed"
    assert final.outcome.upstream_calls == 4
    assert rig.upstream.calls == 4
    assert final.outcome.reason is not None
    assert final.outcome.reason.startswith("gave up after 4 failed attempts")
    assert "HTTP 503: the very last problem" in final.outcome.reason
    assert [later.reason.split(":")[0] for later in laters] == [
        "error 1/3",
        "error 2/3",
        "error 3/3",
    ]


def test_given_no_retries_allowed_when_the_first_call_fails_then_the_model_fails_at_once(
    rig: Rig,
) -> None:
    rig.build([read_timeout()], max_retries=0)

    step = rig.advance("model-a")

    assert isinstance(step, Final)
    assert step.outcome.state == "failed"
    assert step.outcome.upstream_calls == 1
    assert step.outcome.reason is not None
    assert "read timeout" in step.outcome.reason


def test_given_an_error_then_the_limiter_lease_is_released(rig: Rig) -> None:
    rig.build([error(500, "boom"), read_timeout()], max_retries=3)

    rig.advance("model-a")
    assert rig.limiter.in_flight() == 0
    rig.clock.advance(5)
    rig.advance("model-a")

    assert rig.upstream.calls == 2
    assert rig.limiter.in_flight() == 0
