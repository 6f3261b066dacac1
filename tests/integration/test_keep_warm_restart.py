"""Keep-warm with a real beat: the first batch comes at beat's start, a restart does not repeat it,
and models a batch warmed within the period are not called again.

The period is an hour, so any second batch within the test would be a bug. What is
due lives in Redis (worker.batch.keepwarm), not in beat's schedule file, so the restarted
beat even gets a fresh schedule file.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from worker.client import QUEUE

pytestmark = pytest.mark.slow

STARTED = re.compile(r"keep-warm batch (\S+) started for (\d+) models \((skipped [^)]*)\)")


def start_beat(env: dict[str, str], tmp_path: Path, name: str) -> CeleryProcess:
    beat_env = {k: v for k, v in env.items() if k != "MODELSLAB_API_KEY"}
    beat = CeleryProcess(
        ["beat", "--schedule", str(tmp_path / f"{name}-schedule"), "--loglevel", "INFO"],
        beat_env,
        tmp_path / f"{name}.log",
    )
    return beat.start()


def wait_done(client: redis.Redis, batch_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.hget(f"reload:batch:{batch_id}", "status") != b"done":
        assert time.monotonic() < deadline, f"batch {batch_id} not done after {timeout}s"
        time.sleep(0.2)


def wait_for(worker: CeleryProcess, pattern: re.Pattern[str], count: int, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while len(found := pattern.findall(worker.log())) < count:
        assert time.monotonic() < deadline, f"{pattern.pattern!r} x{count}:\n{worker.log()[-3000:]}"
        time.sleep(0.1)
    return found


@pytest.mark.timeout(120)
def test_first_keep_warm_batch_runs_at_beat_start_and_a_restart_does_not_run_it_again(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    tmp_path: Path,
) -> None:
    sim = start_simulator("--reload-seconds", "0.5")
    env = worker_env(redis_url, sim.base_url, RELOAD_KEEP_WARM="a,b", RELOAD_KEEP_WARM_EVERY="1h")
    worker = start_worker(env)
    client = redis.Redis.from_url(redis_url)
    beat = start_beat(env, tmp_path, "beat1")
    started_at = time.monotonic()
    try:
        [(batch_id, count, _)] = wait_for(worker, STARTED, 1, timeout=20)
        first_after = time.monotonic() - started_at
        wait_done(client, batch_id)
        beat.terminate(timeout=10)

        beat = start_beat(env, tmp_path, "beat2")  # a restart, even with a new schedule file
        nothing_due = re.compile(r"keep-warm: nothing due of 2 models \(skipped 2: 2 warm")
        wait_for(worker, nothing_due, 1, timeout=20)
        time.sleep(2)
    finally:
        beat.terminate(timeout=10)
        client.close()

    assert count == "2"
    assert first_after < 10, f"the first keep-warm batch came {first_after:.1f}s after beat started"
    assert len(STARTED.findall(worker.log())) == 1, "a restarted beat started a second batch"
    assert ledger_of(sim)["calls_per_model"].keys() == {"a", "b"}


@pytest.mark.timeout(120)
def test_keep_warm_skips_models_a_batch_warmed_within_the_period(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
    tmp_path: Path,
) -> None:
    sim = start_simulator("--reload-seconds", "0.5")
    env = worker_env(redis_url, sim.base_url, RELOAD_KEEP_WARM="a,b", RELOAD_KEEP_WARM_EVERY="1h")
    worker = start_worker(env)
    client = redis.Redis.from_url(redis_url)
    sent = producer.send_task("warmup_batch", args=[["a"]], queue=QUEUE)
    campaign = sent.get(timeout=30)
    producer.backend.remove_pending_result(sent)  # else its __del__ reconnects at exit
    wait_done(client, campaign)
    calls_for_a = ledger_of(sim)["calls_per_model"]["a"]
    beat = start_beat(env, tmp_path, "beat")
    try:
        [(batch_id, count, skipped)] = wait_for(worker, STARTED, 1, timeout=20)
        wait_done(client, batch_id)
        summary = json.loads(client.hget(f"reload:batch:{batch_id}", "summary") or "{}")
    finally:
        beat.terminate(timeout=10)
        client.close()

    assert count == "1"
    assert skipped.startswith("skipped 1: 1 warm and 0 already asked for")
    assert summary["warm"] == ["b"]
    assert ledger_of(sim)["calls_per_model"]["a"] == calls_for_a, "keep-warm called 'a' again"
