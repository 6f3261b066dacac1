"""Fixtures shared by every test: an embedded Redis server for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from sandbox.embedded_redis import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A real redis-server for the whole session, stopped by pid at the end."""
    server = EmbeddedRedis()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def real_redis(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client on database 15 of the session's server, flushed before and after the test."""
    client = redis.Redis.from_url(redis_server.url_for_db(15))
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
