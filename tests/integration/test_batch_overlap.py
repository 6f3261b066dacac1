"""Given two batches sharing models: each shared model is reloaded once, both complete once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env

pytestmark = pytest.mark.slow


def test_overlapping_batches_share_reloads(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "2")
    start_worker(worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="2"))
    shared = [f"shared-{i}" for i in range(10)]
    only_a = [f"a-{i}" for i in range(5)]
    only_b = [f"b-{i}" for i in range(5)]

    batch_a = producer.send_task("warmup_batch", args=[only_a + shared]).get(timeout=30)
    batch_b = producer.send_task("warmup_batch", args=[shared + only_b]).get(timeout=30)
    summary_a = producer.AsyncResult(batch_a).get(timeout=90)
    summary_b = producer.AsyncResult(batch_b).get(timeout=90)

    assert batch_a != batch_b
    assert summary_a["warm"] == only_a + shared
    assert summary_b["warm"] == shared + only_b
    seen = ledger_of(sim)
    assert all(seen["reloads_started"][m] == 1 for m in shared + only_a + only_b)
    most_unshared = max(seen["calls_per_model"][m] for m in only_a + only_b)
    assert max(seen["calls_per_model"][m] for m in shared) <= most_unshared
    # Each callback ran once: its result is the summary, written once in the ledger.
    assert producer.AsyncResult(batch_a).state == "SUCCESS"
    assert producer.AsyncResult(batch_b).state == "SUCCESS"
