"""Given a cold account, when a batch of 50 is warmed by two workers, all end warm within limits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env

pytestmark = pytest.mark.slow


def test_fifty_models_two_workers_stay_within_the_global_limits(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "2")
    env = worker_env(
        redis_url,
        sim.base_url,
        RELOAD_RATE_LIMIT="10/s",
        RELOAD_MAX_IN_FLIGHT="3",
        RELOAD_WARM_SECONDS="2",
    )
    start_worker(env)
    start_worker(env)
    models = [f"model-{i:02d}" for i in range(50)]

    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=120)

    assert summary["batch_id"] == batch_id
    assert summary["total"] == 50
    assert sorted(summary["warm"]) == models
    assert summary["failed"] == {}
    seen = ledger_of(sim)
    assert seen["max_calls_in_any_second"] <= 10
    assert max(seen["peak_concurrency_per_key"].values()) <= 3
    assert seen["reloads_started"] == dict.fromkeys(models, 1)
    assert seen["rate_limited"] == 0
    calls_per_model = seen["calls_total"] / len(models)
    ideal = seen["calls_total"] / 10 + 2.0  # calls / rate + one reload time
    print(
        f"\n50 models: {calls_per_model:.2f} calls/model, batch {summary['duration_s']:.1f} s, "
        f"ideal {ideal:.1f} s, ratio {summary['duration_s'] / ideal:.2f}"
    )
