"""Given 200 models loading for a long time, a worker of concurrency 2 tracks them all at once:
waiting reschedules the task, it does not hold a worker slot."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env

pytestmark = pytest.mark.slow


def test_two_hundred_loading_models_on_two_slots(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    reload_seconds = 15.0
    sim = start_simulator("--reload-seconds", str(reload_seconds))
    start_worker(
        worker_env(
            redis_url,
            sim.base_url,
            RELOAD_RATE_LIMIT="100/s",
            RELOAD_MAX_IN_FLIGHT="10",
            RELOAD_WARM_SECONDS=str(reload_seconds),
        ),
        concurrency=2,
    )
    models = [f"long-{i:03d}" for i in range(200)]

    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=110)

    assert summary["warm"] == models
    # Holding a slot per loading model would take 200 x 15 s / 2 slots = 25 minutes.
    assert summary["duration_s"] < 4 * reload_seconds
    seen = ledger_of(sim)
    assert seen["reloads_started"] == dict.fromkeys(models, 1)
