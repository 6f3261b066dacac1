"""The batch callback fires exactly once, even when the chord's own bookkeeping is lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env
from tests.integration.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.slow


def _wait_for_keys(client: redis.Redis, pattern: str, timeout: float = 20) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = list(client.scan_iter(pattern))
        if keys:
            return keys
        time.sleep(0.05)
    raise AssertionError(f"no key matches {pattern}")


def test_callback_fires_once_when_the_chord_bookkeeping_is_deleted(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "3")
    start_worker(worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="3"))
    models = [f"c-{i}" for i in range(8)]
    client = redis.Redis.from_url(redis_url)

    with WebhookReceiver() as hook:
        batch_id = producer.send_task(
            "warmup_batch", args=[models], kwargs={"callback_url": hook.url}
        ).get(timeout=30)
        # Given the chord's counters in the result backend, when they are deleted mid-batch...
        _wait_for_keys(client, "celery-taskset-meta-*")
        time.sleep(0.5)
        deleted = client.delete(*client.scan_iter("celery-taskset-meta-*"))
        assert deleted > 0
        assert client.hget(f"reload:batch:{batch_id}", "status") == b"open"

        # ...then the backstop still completes the batch, and the summary arrives once.
        summary = producer.AsyncResult(batch_id).get(timeout=60)
        time.sleep(4)  # past another backstop period: nothing fires a second time

    assert summary["warm"] == models
    assert len(hook.bodies) == 1
    assert hook.bodies[0]["batch_id"] == batch_id
    assert hook.bodies[0]["warm"] == models
    assert client.hget(f"reload:batch:{batch_id}", "status") == b"done"
    client.close()


def test_webhook_is_posted_once_and_a_failing_one_does_not_fail_the_batch(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "1")
    start_worker(worker_env(redis_url, sim.base_url, RELOAD_WEBHOOK_RETRY_SECONDS="6"))

    with WebhookReceiver(status=500) as hook:
        batch_id = producer.send_task(
            "warmup_batch", args=[["w-1", "w-2"]], kwargs={"callback_url": hook.url}
        ).get(timeout=30)
        summary = producer.AsyncResult(batch_id).get(timeout=60)
        deadline = time.monotonic() + 60
        client = redis.Redis.from_url(redis_url)
        while time.monotonic() < deadline:
            status = client.hget(f"reload:batch:{batch_id}", "webhook")
            if status is not None and status.startswith(b"failed"):
                break
            time.sleep(0.2)
        client.close()

    assert summary["warm"] == ["w-1", "w-2"]
    assert status is not None and status.startswith(b"failed: HTTP 500")
    assert 2 <= len(hook.bodies) <= 12  # retried (full jitter, 1 s doubling), and bounded
