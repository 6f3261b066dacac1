"""Given a batch in progress, when Redis restarts (append-only on), the workers reconnect by
themselves and the batch completes.

Injected: ``EmbeddedRedis.restart()`` (SIGTERM, which flushes the append-only
file, then a start on the same port with the same data) on a Redis of this
test's own, while models are loading and their tasks wait on countdowns. The
session's shared Redis is not touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import assert_no_lease_past_expiry, max_calls, wait_until
from worker.embedded_redis import EmbeddedRedis
from worker.processes import CeleryProcess
from worker.sim.process import SimulatorProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

MODELS = [f"r-{i:02d}" for i in range(10)]


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A Redis server for this test alone, append-only, stopped by pid at the end."""
    server = EmbeddedRedis(appendonly=True)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_redis_restart_mid_batch_workers_reconnect_and_the_batch_completes(
    own_redis: EmbeddedRedis,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
) -> None:
    sim = start_simulator("--reload-seconds", "6")
    env = worker_env(own_redis.url, sim.base_url, RELOAD_WARM_SECONDS="2")
    workers = [start_worker(env, concurrency=2), start_worker(env, concurrency=2)]
    pids = [w.pid for w in workers]
    producer = Celery("producer", broker=own_redis.url, backend=own_redis.url)
    producer.conf.update(task_default_queue="reload", broker_connection_retry_on_startup=True)
    try:
        batch_id = _result(producer, producer.send_task("warmup_batch", args=[MODELS]).id)
        wait_until(
            lambda: len(ledger_of(sim)["calls_per_model"]) == len(MODELS),
            timeout=30,
            what="every model called once",
        )
        time.sleep(1.5)  # past appendfsync everysec

        # When Redis restarts under the workers...
        own_redis.restart()
        restarted = time.monotonic()

        # ...then they reconnect on their own and the batch completes.
        client = redis.Redis.from_url(own_redis.url)
        try:
            wait_until(
                lambda: client.hget(f"reload:batch:{batch_id}", "status") == b"done",
                timeout=90,
                what="the batch to complete after the Redis restart",
                every=0.5,
            )
            took = time.monotonic() - restarted
            summary = _result(producer, batch_id)
            assert_no_lease_past_expiry(client)
        finally:
            client.close()

        seen = ledger_of(sim)
        print(f"\n[redis restart] completed {took:.1f}s after it, max calls={max_calls(seen)}")
        assert [w.pid for w in workers] == pids and all(w.running() for w in workers)
        assert sorted(summary["warm"]) == MODELS
        assert summary["failed"] == {}
        assert seen["reloads_started"] == dict.fromkeys(MODELS, 1)
    finally:
        producer.close()


def _result(producer: Celery, task_id: str, timeout: float = 30) -> Any:
    """A task's result, polled (no pub/sub subscription left behind across the restart)."""
    meta: dict[str, Any] = {}

    def ready() -> bool:
        meta.update(producer.backend.get_task_meta(task_id))
        return meta.get("status") == "SUCCESS"

    wait_until(ready, timeout=timeout, what=f"the result of {task_id}", every=0.2)
    return meta["result"]
