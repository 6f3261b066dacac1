"""Given batches in progress, a cancel stops one promptly and a high-priority batch overtakes.

Real Redis, real workers, the simulator over HTTP (its ledger records every call's
time). By task name, as any service would: ``cancel_batch``, ``warmup_batch(...,
priority="high")``, ``batch_status``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_cancelled_batch_stops_within_seconds_and_its_summary_arrives(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    models = [f"c-{i:02d}" for i in range(60)]
    sim = start_simulator("--reload-seconds", "4")
    env = worker_env(redis_url, sim.base_url, RELOAD_RATE_LIMIT="2/s", RELOAD_WARM_SECONDS="4")
    start_worker(env)
    start_worker(env)
    with WebhookReceiver() as hook:
        batch_id = producer.send_task(
            "warmup_batch", args=[models], kwargs={"callback_url": hook.url}
        ).get(timeout=30)
        time.sleep(3)

        cancelled_at = time.time()
        answer = producer.send_task("cancel_batch", args=[batch_id]).get(timeout=30)
        summary = producer.AsyncResult(batch_id).get(timeout=30)
        summary_at = time.time()
        time.sleep(5)  # the upstream after the summary
        bodies = list(hook.bodies)
        again = producer.send_task("cancel_batch", args=[batch_id]).get(timeout=30)

    seen = ledger_of(sim)
    after = [t for times in seen["call_times_per_model"].values() for t in times if t > summary_at]
    print(
        f"\n[cancel] {len(answer['cancelled'])} cancelled, summary "
        f"{summary_at - cancelled_at:.1f}s after the cancel, {len(after)} calls in the 5 s after"
    )
    assert summary_at - cancelled_at <= 5
    assert len(answer["cancelled"]) >= 40
    assert sorted(summary["cancelled"]) == sorted(answer["cancelled"])
    assert len(summary["warm"]) + len(summary["failed"]) + len(summary["cancelled"]) == 60
    assert len(after) <= 2
    assert [b["batch_id"] for b in bodies] == [batch_id]  # the webhook fired once
    assert bodies[0]["cancelled"] == summary["cancelled"]
    assert again == {"batch_id": batch_id, "cancelled": [], "finished": True}
    with pytest.raises(Exception, match="no batch 'no-such-batch'"):
        producer.send_task("cancel_batch", args=["no-such-batch"]).get(timeout=30)
    with pytest.raises(Exception, match="batch_id"):  # not a string: refused at the edge
        producer.send_task("cancel_batch", args=[123]).get(timeout=30)
    with pytest.raises(Exception, match="priority: expected 'normal' or 'high'"):
        producer.send_task("warmup_batch", args=[["x-1"]], kwargs={"priority": "urgent"}).get(
            timeout=30
        )


def test_a_model_shared_with_a_live_batch_carries_on_for_it_reloaded_once(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    shared = [f"s-{i:02d}" for i in range(10)]
    sim = start_simulator("--reload-seconds", "4")
    env = worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="4")
    start_worker(env)
    first = producer.send_task("warmup_batch", args=[[*shared, "a-1", "a-2"]]).get(timeout=30)
    second = producer.send_task("warmup_batch", args=[[*shared, "b-1"]]).get(timeout=30)
    time.sleep(1.5)  # every shared model called once, now loading

    producer.send_task("cancel_batch", args=[first]).get(timeout=30)
    cancelled = producer.AsyncResult(first).get(timeout=30)
    kept = producer.AsyncResult(second).get(timeout=60)
    status = producer.send_task("batch_status", args=[second]).get(timeout=30)

    seen = ledger_of(sim)
    assert set(shared) <= set(cancelled["cancelled"])
    assert sorted(kept["warm"]) == sorted([*shared, "b-1"])  # they went on for the other
    assert all(seen["reloads_started"][m] == 1 for m in shared)  # and were reloaded once
    assert status["status"] == "done" and status["counts"]["warm"] == 11
    assert status["models"]["s-00"]["state"] == "warm"


def test_a_high_priority_batch_overtakes_a_saturating_normal_one(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    rate, reload_s = 5, 3.0
    bulk = [f"n-{i:03d}" for i in range(300)]
    urgent = ["u-1", "u-2", "u-3"]
    sim = start_simulator("--reload-seconds", str(reload_s))
    env = worker_env(
        redis_url,
        sim.base_url,
        RELOAD_RATE_LIMIT=f"{rate}/s",
        RELOAD_WARM_SECONDS=str(reload_s),
        RELOAD_DEADLINE_SECONDS="400",  # 600 calls at 5/s take two minutes
    )
    start_worker(env)
    start_worker(env)
    normal = producer.send_task("warmup_batch", args=[bulk]).get(timeout=30)
    time.sleep(5)  # the normal batch saturates the rate

    started = time.monotonic()
    high = producer.send_task("warmup_batch", args=[urgent], kwargs={"priority": "high"}).get(
        timeout=30
    )
    high_summary = producer.AsyncResult(high).get(timeout=60)
    took = time.monotonic() - started
    normal_summary = producer.AsyncResult(normal).get(timeout=240)

    ideal = 2 * len(urgent) / rate + reload_s  # its own calls at the rate, plus one reload
    print(f"\n[priority] high batch of 3 done in {took:.1f}s (its ideal {ideal:.1f}s)")
    assert sorted(high_summary["warm"]) == urgent
    assert high_summary["priority"] == "high"
    assert took <= 2 * ideal
    assert sorted(normal_summary["warm"]) == bulk  # the normal batch still ends all warm
    assert ledger_of(sim)["max_calls_in_any_second"] <= rate + 1
