"""``warmup_batch``'s own result is the batch id, not the batch: a producer that waits for it
is handed no result of the batch's models, and so subscribes to none.

Celery adds what a task applies to its result (``children``): the chord's header group, one
result per model. A producer's ``get()`` then builds that group and subscribes to every
model's result channel (a 10,000-model batch: 10,000 subscriptions in the producer, and
10,000 result messages Redis pushes to it), and the stored result grows by every task id.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env
from worker.batch.ids import header_task_id

pytestmark = pytest.mark.slow


def test_waiting_for_warmup_batch_subscribes_to_none_of_its_models(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "1")
    start_worker(worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="1"))
    models = [f"model-{i}" for i in range(5)]

    sent = producer.send_task("warmup_batch", args=[models])
    batch_id = sent.get(timeout=30)

    assert sent.children in (None, [])
    client = redis.Redis.from_url(redis_url)
    channels = [f"celery-task-meta-{header_task_id(batch_id, m)}" for m in models]
    assert [count for _, count in client.pubsub_numsub(*channels)] == [0] * 5
    summary = producer.AsyncResult(batch_id).get(timeout=60)
    assert sorted(summary["warm"]) == models
    client.close()
