"""What the dashboard reads: the batch ledger, the monitoring counters and Redis's clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from worker.batch.ledger import Ledger
from worker.monitoring import Monitor

__all__ = ["Sources"]


@dataclass(frozen=True)
class Sources:
    """One Redis, seen three ways; ``clock`` answers Redis ``TIME`` (seconds)."""

    ledger: Ledger
    monitor: Monitor
    clock: Callable[[], float]

    @property
    def client(self) -> redis.Redis:
        """The Redis client behind all three."""
        return self.ledger.client

    @classmethod
    def of(cls, client: redis.Redis, clock: Callable[[], float]) -> Sources:
        """The sources on one Redis client, with ``clock`` reading its ``TIME``."""
        return cls(Ledger(client), Monitor(client), clock)
