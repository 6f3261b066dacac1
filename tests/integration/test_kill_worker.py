"""Given a batch in progress, when its only worker is SIGKILLed, a replacement finishes it.

Injected: ``CeleryProcess.kill()`` (SIGKILL to the worker and its pool), once
while upstream calls are in flight (the simulator answers after a latency) and
once while every task waits on a countdown (models loading). A replacement
worker starts at once. The messages the dead worker held unacked come back
after the broker's visibility timeout, which the short settings below make
``longest_countdown + read + connect timeouts + 30 s`` = 2 + 3 + 1 + 30 = 36 s
(+1); the batch must complete within 90 s of the replacement starting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from celery import Celery

from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import (
    assert_no_lease_past_expiry,
    live_leases,
    max_calls,
    wait_until,
)
from tests.integration.webhook_receiver import WebhookReceiver
from worker.processes import CeleryProcess
from worker.sim.process import SimulatorProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(200)]

MODELS = [f"k-{i:02d}" for i in range(10)]
RECOVERY_LIMIT = 90.0


def _short_env(redis_url: str, sim_url: str) -> dict[str, str]:
    return worker_env(
        redis_url,
        sim_url,
        RELOAD_WARM_SECONDS="2",
        RELOAD_BACKOFF_MAX_SECONDS="2",
        RELOAD_READ_TIMEOUT="3",
        RELOAD_CONNECT_TIMEOUT="1",
        RELOAD_MAX_IN_FLIGHT="3",
        RELOAD_DEADLINE_SECONDS="150",
    )


def _kill_and_recover(
    *,
    moment: str,
    sim: SimulatorProcess,
    redis_url: str,
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    env = _short_env(redis_url, sim.base_url)
    first = start_worker(env, concurrency=3)
    client = redis.Redis.from_url(redis_url)
    try:
        with WebhookReceiver() as hook:
            batch_id = producer.send_task(
                "warmup_batch", args=[MODELS], kwargs={"callback_url": hook.url}
            ).get(timeout=30)

            if moment == "in_flight":
                # Given upstream calls in flight (the simulator holds each answer 1.5 s)...
                wait_until(lambda: live_leases(client) > 0, timeout=20, what="a call in flight")
            else:
                # Given every model called and none in flight: all tasks wait on countdowns.
                wait_until(
                    lambda: (
                        len(ledger_of(sim)["calls_per_model"]) == len(MODELS)
                        and live_leases(client) == 0
                    ),
                    timeout=30,
                    what="every model accepted and waiting",
                )
            calls_before = ledger_of(sim)["calls_total"]
            first.kill()  # ...when the worker dies without a word...
            assert not first.running()

            replacement = start_worker(env, concurrency=3, wait=False)
            started = time.monotonic()
            # ...then the replacement completes the batch.
            summary = producer.AsyncResult(batch_id).get(timeout=RECOVERY_LIMIT + 10)
            recovery = time.monotonic() - started
            time.sleep(4)  # past another backstop period: the callback does not fire again
            bodies = list(hook.bodies)

        seen = ledger_of(sim)
        print(
            f"\n[kill {moment}] calls before kill={calls_before}, recovery={recovery:.1f}s, "
            f"max calls per model={max_calls(seen)}, reloads_started={seen['reloads_started']}"
        )
        assert replacement.running()
        assert recovery < RECOVERY_LIMIT, f"recovery took {recovery:.1f}s"
        assert summary["total"] == len(MODELS)
        assert sorted(summary["warm"]) == MODELS, summary  # no model lost, every one warm
        assert summary["failed"] == {}
        assert len(bodies) == 1 and bodies[0]["batch_id"] == batch_id
        assert seen["reloads_started"] == dict.fromkeys(MODELS, 1)  # no duplicate reload
        # Bounded: accept + confirm calls, a few polls, and at most a repeat of the lost step.
        assert max_calls(seen) <= 8
        assert_no_lease_past_expiry(client)
    finally:
        client.close()


def test_sigkill_while_requests_are_in_flight(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "2", "--latency", "1.5")
    _kill_and_recover(
        moment="in_flight",
        sim=sim,
        redis_url=redis_url,
        start_worker=start_worker,
        producer=producer,
    )


def test_sigkill_while_tasks_wait_on_a_countdown(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "20")
    _kill_and_recover(
        moment="countdown",
        sim=sim,
        redis_url=redis_url,
        start_worker=start_worker,
        producer=producer,
    )
