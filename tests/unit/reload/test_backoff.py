"""Behaviour: every wait is decided in one module, within documented bounds.

Given n consecutive errors, the backoff is full jitter, ``uniform(0, min(cap,
base * 2**(n-1)))``, and never shorter than the upstream's ``retry_after``.
Given a loading model, the next check is at its ``eta`` clamped to
``[warm/20, warm]`` (a little late, never early), else at an interval growing
from ``warm/8`` to ``warm/2``. Limiter waits get at most 10 % (≤ 50 ms) of jitter.
"""

from __future__ import annotations

import random

import pytest

from worker.reload import backoff

BASE, CAP, WARM = 1.0, 60.0, 120.0


@pytest.mark.parametrize("errors", [1, 2, 3, 5, 6, 7, 10, 30])
def test_given_n_errors_then_the_delay_is_within_full_jitter_bounds(errors: int) -> None:
    rng = random.Random(errors)
    ceiling = min(CAP, BASE * 2 ** (errors - 1))

    delays = [backoff.error_delay(errors, base=BASE, cap=CAP, rng=rng) for _ in range(500)]

    assert all(0.0 <= delay <= ceiling for delay in delays)
    # Full jitter uses the whole range, not a band near the ceiling.
    assert min(delays) < ceiling * 0.1
    assert max(delays) > ceiling * 0.9


def test_given_zero_errors_then_the_ceiling_is_the_base() -> None:
    rng = random.Random(0)

    delays = [backoff.error_delay(0, base=2.0, cap=CAP, rng=rng) for _ in range(200)]

    assert all(0.0 <= delay <= 2.0 for delay in delays)


@pytest.mark.parametrize("retry_after", [0.0, 0.5, 30.0, 3600.0])
def test_given_a_retry_after_then_the_delay_is_never_shorter(retry_after: float) -> None:
    rng = random.Random(1)

    delays = [
        backoff.error_delay(1, base=BASE, cap=CAP, retry_after=retry_after, rng=rng)
        for _ in range(200)
    ]

    assert all(delay >= retry_after for delay in delays)
    assert all(delay <= max(BASE, retry_after * 1.02 + 0.05) for delay in delays)


def test_given_the_same_seed_then_the_same_delays() -> None:
    first = [backoff.error_delay(3, base=BASE, cap=CAP, rng=random.Random(7)) for _ in range(3)]
    second = [backoff.error_delay(3, base=BASE, cap=CAP, rng=random.Random(7)) for _ in range(3)]

    assert first == second


def test_given_a_very_long_error_streak_then_the_ceiling_stays_the_cap() -> None:
    delay = backoff.error_delay(1100, base=BASE, cap=CAP, rng=random.Random(0))

    assert 0.0 <= delay <= CAP


def test_after_an_accepted_reload_the_first_check_is_a_little_after_warm_seconds() -> None:
    delay = backoff.after_accept(WARM)

    assert WARM < delay <= WARM * 1.05 + 0.1


@pytest.mark.parametrize(
    ("eta", "expected_floor"),
    [
        pytest.param(30.0, 30.0, id="inside"),
        pytest.param(0.5, WARM / 20, id="below-the-floor"),
        pytest.param(10_000.0, WARM, id="above-the-ceiling"),
        pytest.param(WARM / 20, WARM / 20, id="at-the-floor"),
        pytest.param(WARM, WARM, id="at-the-ceiling"),
    ],
)
def test_given_an_eta_then_the_check_is_at_the_clamped_eta_and_never_early(
    eta: float, expected_floor: float
) -> None:
    delay = backoff.poll_delay(eta, 1, warm_seconds=WARM)

    assert expected_floor < delay <= expected_floor * 1.05 + 0.1


@pytest.mark.parametrize("eta", [None, 0.0])
def test_given_no_usable_eta_then_the_interval_grows_from_an_eighth_to_a_half(
    eta: float | None,
) -> None:
    delays = [backoff.poll_delay(eta, polls, warm_seconds=WARM) for polls in range(1, 20)]

    assert delays[0] == pytest.approx(WARM / 8, abs=0.1)
    assert delays == sorted(delays)
    assert delays[1] > delays[0]
    assert delays[-1] == pytest.approx(WARM / 2, abs=0.1)
    assert max(delays) <= WARM / 2 + 0.1


def test_given_a_very_long_load_without_eta_then_the_interval_stays_capped() -> None:
    delay = backoff.poll_delay(None, 2000, warm_seconds=1.0)

    assert delay == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("seconds", [0.01, 0.25, 1.0, 30.0])
def test_given_a_limiter_wait_then_at_most_ten_percent_or_fifty_ms_of_jitter(
    seconds: float,
) -> None:
    rng = random.Random(3)

    delays = [backoff.limiter_delay(seconds, rng) for _ in range(300)]

    assert all(seconds <= delay <= seconds + min(0.05, seconds * 0.1) for delay in delays)
    assert len(set(delays)) > 1
