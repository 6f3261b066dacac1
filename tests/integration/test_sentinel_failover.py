"""Given a batch in progress on two workers that reach Redis through three Sentinels, when the
master is SIGKILLed and the sentinels promote its replica, the batch completes all warm on the
same worker processes, no model fails, and the callback fires once.

The group is ``sandbox.embedded_redis.SentinelGroup``: a master (append-only), one replica
and three sentinels (``down-after-milliseconds`` 1000, ``failover-timeout`` 3000), each on a
free port and stopped by its own pid; the session's Redis is not touched. The workers, the
producer and the test itself all use the sentinel URL (``REDIS_URL=sentinel://...;...``):
the broker, the result backend and the shared state follow the failover together.

Replication is asynchronous: what the master acknowledged in its last moments may never
have reached the replica. A model whose last writes were lost is either carried on by its
parked task or dispatched again by the reconciler; it may be called again, but it is never
lost and never failed for the failover. The promoted replica never ran this project's Lua
scripts (scripts replicate as their effects), so every script holder reloads its scripts
on NOSCRIPT.

Recovery is measured from the kill to the next upstream call (the simulator's ledger keeps
each call's wall time) and printed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from sandbox.embedded_redis import SentinelGroup
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import API_KEY, ledger_of, worker_env
from tests.integration.reliability import (
    child_pids,
    launch_until_a_third_called,
    result_of,
)
from tests.integration.webhook_receiver import WebhookReceiver
from worker.client import client_app
from worker.redis_url import SentinelOptions, connect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MODELS = [f"ha-{i:02d}" for i in range(24)]
MASTER = "mymaster"


@dataclass
class Failover:
    """What the failover left behind, for the tests to check."""

    before: dict[str, int]  # the batch's counts when the master was killed
    promoted_after: float  # seconds from the kill until every sentinel named the replica
    recovery: float  # seconds from the kill to the next upstream call
    summary: dict[str, Any]
    batch_id: str
    status: bytes | None
    bodies: list[dict[str, Any]]
    seen: dict[str, Any]
    processes: dict[int, tuple[bool, set[int]]]  # worker pid -> (running, its pool's pids)
    processes_after: dict[int, tuple[bool, set[int]]]
    logs: list[str]
    master_port: int
    new_master_port: int
    replica_port: int


def producer_for(url: str) -> Celery:
    """An outside service's Celery client on the sentinels: it needs only the master's name."""
    app = client_app(url, url, name="producer")
    options = SentinelOptions(MASTER).transport_options()
    app.conf.broker_transport_options = options
    app.conf.result_backend_transport_options = options
    return app


def _run(log_dir: Path) -> Failover:
    group = SentinelGroup(replicas=1, sentinels=3, down_after=1000, failover_timeout=3000)
    sim = SimulatorProcess(["--key", API_KEY, "--reload-seconds", "5", "--latency", "0.3"])
    workers: list[CeleryProcess] = []
    group.start()
    try:
        sim.start()
        env = worker_env(
            group.url,
            sim.base_url,
            REDIS_SENTINEL_MASTER=MASTER,
            RELOAD_WARM_SECONDS="2",
            RELOAD_DEADLINE_SECONDS="300",
        )
        for n in (1, 2):
            workers.append(
                CeleryProcess.worker(env, name=f"w{n}", log_dir=log_dir, concurrency=3).start()
            )
        for worker in workers:
            worker.wait_for_log("ready.", timeout=60)
        return _failover(group, sim, workers, _processes(workers))
    finally:
        for worker in workers:
            worker.terminate(timeout=15)
        sim.stop()
        group.close()


def _processes(workers: list[CeleryProcess]) -> dict[int, tuple[bool, set[int]]]:
    return {w.pid: (w.running(), child_pids(w.pid)) for w in workers}


def _failover(
    group: SentinelGroup,
    sim: SimulatorProcess,
    workers: list[CeleryProcess],
    processes: dict[int, tuple[bool, set[int]]],
) -> Failover:
    producer = producer_for(group.url)
    client = connect(group.url, SentinelOptions(MASTER), socket_timeout=5)
    master_port, replica_port = group.master.port, group.replicas[0].port
    try:
        with WebhookReceiver() as hook:
            # Given a third of the models called, and the batch far from done...
            batch_id = launch_until_a_third_called(producer, sim, MODELS, callback_url=hook.url)
            counts = client.hgetall(f"reload:batch:{batch_id}:counts")
            before = {k.decode(): int(v) for k, v in counts.items() if int(v)}

            # ...when the master is SIGKILLed (by its own pid)...
            assert group.master.pid is not None
            killed_at = time.time()
            os.kill(group.master.pid, signal.SIGKILL)
            group.master.stop()  # reaps it only: it has exited
            # ...and the sentinels promote the replica...
            new_master_port = group.wait_for_new_master(master_port, timeout=30)
            promoted_after = time.time() - killed_at

            # ...then the batch completes, on the same workers.
            summary = result_of(producer, batch_id, timeout=150, every=0.5)
            time.sleep(4)  # past another backstop period: the callback does not fire again
            bodies = list(hook.bodies)
            seen = ledger_of(sim)
            status = client.hget(f"reload:batch:{batch_id}", "status")
    finally:
        client.close()
        producer.close()
    after = sorted(t for times in seen["call_times_per_model"].values() for t in times)
    next_call = next((t for t in after if t > killed_at), None)
    assert next_call is not None, "no upstream call after the kill"
    failover = Failover(
        before=before,
        promoted_after=promoted_after,
        recovery=next_call - killed_at,
        summary=summary,
        batch_id=batch_id,
        status=status,
        bodies=bodies,
        seen=seen,
        processes=processes,
        processes_after=_processes(workers),
        logs=[w.log() for w in workers],
        master_port=master_port,
        new_master_port=new_master_port,
        replica_port=replica_port,
    )
    calls = seen["calls_per_model"]
    print(
        f"\n[sentinel failover] when the master went: {before}; sentinels promoted the "
        f"replica {promoted_after:.1f}s after the kill; next upstream call "
        f"{failover.recovery:.1f}s after the kill; upstream calls {seen['calls_total']} "
        f"(max per model {max(calls.values())}), reloads started "
        f"{sum(seen['reloads_started'].values())} for {len(MODELS)} models"
    )
    return failover


@pytest.fixture(scope="module")
def failover(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Failover]:
    """The scenario, run once for every test of this module."""
    yield _run(tmp_path_factory.mktemp("sentinel") / "logs")


def test_the_sentinels_promote_the_replica(failover: Failover) -> None:
    assert failover.new_master_port == failover.replica_port != failover.master_port


def test_the_batch_completes_all_warm_and_no_model_fails(failover: Failover) -> None:
    before = failover.before
    assert before.get("warm", 0) + before.get("failed", 0) < len(MODELS) // 2, before
    assert failover.status == b"done"
    assert sorted(failover.summary["warm"]) == MODELS, failover.summary
    assert failover.summary["failed"] == {}  # no model failed for the failover
    assert set(failover.seen["calls_per_model"]) == set(MODELS)


def test_the_callback_fires_once(failover: Failover) -> None:
    assert [body["batch_id"] for body in failover.bodies] == [failover.batch_id]
    assert sorted(failover.bodies[0]["warm"]) == MODELS


def test_the_same_worker_processes_carry_on(failover: Failover) -> None:
    # The same worker pids, each still running, with the same pool processes.
    assert failover.processes_after == failover.processes
    assert all(running for running, _ in failover.processes.values())
    for log in failover.logs:
        for bad in ("Unrecoverable error", "exited prematurely", "raised unexpected"):
            assert bad not in log, log[-3000:]
