"""Given a batch through real workers against the simulator (429s, 503s, one unknown model),
``/metrics`` (parsed with prometheus_client's parser) reports what the ledger and the
simulator's own counts say: calls by answer, models per state, batches, durations."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.dashboard_rig import Dashboard, start_dashboard
from worker.batch.ledger import STATES, Ledger
from worker.dashboard.metrics import FAMILIES

pytestmark = pytest.mark.slow
__all__ = ["start_dashboard"]  # the fixture, imported for this file


def scrape(dashboard: Dashboard) -> dict[str, dict[str, float]]:
    """family -> {sample name + its labels: value}."""
    response = dashboard.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        family.name: {
            s.name + "".join(f"[{k}={v}]" for k, v in sorted(s.labels.items())): s.value
            for s in family.samples
        }
        for family in text_string_to_metric_families(response.text)
    }


def test_metrics_match_the_ledger_during_and_the_simulator_after_a_batch(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    start_dashboard: Callable[..., Dashboard],
    producer: Celery,
) -> None:
    sim = start_simulator(
        "--reload-seconds", "2", "--unknown", "no-such-model", "--rps-limit", "4",
        "--retry-after", "0.5", "--fault", "503=0.1", "--seed", "3",
    )  # fmt: skip
    env = worker_env(redis_url, sim.base_url, RELOAD_RATE_LIMIT="8/s")
    start_worker(env)
    dashboard = start_dashboard(env)
    ledger = Ledger(redis.Redis.from_url(redis_url))
    models = [f"met-{i:02d}" for i in range(11)] + ["no-such-model"]

    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    # During the batch: reload_models is the open batch's ledger (two equal reads around it).
    seen_open = False
    deadline = time.monotonic() + 30
    while not seen_open and time.monotonic() < deadline:
        before = ledger.counts(batch_id)
        metrics = scrape(dashboard)
        after = ledger.counts(batch_id)
        if ledger.meta(batch_id).get("status") != "open":
            break
        if before == after:
            shown = {s: metrics["reload_models"][f"reload_models[state={s}]"] for s in STATES}
            assert shown == after
            assert metrics["reload_batches_open"]["reload_batches_open"] == 1
            seen_open = True
    assert seen_open, "no stable moment to compare during the batch"

    summary = producer.AsyncResult(batch_id).get(timeout=90)
    assert list(summary["failed"]) == ["no-such-model"]
    metrics = scrape(dashboard)
    seen = ledger_of(sim)

    assert set(metrics) >= FAMILIES
    calls = {k.split("=")[1].rstrip("]"): v for k, v in metrics["reload_upstream_calls"].items()}
    answers = seen["answers"]
    assert sum(calls.values()) == seen["calls_total"]
    assert seen["rate_limited"] > 0  # the simulator's 4/s limit was hit
    assert calls["rate_limited"] == seen["rate_limited"]
    assert calls["permanent"] == answers.get("unknown_model", 0) == 1
    assert calls["loading"] == answers.get("processing", 0)
    assert calls["accepted"] == answers.get("success_started", 0)
    assert calls["warm"] == answers.get("success_warm", 0)
    assert calls["transient"] == sum(seen["faults"].values())
    assert metrics["reload_batches_open"]["reload_batches_open"] == 0
    assert set(metrics["reload_models"].values()) == {0}
    assert metrics["reload_batches_completed"]["reload_batches_completed_total"] == 1
    duration = metrics["reload_batch_duration_seconds"]
    assert duration["reload_batch_duration_seconds_count"] == 1
    assert duration["reload_batch_duration_seconds_sum"] == pytest.approx(summary["duration_s"])
    (in_flight,) = metrics["reload_limiter_in_flight"].values()
    assert in_flight == 0
    (breaker,) = metrics["reload_breaker_open"].values()
    assert breaker == 0
    ledger.client.close()
