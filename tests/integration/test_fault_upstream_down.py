"""Given an upstream that answers the same error to everything, the key waits for a probe.

Injected: ``--fault 503=1.0`` (and ``error200=1.0``: HTTP 200 with an unknown error
message) for the whole batch. The circuit breaker opens once three different models got
the same error with no success between; from then on the upstream sees one probe at a
time (5 s, then 10 s...), not every model retrying, and the models fail when their
deadline comes, each with a reason that says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MODELS = [f"d-{i:02d}" for i in range(30)]
DEADLINE = 25


@pytest.mark.parametrize("fault", ["503", "error200"])
def test_upstream_down_trips_the_breaker_and_sees_probes_not_a_storm(
    fault: str,
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--fault", f"{fault}=1.0")
    env = worker_env(
        redis_url,
        sim.base_url,
        RELOAD_DEADLINE_SECONDS=str(DEADLINE),
        RELOAD_BACKOFF_BASE_SECONDS="0.2",
        RELOAD_BACKOFF_MAX_SECONDS="1",
    )
    start_worker(env, concurrency=3)
    start_worker(env, concurrency=3)

    started = time.monotonic()
    batch_id = producer.send_task("warmup_batch", args=[MODELS]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=120)
    took = time.monotonic() - started

    seen = ledger_of(sim)
    print(f"\n[{fault}=1.0] {len(MODELS)} models, {seen['calls_total']} calls in {took:.1f}s")
    assert summary["warm"] == []
    assert sorted(summary["failed"]) == MODELS  # every model final, none lost
    for reason in summary["failed"].values():
        assert reason.startswith("deadline exceeded (last: key paused by the circuit breaker"), (
            reason
        )
    # Without the breaker every model retries on its own: 30 x 9 calls in the deadline.
    # With it: the calls before it opens (a few per in-flight slot) and a probe each
    # 5 s, 10 s, 20 s... after.
    assert seen["calls_total"] <= 20, seen["calls_per_model"]
    assert seen["reloads_started"] == {}
