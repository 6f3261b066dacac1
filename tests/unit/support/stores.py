"""The stores contract tests run against (a real redis-server and fakeredis), and limiter helpers.

The ``store`` fixture (tests/unit/conftest.py) hands a test one ``Store`` per
backend::

    def test_something(store: Store) -> None:
        limiter = make_limiter(store.client)

Each ``Store`` can open more clients on the same data (``store.new_client()``),
as a second worker process would; they are closed at teardown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from worker.limiter import Go, Limiter, Wait


@dataclass
class Store:
    kind: str  # "redis" | "fakeredis"
    client: redis.Redis
    _open: Callable[[], redis.Redis]
    _opened: list[redis.Redis] = field(default_factory=list)

    def new_client(self) -> redis.Redis:
        """Another client on the same data, like another worker's connection."""
        client = self._open()
        self._opened.append(client)
        return client

    def close(self) -> None:
        for client in self._opened:
            client.close()

    def skip_unless_real(self, reason: str) -> None:
        """Skip the fakeredis param of a test that needs a real server, saying why."""
        if self.kind != "redis":
            pytest.skip(f"fakeredis: {reason}")


def make_limiter(client: redis.Redis, scope: str = "scope-a", **overrides: Any) -> Limiter:
    """A limiter with short periods so the suite stays fast; override what a test needs."""
    settings: dict[str, Any] = {
        "rate_count": 3,
        "rate_period": 0.5,
        "max_in_flight": 100,
        "lease_seconds": 5.0,
        "skew": 0.05,
    }
    settings.update(overrides)
    return Limiter(client, scope, **settings)


def redis_now(client: redis.Redis) -> float:
    """The Redis server's clock (TIME), in seconds."""
    seconds, micros = client.time()
    return float(seconds) + micros / 1_000_000


def expect_go(decision: Go | Wait) -> Go:
    assert isinstance(decision, Go), f"expected a grant, got {decision}"
    return decision


def expect_wait(decision: Go | Wait, reason: str) -> Wait:
    assert isinstance(decision, Wait), f"expected Wait({reason!r}), got {decision}"
    assert decision.reason == reason, decision
    assert decision.seconds > 0, decision
    return decision


def limiter_keys(client: redis.Redis) -> list[bytes]:
    """Every limiter key in the store, whatever the scope."""
    return sorted(client.scan_iter(match="*limiter:*"))
