"""Shared plumbing of the contenders: model ids, the simulator's ledger, environments."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
from celery import Celery
from celery.result import AsyncResult

from bench.scenarios import Scenario
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess

__all__ = [
    "API_KEY",
    "OPTIONS",
    "ROOT",
    "WorkerOptions",
    "drop_pending",
    "ledger_of",
    "model_ids",
    "redis_used_memory",
    "start_project_workers",
    "worker_env",
]

API_KEY = "bench-key-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 4  # pool processes per Celery worker; two workers per contender


@dataclass
class WorkerOptions:
    """How the project's workers run (``python -m bench --pool/--concurrency/--py-spy``)."""

    pool: str = "prefork"
    concurrency: int = CONCURRENCY
    py_spy_dir: Path | None = None  # sample the workers with py-spy into this directory

    def describe(self) -> str:
        return f"2 workers x {self.concurrency} {self.pool}"


OPTIONS = WorkerOptions()  # set once by bench.__main__ before any run


def drop_pending(app: Celery, results: Iterable[AsyncResult]) -> None:
    """Stop waiting for results, while their backend still answers.

    Celery's Redis backend keeps every result it was asked to wait for until it is
    fulfilled, and an unfulfilled one unsubscribes from its channel when it is
    collected: after Redis is stopped that ends in a traceback at exit.
    """
    for result in results:
        with contextlib.suppress(Exception):
            app.backend.remove_pending_result(result)


def model_ids(count: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


def ledger_of(sim: SimulatorProcess) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{sim.base_url}/_sim/ledger", timeout=30).json()
    return data


def redis_used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def worker_env(scenario: Scenario, redis_url: str, sim_url: str) -> dict[str, str]:
    """The project's worker environment for a scenario: its limits, and nothing else."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        # BENCH_PYTHONPATH: packages tried outside the lock (e.g. gevent for --pool gevent)
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("BENCH_PYTHONPATH")])
        ),
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": redis_url,
        "MODELSLAB_API_KEY": API_KEY,
        "MODELSLAB_BASE_URL": sim_url,
        "RELOAD_RATE_LIMIT": f"{scenario.rate}/s",
        "RELOAD_MAX_IN_FLIGHT": str(scenario.in_flight),
        "RELOAD_WARM_SECONDS": f"{scenario.reload_s:g}",
        "RELOAD_DEADLINE_SECONDS": str(int(scenario.timeout_s * 2)),
        "RELOAD_BACKOFF_BASE_SECONDS": "0.5",
        "RELOAD_BACKOFF_MAX_SECONDS": "10",
        "RELOAD_CONNECT_TIMEOUT": "2",
        "RELOAD_READ_TIMEOUT": "10",
        "RELOAD_BATCH_GRACE_SECONDS": "30",
    }
    env.update(scenario.extra_env)
    return env


def start_project_workers(
    workers: list[CeleryProcess], env: dict[str, str], names: Sequence[str], log_dir: Path
) -> None:
    """Start a project worker (``OPTIONS``' pool and concurrency) per name; wait until all are
    ready.

    Each is appended to ``workers`` as it starts, so the caller's cleanup stops
    every one started even if a later one fails.
    """
    for name in names:
        worker = CeleryProcess.worker(
            env, name=name, log_dir=log_dir, concurrency=OPTIONS.concurrency, pool=OPTIONS.pool
        )
        workers.append(worker.start())
    for worker in workers:
        worker.wait_for_log("ready.", timeout=60)
