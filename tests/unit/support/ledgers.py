"""Helpers of the ledger tests (the ``ledger`` fixture is in tests/unit/batch/conftest.py)."""

from __future__ import annotations

import fakeredis

from worker.batch.ledger import Ledger

NOW = 1_700_000_000.0


def redis_of(ledger: Ledger) -> fakeredis.FakeRedis:
    """The client behind a ledger, to look at what it stored."""
    return ledger._redis  # type: ignore[return-value]
