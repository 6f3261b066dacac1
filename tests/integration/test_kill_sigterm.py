"""Given a batch in progress, when its worker gets SIGTERM (warm shutdown) and a new one starts,
nothing is lost and no model is reloaded twice.

Injected: ``CeleryProcess.terminate()`` while every model has been accepted and
is loading (its task waits on a countdown, held unacked by the worker). A warm
shutdown finishes running tasks and hands the held messages back to the queue;
the next worker picks them up at once (no visibility timeout to wait for).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import (
    assert_no_lease_past_expiry,
    live_leases,
    max_calls,
    wait_until,
)
from tests.integration.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MODELS = [f"t-{i:02d}" for i in range(10)]


def test_sigterm_mid_batch_then_restart_loses_nothing_and_reloads_once(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "8")
    env = worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="2", RELOAD_MAX_IN_FLIGHT="3")
    first = start_worker(env, concurrency=3)
    client = redis.Redis.from_url(redis_url)
    try:
        with WebhookReceiver() as hook:
            batch_id = producer.send_task(
                "warmup_batch", args=[MODELS], kwargs={"callback_url": hook.url}
            ).get(timeout=30)
            wait_until(
                lambda: len(ledger_of(sim)["calls_per_model"]) == len(MODELS),
                timeout=30,
                what="every model called once",
            )

            # When the worker is asked to stop...
            code = first.terminate(timeout=30)
            assert code == 0, first.log()[-2000:]
            assert client.hget(f"reload:batch:{batch_id}", "status") == b"open"

            # ...and another one starts, the batch completes.
            start_worker(env, concurrency=3)
            started = time.monotonic()
            summary = producer.AsyncResult(batch_id).get(timeout=60)
            took = time.monotonic() - started
            time.sleep(4)
            bodies = list(hook.bodies)

        seen = ledger_of(sim)
        print(f"\n[sigterm] completed {took:.1f}s after the restart, max calls={max_calls(seen)}")
        assert sorted(summary["warm"]) == MODELS  # nothing lost
        assert summary["failed"] == {}
        assert seen["reloads_started"] == dict.fromkeys(MODELS, 1)  # nothing reloaded twice
        assert len(bodies) == 1
        assert live_leases(client) == 0
        assert_no_lease_past_expiry(client)
    finally:
        client.close()
