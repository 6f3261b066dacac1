"""Given an account-level error or models already warm, a batch ends in seconds, not minutes.

Real workers, the simulator over HTTP. A wrong key that ModelsLab answers with HTTP 200
and the legacy ``messege`` field fails every model of the batch with the upstream's
reason after the first call, instead of each model retrying (9 calls each before).
Models already warm answer "Model already loaded": each is confirmed about a second
later, not after RELOAD_WARM_SECONDS (120 s by default): with the default settings a
batch of 20 such models is done in the time its 40 calls take at the default 5 calls/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import API_KEY, ledger_of, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_a_wrong_key_on_http_200_fails_the_whole_batch_with_the_upstreams_reason(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    models = [f"wk-{i:02d}" for i in range(50)]
    sim = start_simulator("--errors-on-200")
    env = worker_env(redis_url, sim.base_url, MODELSLAB_API_KEY="sk-wrong-key-0000")
    start_worker(env, concurrency=3)
    start_worker(env, concurrency=3)

    started = time.monotonic()
    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=60)
    took = time.monotonic() - started

    seen = ledger_of(sim)
    print(
        f"\n[wrong key on 200] {len(models)} models failed in {took:.1f}s, "
        f"{seen['calls_total']} calls"
    )
    assert summary["warm"] == []
    assert summary["failed"] == dict.fromkeys(models, "HTTP 200: Invalid API key")
    assert seen["calls_total"] <= 2 * len(models)  # at most 2 calls per model on average
    assert seen["calls_total"] <= 10  # in fact: the calls in flight when the key stopped


def test_a_batch_of_warm_models_is_confirmed_in_seconds_with_the_default_settings(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
    tmp_path: Path,
) -> None:
    models = [f"hot-{i:02d}" for i in range(20)]
    sim = start_simulator("--warm", ",".join(models))
    defaults = worker_env(redis_url, sim.base_url)
    env = {  # the project's defaults: only where to find Redis, the key and the upstream
        key: defaults[key]
        for key in ("PATH", "REDIS_URL", "MODELSLAB_BASE_URL", "PYTHONUNBUFFERED")
    }
    env["MODELSLAB_API_KEY"] = API_KEY
    start_worker(env)

    started, wall = time.monotonic(), time.time()
    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    summary = producer.AsyncResult(batch_id).get(timeout=60)
    took = time.monotonic() - started

    seen = ledger_of(sim)
    print(
        f"\n[warm batch] first call +{seen['first_call_at'] - wall:.2f}s, "
        f"last call +{seen['last_call_at'] - wall:.2f}s, summary +{took:.2f}s"
    )
    gaps = {m: times[1] - times[0] for m, times in seen["call_times_per_model"].items()}
    print(
        f"\n[warm batch] {len(models)} models warm in {took:.1f}s; "
        f"gaps {max(gaps.values()):.1f}s max"
    )
    assert sorted(summary["warm"]) == models
    assert seen["calls_per_model"] == dict.fromkeys(models, 2)  # answer, then confirmation
    # Each confirmation came seconds after the first answer, not RELOAD_WARM_SECONDS (120).
    assert max(gaps.values()) < 10, gaps
