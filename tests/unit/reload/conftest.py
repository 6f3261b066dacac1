"""Fixtures of the single-flight tests: a flight store on a fresh fakeredis.

``redis_client`` is the fakeredis (to look at what was stored); ``flights`` the
``FlightStore`` on it. The reloader's ``rig`` is in tests/unit/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest

from tests.unit.support.flights import TTL
from worker.reload.flight import FlightStore


@pytest.fixture
def redis_client() -> Iterator[fakeredis.FakeRedis]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def flights(redis_client: fakeredis.FakeRedis) -> FlightStore:
    return FlightStore(redis_client, ttl_seconds=TTL, lock_seconds=30)
