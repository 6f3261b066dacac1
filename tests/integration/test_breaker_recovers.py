"""Given an upstream that fails everything for a moment in the middle of a rate-bound batch,
the breaker's probe goes when its open interval ends and the batch then runs to the end.

300 models at 20 calls/s and 3 in flight, the project's other defaults; after 3 s the
upstream answers 503 to every call until the breaker has opened (three different models,
the same error), then answers normally. Meanwhile most models wait for their turns at the
rate, which the pump takes grants for, and for slots. Checked: the first call after the
upstream healed reaches it within the breaker's first open interval (5 s) plus a few
seconds, and every model ends warm. Before, the pump and the releases kept taking grants
and handing slots to tasks the open breaker then held back: the in-flight cap stayed full
of leases nobody called under, the probe was refused a slot and lost its probe while it
waited, and no call went out again: 296 of the 300 models failed at their deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.simproc import configure

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MODELS = [f"b-{i:03d}" for i in range(300)]
FIRST_OPEN = 5.0  # worker.limiter.breaker.TRANSIENT_OPEN[0]
MARGIN = 4.0  # the pump's look, a task's dispatch, a busy host


def test_given_the_upstream_heals_then_the_first_probe_goes_when_the_breaker_allows(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "0.5")
    env = worker_env(redis_url, sim.base_url, RELOAD_RATE_LIMIT="20/s")  # 3 in flight
    start_worker(env, concurrency=3)
    start_worker(env, concurrency=3)

    batch_id = producer.send_task("warmup_batch", args=[MODELS]).get(timeout=30)
    time.sleep(3)  # the batch runs at the rate, most of it waiting for turns
    configure(sim.base_url, faults={"503": 1.0})
    # The breaker opens on the third 503 (three different models, no success between).
    deadline = time.monotonic() + 20
    while sum(ledger_of(sim)["faults"].values()) < 3:
        assert time.monotonic() < deadline, "the upstream never saw three calls"
        time.sleep(0.05)
    opened = time.time()
    configure(sim.base_url, faults={})
    summary = producer.AsyncResult(batch_id).get(timeout=120)

    seen = ledger_of(sim)
    after = sorted(
        t for times in seen["call_times_per_model"].values() for t in times if t > opened + 0.5
    )
    first_after = after[0] - opened if after else None
    failed = summary["failed"]
    print(
        f"\n[breaker] {sum(seen['faults'].values())} faults; first call after the upstream "
        f"healed: {first_after}s after the breaker opened; batch done "
        f"{time.time() - opened:.1f}s after; {len(summary['warm'])} warm, {len(failed)} failed "
        f"({sorted(set(failed.values()))[:2]})"
    )
    assert first_after is not None and first_after <= FIRST_OPEN + MARGIN
    assert sorted(summary["warm"]) == MODELS, failed
