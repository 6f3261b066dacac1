"""Given an account whose queued-request limit is below RELOAD_MAX_IN_FLIGHT, 429s pause every
worker for retry_after, and the batch still ends all warm."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env

pytestmark = pytest.mark.slow


def test_429s_pause_all_workers_and_the_batch_completes(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    # Each request takes 0.3 s, so 4 in flight against a limit of 2 draws 429s.
    sim = start_simulator(
        "--reload-seconds", "1", "--queue-limit", "2", "--latency", "0.3", "--retry-after", "1"
    )
    env = worker_env(redis_url, sim.base_url, RELOAD_MAX_IN_FLIGHT="4", RELOAD_RATE_LIMIT="50/s")
    start_worker(env)
    start_worker(env)
    models = [f"q-{i:02d}" for i in range(30)]

    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=150)

    assert summary["warm"] == models
    assert summary["failed"] == {}
    seen = ledger_of(sim)
    assert seen["rate_limited"] > 0, "the scenario must provoke 429s"
    # A pause stops every worker: 429s stay a small fraction of the calls, no storm.
    assert seen["rate_limited"] <= seen["calls_total"] // 3
    assert seen["reloads_started"] == dict.fromkeys(models, 1)
