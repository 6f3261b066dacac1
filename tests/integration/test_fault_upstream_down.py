"""Given an upstream that answers 503 to everything for longer than the retry budget,
every model fails with a clear reason and no model is called more than the budget allows.

Injected: ``--fault 503=1.0`` for the whole batch. Bound: with
``RELOAD_MAX_RETRIES=3`` a model makes its first call and 3 retries, then
fails: at most ``max_retries + 1 = 4`` calls per model (no hot loop).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from celery import Celery

from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import max_calls
from worker.processes import CeleryProcess
from worker.sim.process import SimulatorProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

MODELS = [f"d-{i:02d}" for i in range(10)]
MAX_RETRIES = 3


def test_upstream_down_fails_every_model_with_a_clear_reason_and_no_hot_loop(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--fault", "503=1.0")
    env = worker_env(
        redis_url,
        sim.base_url,
        RELOAD_MAX_RETRIES=str(MAX_RETRIES),
        RELOAD_BACKOFF_BASE_SECONDS="0.2",
        RELOAD_BACKOFF_MAX_SECONDS="1",
    )
    start_worker(env, concurrency=3)

    started = time.monotonic()
    batch_id = producer.send_task("warmup_batch", args=[MODELS]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=90)
    took = time.monotonic() - started

    seen = ledger_of(sim)
    print(f"\n[503=1.0] all failed in {took:.1f}s, max calls per model={max_calls(seen)}")
    assert summary["warm"] == []
    assert sorted(summary["failed"]) == MODELS  # every model final, none lost
    for reason in summary["failed"].values():
        assert reason.startswith(f"gave up after {MAX_RETRIES + 1} failed attempts"), reason
        assert "503" in reason or "unavailable" in reason.lower(), reason
    assert set(seen["calls_per_model"]) == set(MODELS)
    assert max_calls(seen) <= MAX_RETRIES + 1, seen["calls_per_model"]
    assert seen["reloads_started"] == {}
