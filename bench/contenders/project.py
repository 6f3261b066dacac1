"""Contender (a): this project, two ``celery -A worker worker`` processes (``--pool``, 4 each).

A fresh embedded Redis per run; ``warmup_batch`` is enqueued by name, the way
another service would, and the run ends when ``AsyncResult(batch_id).get()``
returns the summary.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import redis
from celery import Celery

from bench.harness import (
    OPTIONS,
    drop_pending,
    ledger_of,
    model_ids,
    redis_used_memory,
    start_project_workers,
    worker_env,
)
from bench.measure import RunResult, Sampler
from bench.profiling import PySpy
from bench.scenarios import Scenario
from sandbox.embedded_redis import EmbeddedRedis
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from worker.client import client_app

__all__ = ["run"]


def _producer(url: str) -> Celery:
    return client_app(url, url, name="bench-producer")


def run(scenario: Scenario, sim: SimulatorProcess, log_dir: Path) -> RunResult:
    ids = model_ids(scenario.models_for("project"))
    server = EmbeddedRedis().start()
    workers: list[CeleryProcess] = []
    producer: Celery | None = None
    client = redis.Redis.from_url(server.url)
    profiler = contextlib.ExitStack()
    try:
        env = worker_env(scenario, server.url, sim.base_url)
        names = [f"{name}-{scenario.name}" for name in ("bench-a", "bench-b")]
        start_project_workers(workers, env, names, log_dir)
        if OPTIONS.py_spy_dir is not None:
            spy = profiler.enter_context(PySpy(OPTIONS.py_spy_dir))
            for name, worker in zip(names, workers, strict=True):
                spy.attach(worker.pid, name)
        producer = _producer(server.url)
        before = redis_used_memory(client)
        sampler = Sampler(
            lambda: [w.pid for w in workers if w.running()],
            (lambda: redis_used_memory(client)) if scenario.measure_redis else None,
        )
        finished_at: float | None = None
        error: str | None = None
        summary: dict[str, object] = {}
        with sampler:
            started_at = time.time()
            sent = producer.send_task("warmup_batch", args=[ids])
            batch_id = sent.get(timeout=120)
            outcome = producer.AsyncResult(batch_id)
            try:
                summary = outcome.get(timeout=scenario.timeout_s)
                finished_at = time.time()
            except Exception as exc:  # celery's TimeoutError among others
                error = f"did not finish in {scenario.timeout_s:g} s ({type(exc).__name__})"
            drop_pending(producer, [sent, outcome])
            del sent, outcome
        profiler.close()
        warm = summary.get("warm", [])
        failed = summary.get("failed", {})
        return RunResult(
            contender="project",
            models=len(ids),
            started_at=started_at,
            finished_at=finished_at,
            warm=len(warm) if isinstance(warm, list) else 0,
            failed=len(failed) if isinstance(failed, dict) else 0,
            ledger=ledger_of(sim),
            peak_rss_bytes=sampler.peak_rss,
            peak_pss_bytes=sampler.peak_pss,
            cpu_s=sampler.cpu_seconds,
            redis_before_bytes=before if scenario.measure_redis else None,
            redis_peak_bytes=sampler.peak_redis if scenario.measure_redis else None,
            redis_samples=sampler.redis_samples,
            processes=OPTIONS.describe(),
            error=error,
            extra={"summary_duration_s": summary.get("duration_s")},
        )
    finally:
        profiler.close()
        if producer is not None:
            producer.close()
        for worker in workers:  # results are in: nothing to save, stop the group at once
            worker.kill()
        client.close()
        server.close()
