"""Given both cores kept busy by spinning processes, when a batch runs at the account's rate,
then the upstream never sees more calls in one second than the rate, also when its answers
take longer than the rate's window.

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
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Run:
    """One batch at the account's rate on two workers, both cores kept busy throughout."""

    rate: int  # RELOAD_RATE_LIMIT, calls per second
    models: int
    latency: float  # the simulator's answer time, seconds
    in_flight: int  # RELOAD_MAX_IN_FLIGHT
    concurrency: int  # each worker's pool


RunBatch = Callable[[Run], dict[str, Any]]


@pytest.fixture
def run_batch(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
    busy_cpus: list[subprocess.Popen[bytes]],
) -> RunBatch:
    """Run a batch; check every model warmed with the CPU busy; return the simulator's ledger."""

    def run_batch(run: Run) -> dict[str, Any]:
        sim = start_simulator("--reload-seconds", "1", "--latency", f"{run.latency:g}")
        env = worker_env(
            redis_url,
            sim.base_url,
            RELOAD_RATE_LIMIT=f"{run.rate}/s",
            RELOAD_MAX_IN_FLIGHT=str(run.in_flight),
            RELOAD_WARM_SECONDS="1",
            RELOAD_DEADLINE_SECONDS="180",
        )
        start_worker(env, concurrency=run.concurrency)
        start_worker(env, concurrency=run.concurrency)
        assert all(spinner.poll() is None for spinner in busy_cpus)  # the CPU is busy throughout
        models = [f"model-{i:03d}" for i in range(run.models)]

        batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=60)
        summary = producer.AsyncResult(batch_id).get(timeout=200)

        assert sorted(summary["warm"]) == models
        assert all(spinner.poll() is None for spinner in busy_cpus)
        seen = ledger_of(sim)
        print(
            f"\n[{run}] {seen['calls_total']} calls, most in one second "
            f"{seen['max_calls_in_any_second_by_clock']}, wall clock stepped "
            f"{seen['wall_clock_step_s']:.3f}s"
        )
        assert seen["calls_total"] >= 2 * run.models
        assert seen["rate_limited"] == 0
        return seen

    return run_batch


def test_a_batch_at_the_rate_under_cpu_load_never_exceeds_it_in_any_second(
    run_batch: RunBatch,
) -> None:
    seen = run_batch(Run(rate=RATE, models=MODELS, latency=0.01, in_flight=10, concurrency=4))
    assert seen["max_calls_in_any_second"] <= RATE, seen["max_calls_in_any_second"]


def test_answers_slower_than_the_window_under_cpu_load_never_exceed_the_rate(
    run_batch: RunBatch,
) -> None:
    # Given an upstream that answers every call after 1.5 s, longer than the rate's window
    # (1 s): a request may reach it at any moment before its answer, so its call stays in
    # the window until then (decision 0021)...
    run = Run(rate=4, models=40, latency=1.5, in_flight=12, concurrency=6)
    # ...when a batch runs at the rate on a busy CPU...
    seen = run_batch(run)
    # ...then the upstream never sees more than the rate in any second, and the rate is reached.
    assert seen["max_calls_in_any_second"] <= run.rate, seen["max_calls_in_any_second_by_clock"]
    assert seen["max_calls_in_any_second"] >= run.rate - 1
