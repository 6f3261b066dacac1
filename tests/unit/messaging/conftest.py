"""Fixtures of the parked-waits tests: one Redis per test, real and fake, and lots on it.

``client`` is parametrised: the session's embedded redis-server (db 15, flushed) and a
fresh fakeredis. ``connect()`` opens another client on the same data, as another
worker's connection would. ``lot(worker_id, dead_after=..., sending_lease=...)`` builds
a ``ParkingLot`` on ``client`` (or on the client given).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import pytest
import redis

from worker import constants as c
from worker.messaging.parking import Job, ParkingLot


@dataclass
class Store:
    kind: str  # "redis" | "fakeredis"
    client: redis.Redis
    _open: Callable[[], redis.Redis]
    _opened: list[redis.Redis] = field(default_factory=list)

    def connect(self) -> redis.Redis:
        client = self._open()
        self._opened.append(client)
        return client

    def close(self) -> None:
        for client in self._opened:
            client.close()


@pytest.fixture(params=["redis", "fakeredis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "redis":
        client: redis.Redis = request.getfixturevalue("real_redis")
        url = request.getfixturevalue("redis_server").url_for_db(15)
        store = Store("redis", client, lambda: redis.Redis.from_url(url))
    else:
        server = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=server)
        store = Store("fakeredis", client, lambda: fakeredis.FakeRedis(server=server))
        store._opened.append(client)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def client(store: Store) -> redis.Redis:
    """The Redis of the test: ``redis`` (embedded server) or ``fakeredis``."""
    return store.client


@pytest.fixture
def connect(store: Store) -> Callable[[], redis.Redis]:
    """Opens another client on the test's data (closed at teardown)."""
    return store.connect


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
