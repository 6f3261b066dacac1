"""A flight store on a fresh fakeredis, for the single-flight tests.

A test module imports the fixtures by their function names and asks for
``store`` (and ``redis_client`` to look at what it stored)::

    from tests.unit.flight_store import redis_client_fixture, store_fixture  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest

from worker.reload.flight import FlightStore

NOW = 1_700_000_000.0
TTL = 3600


@pytest.fixture(name="redis_client")
def redis_client_fixture() -> Iterator[fakeredis.FakeRedis]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(name="store")
def store_fixture(redis_client: fakeredis.FakeRedis) -> FlightStore:
    return FlightStore(redis_client, ttl_seconds=TTL, lock_seconds=30)
