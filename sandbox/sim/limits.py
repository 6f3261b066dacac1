"""Per-key admission: the queued-request limit and the optional requests-per-second limit.

An admitted call holds one of its key's slots until it is answered or its client goes away
(:meth:`Limits.release`); a refused call holds none. What counts towards each limit is
said on :meth:`Limits.admit`.
"""

from __future__ import annotations

import enum
from collections import deque

from sandbox.sim.config import SimConfig


class Refusal(enum.Enum):
    """Why a call was not admitted."""

    QUEUE = "queue"
    RPS = "rps"


class Limits:
    """In-flight counts and recent admissions of every key."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, label: str, now: float, config: SimConfig, loading: int) -> Refusal | None:
        """Admit a call of ``label``, or say why not.

        The key's queue is its admitted calls in flight, plus ``loading`` when
        ``config.loading_counts`` is on; a call is refused when the queue is at ``queue_limit``
        already, or when the key had ``rps_limit`` calls admitted in the last real second
        (refused calls do not count towards it).

        Parameters:
            label: the key's label (:func:`~sandbox.sim.calls.key_label`).
            now: the call's monotonic time.
            config: the limits.
            loading: how many models whose reload the key started are still loading.

        Returns:
            ``None`` when admitted (the call holds a slot now), or why it was refused.
        """
        in_flight = self.in_flight.get(label, 0)
        if config.queue_limit is not None:
            queued = in_flight + (loading if config.loading_counts else 0)
            if queued >= config.queue_limit:
                return Refusal.QUEUE
        if config.rps_limit is not None:
            recent = self._admitted.get(label)
            if recent is None:
                recent = self._admitted[label] = deque()
            horizon = now - 1.0
            while recent and recent[0] <= horizon:
                recent.popleft()
            if len(recent) >= config.rps_limit:
                return Refusal.RPS
            recent.append(now)
        self.in_flight[label] = in_flight + 1
        return None

    def release(self, label: str) -> None:
        """An admitted call of ``label`` was answered or abandoned."""
        self.in_flight[label] -= 1
