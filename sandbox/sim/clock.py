"""Time for the simulator, injectable so its logic is testable without waiting.

The logic asks a :class:`Clock` for two times: ``monotonic()`` for durations and
windows, ``time()`` for the Unix timestamps it reports. The server uses
:class:`SystemClock`; tests use :class:`ManualClock` and move it by hand.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic seconds and Unix time."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.time`."""

    def monotonic(self) -> float:
        """See :meth:`Clock.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """See :meth:`Clock.time`."""
        return time.time()


class ManualClock:
    """A clock that only moves when told to; both times advance together.

    Parameters:
        start: the first ``monotonic()`` time.
        epoch: the first ``time()`` (Unix) time.
    """

    def __init__(self, start: float = 1_000.0, epoch: float = 1_700_000_000.0) -> None:
        self._now = start
        self._offset = epoch - start

    def monotonic(self) -> float:
        """See :meth:`Clock.monotonic`."""
        return self._now

    def time(self) -> float:
        """See :meth:`Clock.time`."""
        return self._now + self._offset

    def advance(self, seconds: float) -> None:
        """Move both times forward by ``seconds``.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds

    def step_wall(self, seconds: float) -> None:
        """Step ``time()`` alone by ``seconds`` (either way), as a host's clock being set."""
        self._offset += seconds
