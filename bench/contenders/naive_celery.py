"""Contender (c): naive Celery (``bench.naive_app``), two workers of 4 pool processes.

Each worker gets ``rate_limit = rate / 2`` (Celery's limit is per worker), a
fresh embedded Redis per run; the tasks are sent by name and the run ends when
every result is in, or after the scenario's timeout ("did not finish").
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from celery import Celery
from celery.result import ResultSet

from bench.harness import API_KEY, CONCURRENCY, ROOT, drop_pending, ledger_of, model_ids
from bench.measure import RunResult, Sampler
from bench.scenarios import Scenario
from sandbox.embedded_redis import EmbeddedRedis
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess

__all__ = ["run"]

WORKERS = 2


def _env(scenario: Scenario, redis_url: str, sim_url: str) -> dict[str, str]:
    per_worker = scenario.rate / WORKERS
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "NAIVE_REDIS_URL": redis_url,
        "MODELSLAB_BASE_URL": sim_url,
        "MODELSLAB_API_KEY": API_KEY,
        "NAIVE_RATE_LIMIT": f"{per_worker:g}/s",
        "NAIVE_WARM_SECONDS": f"{scenario.reload_s:g}",
    }


def run(scenario: Scenario, sim: SimulatorProcess, log_dir: Path) -> RunResult:
    ids = model_ids(scenario.models_for("naive"))
    server = EmbeddedRedis().start()
    workers: list[CeleryProcess] = []
    producer: Celery | None = None
    try:
        env = _env(scenario, server.url, sim.base_url)
        for name in ("naive-a", "naive-b"):
            worker = CeleryProcess.worker(
                env,
                name=f"{name}-{scenario.name}",
                log_dir=log_dir,
                concurrency=CONCURRENCY,
                extra=["--queues", "naive"],
            )
            worker.args[4] = "bench.naive_app"  # celery -A bench.naive_app worker ...
            workers.append(worker.start())
        for worker in workers:
            worker.wait_for_log("ready.", timeout=60)
        producer = Celery("naive-producer", broker=server.url, backend=server.url)
        producer.conf.update(task_default_queue="naive", broker_connection_retry_on_startup=True)
        finished_at: float | None = None
        error: str | None = None
        with Sampler(lambda: [w.pid for w in workers if w.running()]) as sampler:
            started_at = time.time()
            results = ResultSet([producer.send_task("naive_reload", args=[m]) for m in ids])
            try:
                results.join(timeout=scenario.timeout_s, propagate=False, interval=0.2)
                finished_at = time.time()
            except Exception as exc:  # celery's TimeoutError
                error = f"did not finish in {scenario.timeout_s:g} s ({type(exc).__name__})"
            done = [r for r in results.results if r.ready()]
        warm = sum(1 for r in done if r.successful())
        failed = len(done) - warm
        drop_pending(producer, results.results)  # while their backend still answers
        del results, done
        return RunResult(
            contender="naive",
            models=len(ids),
            started_at=started_at,
            finished_at=finished_at,
            warm=warm,
            failed=failed,
            ledger=ledger_of(sim),
            peak_rss_bytes=sampler.peak_rss,
            peak_pss_bytes=sampler.peak_pss,
            cpu_s=sampler.cpu_seconds,
            processes=f"2 workers x {CONCURRENCY} prefork",
            error=error,
        )
    finally:
        if producer is not None:
            producer.close()
        for worker in workers:  # results are in: nothing to save, stop the group at once
            worker.kill()
        server.close()
