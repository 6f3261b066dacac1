"""How long to wait, in one place: error backoff, load polling, limiter and 429 waits.

Errors back off exponentially with full jitter, never shorter than the upstream's
``retry_after``; an accepted reload is checked when it should be over, and again soon after
if it is not; a loading model is polled at its ``eta`` or at a growing interval; limiter
waits get a little jitter so workers told "later" together do not all come back together.
Why the checks come when they do: docs/decisions/0019-a-reload-is-checked-when-it-should-be-done.md
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
# An accepted reload is checked this much after its expected end: two clocks may drift apart
# by 0.1 % (NTP slews at most 0.05 % each), plus 10 ms for the jitter of both.
_DRIFT = 0.001
_JITTER_SECONDS = 0.01
# A reload still loading at its expected end is checked again after this share of
# RELOAD_WARM_SECONDS, doubling each time (or at its eta, never sooner than that share).
OVERDUE_STEP = 0.02


def error_delay(
    errors: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before the next attempt: AWS's full jitter, ``uniform(0, min(cap, base*2**(n-1)))``.

    Parameters:
        errors: consecutive failures so far (n).
        base: the first ceiling, in seconds.
        cap: the largest ceiling, in seconds.
        retry_after: the upstream's wait, if it asked for one: the delay is never shorter.
        rng: the random source (tests pass a seeded one).
    """
    ceiling = min(cap, base * 2.0 ** min(max(0, errors - 1), 64))  # no overflow on long streaks
    delay = (rng or random).uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after * _LATE_FACTOR + _LATE_SECONDS)
    return delay


def after_accept(warm_seconds: float) -> float:
    """Seconds from an accepted reload to the first confirmation call: the moment it should
    be over (the model keeps one of the account's queued slots until it is confirmed), give
    or take the clocks' drift and jitter, and no later; one found still loading is checked
    again soon (``poll_delay(overdue=True)``).

    Parameters:
        warm_seconds: ``RELOAD_WARM_SECONDS``, the expected reload time.
    """
    return warm_seconds * (1 + _DRIFT) + _JITTER_SECONDS


def after_ready(warm_seconds: float) -> float:
    """Seconds from an "already loaded" answer to its confirmation call.

    Parameters:
        warm_seconds: ``RELOAD_WARM_SECONDS``, the expected reload time.
    """
    return min(READY_CONFIRM_SECONDS, warm_seconds / 10) + _LATE_SECONDS


def rate_limited_pause(streak: int, *, base: float, cap: float) -> float:
    """The key's pause after a 429 that gave no ``retry_after``.

    Parameters:
        streak: the 429s in a row, this one included.
        base: the first pause, in seconds; each next one is twice as long.
        cap: the longest pause, in seconds.
    """
    return min(cap, base * 2.0 ** min(max(0, streak - 1), 64))


def poll_delay(
    eta: float | None, polls: int, *, warm_seconds: float, overdue: bool = False
) -> float:
    """Seconds before the next check of a loading model.

    Parameters:
        eta: the upstream's estimate, if it gave one: used, clamped between a twentieth of
            ``warm_seconds`` (``OVERDUE_STEP`` of it when overdue) and the whole of it.
        polls: times the model was seen loading; without an eta the interval grows from an
            eighth of ``warm_seconds`` to half of it (when overdue: from ``OVERDUE_STEP`` of
            it, doubling).
        warm_seconds: ``RELOAD_WARM_SECONDS``, the expected reload time.
        overdue: the upstream accepted this reload (so when it started is known) and it
            should be over by now: it is nearly done, and looked at again soon.
    """
    step = warm_seconds * OVERDUE_STEP if overdue else warm_seconds / 8
    low, high = (step if overdue else warm_seconds / 20), warm_seconds
    if eta is not None and eta > 0:
        return min(high, max(low, eta)) * _LATE_FACTOR + _LATE_SECONDS
    grown = step * (2.0 if overdue else 1.5) ** min(max(0, polls - 1), 64)
    return min(warm_seconds / 2, grown) + _LATE_SECONDS


def limiter_delay(seconds: float, rng: random.Random | None = None) -> float:
    """The limiter's "try again in" plus up to 10 % (at most 50 ms) of jitter.

    Parameters:
        seconds: the limiter's ``Wait.seconds``.
        rng: the random source (tests pass a seeded one).
    """
    return seconds + (rng or random).uniform(0.0, min(0.05, seconds * 0.1))
