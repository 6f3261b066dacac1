"""How long to wait, in one place: error backoff, load polling, countdown caps.

- Errors: exponential backoff with full jitter (AWS's "full jitter":
  ``uniform(0, min(cap, base * 2**(n-1)))``), never shorter than the
  upstream's ``retry_after``.
- Loading: poll at the upstream's ``eta`` when it gives one (clamped between
  a twentieth of the expected reload time and the whole of it), else at an
  interval that grows from an eighth of the reload time to half of it.
- Limiter waits get a little jitter so that workers told "later" at the same
  moment do not all come back at the same moment.
"""

from __future__ import annotations

import random

__all__ = [
    "after_accept",
    "after_ready",
    "error_delay",
    "limiter_delay",
    "poll_delay",
    "rate_limited_pause",
]

# How soon a model whose answer said "already loaded" is confirmed (at most).
READY_CONFIRM_SECONDS = 1.0

# Arrive slightly after the moment the upstream said, never slightly before it.
_LATE_FACTOR = 1.02
_LATE_SECONDS = 0.05


def error_delay(
    errors: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before attempt ``errors + 1`` after ``errors`` consecutive failures."""
    ceiling = min(cap, base * 2.0 ** min(max(0, errors - 1), 64))  # no overflow on long streaks
    delay = (rng or random).uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after * _LATE_FACTOR + _LATE_SECONDS)
    return delay


def after_accept(warm_seconds: float) -> float:
    """Seconds from an accepted reload to the first confirmation call."""
    return warm_seconds * _LATE_FACTOR + _LATE_SECONDS


def after_ready(warm_seconds: float) -> float:
    """Seconds from an "already loaded" answer to its confirmation call."""
    return min(READY_CONFIRM_SECONDS, warm_seconds / 10) + _LATE_SECONDS


def rate_limited_pause(streak: int, *, base: float, cap: float) -> float:
    """The key's pause after the ``streak``-th 429 in a row that gave no ``retry_after``:
    ``base``, then twice as long each time, at most ``cap``."""
    return min(cap, base * 2.0 ** min(max(0, streak - 1), 64))


def poll_delay(eta: float | None, polls: int, *, warm_seconds: float) -> float:
    """Seconds before the next check of a model seen loading ``polls`` times."""
    low, high = warm_seconds / 20, warm_seconds
    if eta is not None and eta > 0:
        return min(high, max(low, eta)) * _LATE_FACTOR + _LATE_SECONDS
    grown = (warm_seconds / 8) * 1.5 ** min(max(0, polls - 1), 64)
    return min(warm_seconds / 2, grown) + _LATE_SECONDS


def limiter_delay(seconds: float, rng: random.Random | None = None) -> float:
    """The limiter's "try again in" plus up to 10 % (at most 50 ms) of jitter."""
    return seconds + (rng or random).uniform(0.0, min(0.05, seconds * 0.1))
