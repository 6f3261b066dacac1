"""Given both cores kept busy by spinning processes, when a batch runs at the account's rate,
then the upstream never sees more calls in one second than the rate.

A grant counts from its call's answer (worker/limiter/scripts.py, RELEASE and RENEW),
an upper bound on when the request reached the upstream, so a worker descheduled
between the limiter's grant and its request (what a busy CPU does) cannot crowd
the upstream's window, whatever the delay.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RATE = 40
MODELS = 240


@pytest.fixture
def busy_cpus() -> Iterator[list[subprocess.Popen[bytes]]]:
    """One spinning process per core (and one more), stopped by their pids."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range((os.cpu_count() or 1) + 1)
    ]
    try:
        yield spinners
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait(10)


def test_a_batch_at_the_rate_under_cpu_load_never_exceeds_it_in_any_second(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
    busy_cpus: list[subprocess.Popen[bytes]],
) -> None:
    sim = start_simulator("--reload-seconds", "1", "--latency", "0.01")
    env = worker_env(
        redis_url,
        sim.base_url,
        RELOAD_RATE_LIMIT=f"{RATE}/s",
        RELOAD_MAX_IN_FLIGHT="10",
        RELOAD_WARM_SECONDS="1",
        RELOAD_DEADLINE_SECONDS="180",
    )
    start_worker(env, concurrency=4)
    start_worker(env, concurrency=4)
    assert all(spinner.poll() is None for spinner in busy_cpus)  # the CPU is busy throughout
    models = [f"model-{i:03d}" for i in range(MODELS)]

    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=60)
    summary = producer.AsyncResult(batch_id).get(timeout=200)

    assert sorted(summary["warm"]) == models
    assert all(spinner.poll() is None for spinner in busy_cpus)
    seen = ledger_of(sim)
    assert seen["calls_total"] >= 2 * MODELS
    assert seen["max_calls_in_any_second"] <= RATE, seen["max_calls_in_any_second"]
    assert seen["rate_limited"] == 0
