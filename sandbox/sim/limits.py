"""Per-key admission: the queued-request limit and the optional requests-per-second limit.

A call is *admitted* when it passes both limits; it then occupies one of its
key's slots until it is answered (or its client goes away). The queue length of
a key is its admitted calls in flight, plus, when ``loading_counts`` is on, the
models whose reload it started and which are still loading. A call is refused
when the queue is already at ``queue_limit``, or when the key already had
``rps_limit`` calls admitted in the last real second. Refused calls hold no slot
and do not count towards the per-second limit.
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
        """Admit a call of ``label`` at monotonic ``now``, or say why not.

        ``loading`` is the number of models the key has loading; it counts only
        when ``config.loading_counts`` is on.
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
