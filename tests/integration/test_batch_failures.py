"""Given permanent upstream errors, models fail at once with the upstream's reason."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env

pytestmark = pytest.mark.slow


def test_a_wrong_key_fails_every_model_fast_with_one_call_each(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "30")
    start_worker(worker_env(redis_url, sim.base_url, MODELSLAB_API_KEY="sk-wrong-key"))
    models = [f"k-{i}" for i in range(12)]

    started = time.monotonic()
    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=60)
    elapsed = time.monotonic() - started

    assert summary["warm"] == []
    assert set(summary["failed"]) == set(models)
    assert all("Invalid API key" in reason for reason in summary["failed"].values())
    assert elapsed < 20  # at 20 calls/s, 12 calls and no retries
    seen = ledger_of(sim)
    assert all(n <= 1 for n in seen["calls_per_model"].values())
    assert seen["reloads_started"] == {}


def test_one_unknown_model_fails_alone(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "1", "--unknown", "no-such-model")
    start_worker(worker_env(redis_url, sim.base_url))
    models = ["good-1", "no-such-model", "good-2"]

    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=60)

    assert summary["warm"] == ["good-1", "good-2"]
    assert list(summary["failed"]) == ["no-such-model"]
    assert "not found" in summary["failed"]["no-such-model"].lower()
    assert ledger_of(sim)["calls_per_model"]["no-such-model"] == 1


def test_a_model_past_its_deadline_fails_with_that_reason(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "60", "--no-eta")
    start_worker(
        worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="1", RELOAD_DEADLINE_SECONDS="4")
    )

    batch_id = producer.send_task("warmup_batch", args=[["slow-model"]]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=60)

    assert summary["warm"] == []
    assert summary["failed"]["slow-model"].startswith("deadline exceeded")
    assert ledger_of(sim)["reloads_started"] == {"slow-model": 1}
