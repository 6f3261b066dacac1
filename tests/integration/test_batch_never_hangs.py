"""A batch never hangs, and its webhook survives a crash (real Redis, workers, simulator).

- ``celery purge`` mid-batch, then every worker SIGKILLed and new ones started:
  the summary still arrives, every model warm.
- The header tasks' jobs lost from Redis (a lost write) with the worker killed:
  the reconciler dispatches them again and the batch completes.
- A batch deadline fails what is left and completes the batch.
- A worker SIGKILLed while its batch's webhook delivery is pending (the receiver
  refuses the first POSTs): another worker delivers it, exactly one accepted
  delivery, with a valid signature and the batch id as idempotency key.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env
from tests.integration.reliability import wait_until
from tests.integration.webhook_receiver import WebhookReceiver
from worker import constants as c
from worker.batch.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-integration-0123"


@pytest.fixture(autouse=True)
def _collect_results_while_redis_is_up() -> Iterator[None]:
    """Result objects of killed workers' tasks are freed here, not after Redis stops."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # their sockets, left by the kills
        gc.collect()


def _states(client: redis.Redis, batch_id: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(c.batch_counts_key(batch_id)).items()}


def test_celery_purge_mid_batch_then_workers_restarted_the_summary_still_arrives(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "3")
    env = worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="3")
    workers = [start_worker(env), start_worker(env)]
    models = [f"p-{i:02d}" for i in range(12)]
    client = redis.Redis.from_url(redis_url)

    with WebhookReceiver() as hook:
        batch_id = producer.send_task(
            "warmup_batch", args=[models], kwargs={"callback_url": hook.url}, queue="reload"
        ).get(timeout=30)
        wait_until(
            lambda: _states(client, batch_id).get("reloading", 0) >= 2,
            timeout=30,
            what="models loading",
        )
        purged = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "worker", "purge", "-f"],
            env={**os.environ, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert purged.returncode == 0, purged.stderr
        for worker in workers:
            worker.kill()
        start_worker(env)
        start_worker(env)

        summary = producer.AsyncResult(batch_id).get(timeout=120)
        wait_until(lambda: bool(hook.bodies), timeout=30, what="the webhook")
        time.sleep(3)

    assert summary["warm"] == models and summary["failed"] == {}
    assert len(hook.bodies) == 1 and hook.bodies[0]["batch_id"] == batch_id
    assert client.hget(c.batch_key(batch_id), "status") == b"done"
    client.close()


def test_header_jobs_lost_from_redis_are_dispatched_again_and_the_batch_completes(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "2")
    env = worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="2")
    worker = start_worker(env)
    models = [f"l-{i:02d}" for i in range(6)]
    client = redis.Redis.from_url(redis_url)

    batch_id = producer.send_task("warmup_batch", args=[models], queue="reload").get(timeout=30)
    wait_until(
        lambda: _states(client, batch_id).get("reloading", 0) >= 1, timeout=30, what="loading"
    )
    worker.kill()
    # Given every trace of the header tasks gone (a lost write), not the backstop's own job...
    lost = [
        task_id
        for task_id, raw in client.hgetall(c.JOBS_KEY).items()
        if json.loads(raw)["a"][1:] == [batch_id]  # reload_model(model_id, batch_id)
    ]
    assert len(lost) >= len(models) - 1
    client.hdel(c.JOBS_KEY, *lost)
    for key in (c.DUE_KEY, c.SENDING_KEY, c.SENT_KEY):
        client.zrem(key, *lost)
    client.delete("reload")  # and the broker's queue
    replacement = start_worker(env)

    # ...then the reconciler sends them again and the batch completes, all warm.
    summary = producer.AsyncResult(batch_id).get(timeout=120)

    assert summary["warm"] == models and summary["failed"] == {}
    assert "dispatched again" in replacement.log()
    client.close()


def test_the_batch_deadline_fails_what_is_left_and_completes_the_batch(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "60")
    env = worker_env(redis_url, sim.base_url, RELOAD_BATCH_DEADLINE_SECONDS="5")
    start_worker(env)
    started = time.monotonic()

    with WebhookReceiver() as hook:
        batch_id = producer.send_task(
            "warmup_batch", args=[["d-1", "d-2"]], kwargs={"callback_url": hook.url}, queue="reload"
        ).get(timeout=30)
        summary = producer.AsyncResult(batch_id).get(timeout=60)
        took = time.monotonic() - started
        wait_until(lambda: bool(hook.bodies), timeout=30, what="the webhook")
        time.sleep(3)

    assert summary["failed"] == {"d-1": "batch deadline exceeded", "d-2": "batch deadline exceeded"}
    assert took < 15, took
    assert len(hook.bodies) == 1


def test_a_worker_killed_while_the_webhook_is_pending_still_delivers_it_once_signed(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "1")
    env = worker_env(redis_url, sim.base_url, RELOAD_WEBHOOK_SECRET=SECRET)
    worker = start_worker(env)
    client = redis.Redis.from_url(redis_url)

    with WebhookReceiver(fail_first=2) as hook:
        batch_id = producer.send_task(
            "warmup_batch", args=[["s-1", "s-2"]], kwargs={"callback_url": hook.url}, queue="reload"
        ).get(timeout=30)
        summary = producer.AsyncResult(batch_id).get(timeout=60)
        # Given the delivery pending (the first POST refused), when the worker is SIGKILLed...
        wait_until(lambda: len(hook.requests) >= 1, timeout=30, what="a first POST")
        worker.kill()
        assert client.zscore(c.OUTBOX_KEY, batch_id) is not None
        time.sleep(1)
        start_worker(env)
        # ...then another worker delivers it.
        wait_until(
            lambda: any(status == 200 for _, _, status in hook.requests),
            timeout=60,
            what="an accepted delivery",
        )
        time.sleep(4)  # nothing more arrives

    accepted = [(h, raw) for h, raw, status in hook.requests if status == 200]
    assert len(accepted) == 1
    headers, raw = accepted[0]
    assert headers[IDEMPOTENCY_HEADER] == batch_id
    assert verify(SECRET, raw, headers[SIGNATURE_HEADER], now=time.time())
    assert all(h[IDEMPOTENCY_HEADER] == batch_id for h, _, _ in hook.requests)
    assert summary["warm"] == ["s-1", "s-2"]
    assert client.hget(c.batch_key(batch_id), "webhook") == b"delivered: HTTP 200"
    assert client.zscore(c.OUTBOX_KEY, batch_id) is None
    assert SECRET.encode() not in b"".join(client.dump(k) or b"" for k in client.scan_iter("*"))
    client.close()
