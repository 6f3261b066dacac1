"""Per-process Redis access that needs no API key: for batch tasks, the CLI and Flower-side code.

Workers, the CLI and the scheduler share this one client per process (built
after a fork, never before); the upstream client and the limiter, which need
the key, live in ``worker.runtime``.
"""

from __future__ import annotations

import os

import redis

from worker.ledger import Ledger

__all__ = ["producer_ledger", "redis_client"]

_clients: dict[int, tuple[redis.Redis, Ledger]] = {}


def _build(url: str) -> tuple[redis.Redis, Ledger]:
    client = redis.Redis.from_url(
        url, health_check_interval=30, socket_keepalive=True, retry_on_timeout=True
    )
    return client, Ledger(client)


def _current() -> tuple[redis.Redis, Ledger]:
    pid = os.getpid()
    if pid not in _clients:
        from worker.celery import settings

        _clients.clear()  # a forked child must not reuse its parent's sockets
        _clients[pid] = _build(settings.redis_url)
    return _clients[pid]


def redis_client() -> redis.Redis:
    """This process's Redis client for shared state (``REDIS_URL``)."""
    return _current()[0]


def producer_ledger() -> Ledger:
    """This process's batch ledger."""
    return _current()[1]
