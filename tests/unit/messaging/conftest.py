"""Fixtures of the parked-waits tests: one Redis per test, real and fake, and lots on it.

``client`` is parametrised: the session's embedded redis-server (db 15, flushed) and a
fresh fakeredis. ``connect()`` opens another client on the same data, as another
worker's connection would. ``lot(worker_id, dead_after=..., sending_lease=...)`` builds
a ``ParkingLot`` on ``client`` (or on the client given).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.unit.support.stores import Store
from worker import constants as c
from worker.messaging.parking import Job, ParkingLot


@pytest.fixture
def client(store: Store) -> redis.Redis:
    """The Redis of the test: ``redis`` (embedded server) or ``fakeredis``."""
    return store.client


@pytest.fixture
def connect(store: Store) -> Callable[[], redis.Redis]:
    """Opens another client on the test's data (closed at teardown)."""
    return store.new_client


LotFactory = Callable[..., ParkingLot]


@pytest.fixture
def lot(client: redis.Redis) -> LotFactory:
    """``lot("w1", dead_after=5.0, sending_lease=10.0, client=None)``: a ParkingLot."""
    default = client

    def build(
        worker_id: str = "w1",
        *,
        dead_after: float = c.WORKER_DEAD_SECONDS,
        sending_lease: float = c.SENDING_LEASE_SECONDS,
        client: redis.Redis | None = None,
    ) -> ParkingLot:
        return ParkingLot(
            client if client is not None else default,
            worker_id,
            dead_after=dead_after,
            sending_lease=sending_lease,
        )

    return build


# ---- helpers ---------------------------------------------------------------------------


def redis_now(client: redis.Redis) -> float:
    """The Redis server's clock (TIME), in seconds."""
    seconds, micros = client.time()
    return float(seconds) + micros / 1_000_000


def beat_at(client: redis.Redis, worker_id: str, age: float) -> None:
    """Record ``worker_id``'s last heartbeat as ``age`` seconds ago (Redis time)."""
    client.zadd(c.WORKERS_KEY, {worker_id: f"{redis_now(client) - age:.6f}"})


def make_job(task_id: str, *args: Any, name: str = "t.add", **options: Any) -> Job:
    """A job with ``task_id`` and the options given."""
    return Job(name, list(args), {}, {"task_id": task_id, **options})


def ids(jobs: list[Job]) -> list[str]:
    return [job.task_id for job in jobs]
