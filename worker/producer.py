"""Per-process Redis access that needs no API key: for tasks, the pump, the CLI and the dashboard.

Whoever starts the process builds the settings once and hands them over with
``configure(settings)`` (``worker.celery`` for workers, beat and Flower; the
CLI for its commands). One client per process is built from them on first use
(after a fork, never before) and rides out a short Redis outage (a restart, a
failover) by retrying with backoff. The upstream client and the limiter, which
need the API key, live in ``worker.runtime``.
"""

from __future__ import annotations

import os

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from worker.batch.ledger import Ledger
from worker.clock import RedisClock
from worker.messaging import deadletter, parking
from worker.messaging.identity import WORKER_ID
from worker.messaging.parking import ParkingLot
from worker.redis_url import SentinelOptions, connect
from worker.settings import Settings

__all__ = [
    "configure",
    "configured",
    "parking_lot",
    "producer_ledger",
    "redis_client",
    "redis_clock",
    "settings",
]

# Retries of one Redis command through an outage: backoff 0.1 s doubling to 2 s, about
# 20 s in all, then the error reaches the caller.
REDIS_RETRIES = 14

_clients: dict[int, tuple[redis.Redis, Ledger, ParkingLot, RedisClock]] = {}
_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Use ``settings`` for this process's resources; call once, as the process starts.

    Parameters:
        settings: the validated settings (``Settings.from_env()``).

    Also hands the parking lot and the dead-letter list their Redis
    (``worker.messaging.parking.provide``, ``worker.messaging.deadletter.configure``).
    """
    global _settings
    _settings = settings
    _clients.clear()
    parking.provide(parking_lot)
    deadletter.configure(settings.redis_url, settings.sentinel)


def configured() -> bool:
    """Whether ``configure`` was called in this process."""
    return _settings is not None


def settings() -> Settings:
    """The settings given to ``configure``.

    Raises:
        RuntimeError: ``configure`` was not called (a wiring bug, not a user error).
    """
    if _settings is None:
        raise RuntimeError("worker.producer.configure(settings) was not called in this process")
    return _settings


def build_redis(url: str, sentinel: SentinelOptions | None = None) -> redis.Redis:
    """A Redis client for ``url`` that retries through short outages and follows a failover.

    Parameters:
        url: ``REDIS_URL``: one server, or sentinels (``worker.redis_url``).
        sentinel: the master's name and the sentinels' password, for a sentinel URL.

    A command that meets a lost connection, a master being elected (Sentinel's
    ``MasterNotFoundError`` is a connection error) or a demoted master's ``READONLY``
    reconnects, to the master Sentinel names now, and is retried with backoff.
    """
    return connect(
        url,
        sentinel,
        health_check_interval=30,
        socket_keepalive=True,
        socket_connect_timeout=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), REDIS_RETRIES),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError],
    )


def _current() -> tuple[redis.Redis, Ledger, ParkingLot, RedisClock]:
    pid = os.getpid()
    if pid not in _clients:
        _clients.clear()  # a forked child must not reuse its parent's sockets
        client = build_redis(settings().redis_url, settings().sentinel)
        _clients[pid] = (client, Ledger(client), ParkingLot(client, WORKER_ID), RedisClock(client))
    return _clients[pid]


def redis_client() -> redis.Redis:
    """This process's Redis client for shared state (``REDIS_URL``)."""
    return _current()[0]


def producer_ledger() -> Ledger:
    """This process's batch ledger."""
    return _current()[1]


def parking_lot() -> ParkingLot:
    """This process's parking lot (parked waits, held messages, heartbeats)."""
    return _current()[2]


def redis_clock() -> RedisClock:
    """This process's clock: Redis ``TIME``."""
    return _current()[3]
