"""Integration fixtures: the real system on this machine.

A real Redis (the session's embedded server, a fresh database per test), the
simulator over real HTTP, real ``celery -A worker worker`` processes, and a
producer that enqueues by task name the way an outside service would. Every
process a fixture starts is stopped by its own pid when the test ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from sandbox.embedded_redis import EmbeddedRedis
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from worker.client import client_app

API_KEY = "sk-test-0123456789abcdef"
_databases = itertools.count(1)


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """A fresh database of the session's Redis for this test (1..14, cycling), flushed after."""
    db = next(_databases) % 14 + 1
    url = redis_server.url_for_db(db)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def start_simulator() -> Iterator[Callable[..., SimulatorProcess]]:
    """Start ``reloadctl sim`` with the given options (the test key is always accepted)."""
    started: list[SimulatorProcess] = []

    def start(*args: str) -> SimulatorProcess:
        sim = SimulatorProcess(["--key", API_KEY, *args])
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        if sim.returncode is None:
            sim.stop()


def worker_env(redis_url: str, sim_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a worker pointed at this Redis and this simulator."""
    env = {
        "PATH": str(Path(__file__).resolve().parents[2] / ".venv" / "bin") + ":/usr/bin:/bin",
        "REDIS_URL": redis_url,
        "MODELSLAB_API_KEY": API_KEY,
        "MODELSLAB_BASE_URL": sim_url,
        "RELOAD_RATE_LIMIT": "20/s",
        "RELOAD_MAX_IN_FLIGHT": "3",
        "RELOAD_WARM_SECONDS": "1",
        "RELOAD_DEADLINE_SECONDS": "60",
        "RELOAD_BACKOFF_BASE_SECONDS": "0.2",
        "RELOAD_BACKOFF_MAX_SECONDS": "2",
        "RELOAD_READ_TIMEOUT": "3",
        "RELOAD_CONNECT_TIMEOUT": "1",
        "RELOAD_BATCH_GRACE_SECONDS": "3",
        "RELOAD_WEBHOOK_ALLOW_PRIVATE": "true",  # the webhook receiver is on 127.0.0.1
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., CeleryProcess]]:
    """Start a real worker process with an environment; wait until it is ready."""
    started: list[CeleryProcess] = []
    names = itertools.count(1)

    def start(env: Mapping[str, str], *, concurrency: int = 2, wait: bool = True) -> CeleryProcess:
        worker = CeleryProcess.worker(
            env, name=f"w{next(names)}", log_dir=tmp_path / "logs", concurrency=concurrency
        )
        worker.start()
        started.append(worker)
        if wait:
            worker.wait_for_log("ready.", timeout=60)
        return worker

    yield start
    for worker in started:
        worker.terminate(timeout=15)


@pytest.fixture
def producer(redis_url: str) -> Iterator[Celery]:
    """A Celery client that knows no task code: it enqueues by name, like another service."""
    app = client_app(redis_url, redis_url, name="producer")
    try:
        yield app
    finally:
        app.close()


def ledger_of(sim: SimulatorProcess) -> dict[str, Any]:
    """The simulator's ledger: what the upstream actually saw."""
    data: dict[str, Any] = httpx.get(f"{sim.base_url}/_sim/ledger", timeout=5).json()
    return data
