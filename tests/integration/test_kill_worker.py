"""Given a batch in progress on two workers, when one is SIGKILLed, its models go on within 10 s.

Real Redis, real worker processes (``CeleryProcess.kill()``: SIGKILL to the worker
and its pool), the simulator over HTTP, and the default recovery settings: nothing
here shortens a visibility timeout or a lease. The simulator records the time of
every call, so the test measures, for each model the dead worker had in hand (the
tasks in its hold set and the step locks it held at the moment of the kill), how
long it took until the upstream saw that model again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import assert_no_lease_past_expiry, wait_until
from tests.integration.webhook_receiver import WebhookReceiver
from worker import constants as c

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MODELS = [f"k-{i:02d}" for i in range(30)]
RECOVERY_LIMIT = 10.0  # seconds from the kill to the next call of each model it had in hand


def _worker_id(client: redis.Redis, worker: CeleryProcess) -> str:
    """The id under which ``worker`` heartbeats (``<host>:<main pid>:<random>``)."""
    wait_until(
        lambda: any(
            m.decode().split(":")[1] == str(worker.pid) for m in client.zrange(c.WORKERS_KEY, 0, -1)
        ),
        timeout=30,
        what=f"a heartbeat of worker pid {worker.pid}",
    )
    return next(
        m.decode()
        for m in client.zrange(c.WORKERS_KEY, 0, -1)
        if m.decode().split(":")[1] == str(worker.pid)
    )


def _models_in_hand(client: redis.Redis, worker_id: str) -> set[str]:
    """Models whose task the worker held, or whose step lock it held."""
    models: set[str] = set()
    for task_id in client.smembers(c.held_key(worker_id)):
        raw = client.hget(c.JOBS_KEY, task_id)
        if raw is not None and json.loads(raw)["a"]:
            models.add(str(json.loads(raw)["a"][0]))
    for key in client.scan_iter(c.step_lock_key("*")):
        holder = client.get(key)
        if holder is not None and holder.decode().startswith(worker_id + "|"):
            models.add(key.decode().removeprefix(c.step_lock_key("")))
    return {m for m in models if m in MODELS}


def _recovery(
    call_times: dict[str, list[float]], models: set[str], killed_at: float
) -> dict[str, float]:
    """Seconds from the kill to each model's first call after it (inf: none)."""
    return {
        m: min((t - killed_at for t in call_times.get(m, []) if t > killed_at), default=1e9)
        for m in models
    }


def _run(
    *,
    replacement: bool,
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    # Each answer takes 0.5 s, so calls are in flight; a reload takes 6 s.
    sim = start_simulator("--reload-seconds", "6", "--latency", "0.5")
    env = worker_env(redis_url, sim.base_url, RELOAD_WARM_SECONDS="6", RELOAD_MAX_IN_FLIGHT="4")
    victim = start_worker(env, concurrency=3)
    survivor = None if replacement else start_worker(env, concurrency=3)
    client = redis.Redis.from_url(redis_url)
    try:
        victim_id = _worker_id(client, victim)
        with WebhookReceiver() as hook:
            batch_id = producer.send_task(
                "warmup_batch", args=[MODELS], kwargs={"callback_url": hook.url}
            ).get(timeout=30)
            # Given the victim holds tasks with calls in flight...
            wait_until(
                lambda: len(_models_in_hand(client, victim_id)) >= 2,
                timeout=30,
                what="the victim holding models",
            )
            in_hand = _models_in_hand(client, victim_id)
            killed_at = time.time()
            victim.kill()  # ...when it dies without a word...
            in_hand |= _models_in_hand(client, victim_id)
            assert not victim.running()
            if replacement:
                survivor = start_worker(env, concurrency=3, wait=False)

            # ...then the batch completes, and each of its models was called again soon.
            summary = producer.AsyncResult(batch_id).get(timeout=120)
            time.sleep(3)  # past a backstop period: the callback does not fire again
            bodies = list(hook.bodies)

        seen = ledger_of(sim)
        recovery = _recovery(seen["call_times_per_model"], in_hand, killed_at)
        worst = max(recovery.values())
        print(
            f"\n[kill, replacement={replacement}] in hand={len(in_hand)} "
            f"recovery per model (s)={ {m: round(s, 1) for m, s in sorted(recovery.items())} } "
            f"worst={worst:.1f}s"
        )
        assert survivor is not None and survivor.running()
        assert worst <= RECOVERY_LIMIT, f"a model waited {worst:.1f}s: {recovery}"
        assert sorted(summary["warm"]) == MODELS, summary  # nothing lost, every model warm
        assert summary["failed"] == {}
        assert [b["batch_id"] for b in bodies] == [batch_id]  # the callback fired once
        assert seen["reloads_started"] == dict.fromkeys(MODELS, 1)  # no model reloaded twice
        assert "took over" in survivor.log()
        assert victim_id in survivor.log()  # the log says from whom
        assert_no_lease_past_expiry(client)
    finally:
        client.close()


def test_sigkill_one_of_two_workers_mid_batch(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    _run(
        replacement=False,
        redis_url=redis_url,
        start_simulator=start_simulator,
        start_worker=start_worker,
        producer=producer,
    )


def test_sigkill_the_only_worker_and_start_a_replacement(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    _run(
        replacement=True,
        redis_url=redis_url,
        start_simulator=start_simulator,
        start_worker=start_worker,
        producer=producer,
    )
