"""Given a batch in progress on two workers, when Redis goes away and comes back, every model ends
warm, none fails for the outage, the same worker processes carry on, and the callback fires once.

Redis is the scenario's own ``EmbeddedRedis`` (append-only, ``appendfsync everysec``): the
broker, the result backend and the shared state at once; the session's Redis is not touched.
Injected while models load, tasks are parked and calls are in flight:

- ``stopped-10s``: a graceful stop (SIGTERM to its pid, which runs Redis's SHUTDOWN: the
  append-only file is flushed and every connection closed), 10 s with nothing listening,
  then a start on the same port with the same data directory. That is what "Redis stopped"
  means to an operator (``systemctl stop`` then ``start``, an upgrade): clients get refused
  connections, and the data is intact.
- ``sigkill-restart-at-once``: SIGKILL (no shutdown: only what the append-only file holds
  survives), then a start on the same port and data directory at once, as a supervisor
  restarts a crashed Redis.
- ``sigkill-down-10s``: SIGKILL, 10 s down, then the same start.
- ``frozen-10s-3x``: SIGSTOP, 10 s, SIGCONT, three times 3 s apart: a Redis that stalls (a
  paused VM, a swap storm) rather than stops. Connections stay open and every command
  waits; when it resumes, everything queued runs at once.

The workers' Redis client retries each command for about 20 s (``worker.producer``), so a
10 s outage is ridden out. Each scenario runs once (a module fixture) and several tests
check what it left: the batch's outcome, the in-flight cap the upstream saw, that no live
worker was declared dead, and the broker messages left for the visibility sweep.

This replaces ``test_redis_restart.py`` (a SIGTERM restart of a 10-model batch), which
``stopped-10s`` covers with more models, two workers and a real outage.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu import Connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from sandbox.embedded_redis import EmbeddedRedis
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import API_KEY, ledger_of, worker_env
from tests.integration.reliability import (
    assert_no_lease_past_expiry,
    child_pids,
    launch_until_a_third_called,
    max_calls,
    result_of,
    wait_until,
)
from tests.integration.webhook_receiver import WebhookReceiver
from worker.client import client_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MODELS = [f"o-{i:02d}" for i in range(24)]
OUTAGE_SECONDS = 10.0
MAX_IN_FLIGHT = 3
UNACKED_KEY = "unacked"  # kombu's Redis transport: delivery tag -> message not yet acked


@dataclass
class Outage:
    """What one scenario left behind, for the tests to check."""

    name: str
    downs: list[float]  # seconds Redis was unreachable, each time
    before: list[dict[str, int]]  # the batch's counts each time Redis went
    parked: int  # jobs parked in Redis then
    recovered: float  # seconds from Redis's return to the batch's summary
    total: float  # seconds from the request to the summary
    batch_id: str
    summary: dict[str, Any]
    status: bytes | None
    bodies: list[dict[str, Any]]
    seen: dict[str, Any]  # the simulator's ledger
    pids: list[int]
    pids_after: list[int]
    running_after: list[bool]
    pools: dict[int, set[int]]
    pools_after: dict[int, set[int]]
    logs: list[str]
    leases_error: str  # '' when no lease was held past its expiry at the end
    left_unacked: list[str]  # "name[id]" of the messages left in the broker's unacked hash
    # After those messages were handed back to the queue, as the visibility sweep will:
    later_calls: int  # upstream calls they made
    later_bodies: list[dict[str, Any]]  # every webhook body received by then
    later_summary: dict[str, Any] | None  # the batch's stored summary then

    def count(self, text: str) -> list[int]:
        return [log.count(text) for log in self.logs]


def _unreachable(server: EmbeddedRedis) -> bool:
    probe = redis.Redis(
        port=server.port,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 0),  # one attempt: redis-py's default retries for seconds
    )
    try:
        probe.ping()
    except (redis.ConnectionError, redis.TimeoutError):  # refused, or accepted and never answered
        return True
    finally:
        probe.close()
    return False


def _stop_gracefully(server: EmbeddedRedis) -> None:
    server.stop()  # SIGTERM to its pid: Redis shuts down as on SHUTDOWN, flushing the AOF


def _kill(server: EmbeddedRedis) -> None:
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.stop()  # only reaps it: no signal is sent to a process that has exited


def _start(server: EmbeddedRedis) -> None:
    server.start()  # same port, same data directory


def _freeze(server: EmbeddedRedis) -> None:
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)


def _thaw(server: EmbeddedRedis) -> None:
    assert server.pid is not None
    os.kill(server.pid, signal.SIGCONT)


Step = Callable[[EmbeddedRedis], None]


@dataclass(frozen=True)
class Scenario:
    stop: Step
    resume: Step
    down: float  # seconds between the two
    times: int = 1  # outages, GAP_SECONDS apart
    reload_seconds: float = 5.0  # how long a model loads


GAP_SECONDS = 3.0
SCENARIOS: dict[str, Scenario] = {
    "stopped-10s": Scenario(_stop_gracefully, _start, OUTAGE_SECONDS),
    "sigkill-restart-at-once": Scenario(_kill, _start, 0.0),
    "sigkill-down-10s": Scenario(_kill, _start, OUTAGE_SECONDS),
    # Three freezes (what happens right after one ends is a race, so it is run thrice),
    # while models load for 30 s, so that the batch is still running at the third.
    "frozen-10s-3x": Scenario(_freeze, _thaw, OUTAGE_SECONDS, times=3, reload_seconds=30.0),
}


def _scenario(name: str, log_dir: Path) -> Outage:
    scenario = SCENARIOS[name]
    server = EmbeddedRedis(appendonly=True)
    sim = SimulatorProcess(
        ["--key", API_KEY, "--reload-seconds", f"{scenario.reload_seconds:g}", "--latency", "0.3"]
    )
    workers: list[CeleryProcess] = []
    server.start()
    try:
        setup = redis.Redis.from_url(server.url)
        try:
            assert setup.config_get("appendonly") == {"appendonly": "yes"}
            assert setup.config_get("appendfsync") == {"appendfsync": "everysec"}
        finally:
            setup.close()
        # A reload takes 5 s (or 30 s) and each answer 0.3 s, so that calls are in flight and
        # models loading (their tasks parked in Redis) when Redis goes. The deadline is far.
        sim.start()
        env = worker_env(
            server.url,
            sim.base_url,
            RELOAD_WARM_SECONDS="2",
            RELOAD_MAX_IN_FLIGHT=str(MAX_IN_FLIGHT),
            RELOAD_DEADLINE_SECONDS="300",
        )
        for n in (1, 2):
            worker = CeleryProcess.worker(env, name=f"w{n}", log_dir=log_dir, concurrency=3)
            workers.append(worker.start())
        for worker in workers:
            worker.wait_for_log("ready.", timeout=60)
        pids = [w.pid for w in workers]
        pools = {w.pid: child_pids(w.pid) for w in workers}
        assert all(len(pool) == 3 for pool in pools.values()), pools
        return _outage(name, server, scenario, sim, workers, pids, pools)
    finally:
        for worker in workers:
            worker.terminate(timeout=15)
        sim.stop()
        if server.pid is not None:  # a frozen server must be thawed to stop
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGCONT)
        server.close()


def _outage(
    name: str,
    server: EmbeddedRedis,
    scenario: Scenario,
    sim: SimulatorProcess,
    workers: list[CeleryProcess],
    pids: list[int],
    pools: dict[int, set[int]],
) -> Outage:
    producer = client_app(server.url, server.url, name="producer")
    client = redis.Redis.from_url(server.url)
    try:
        with WebhookReceiver() as hook:
            sent_at = time.monotonic()
            # Given a third of the models called, and the batch far from done...
            batch_id = launch_until_a_third_called(producer, sim, MODELS, callback_url=hook.url)
            before: list[dict[str, int]] = []
            downs: list[float] = []
            for n in range(scenario.times):
                if n:
                    time.sleep(GAP_SECONDS)
                counts = client.hgetall(f"reload:batch:{batch_id}:counts")
                before.append({k.decode(): int(v) for k, v in counts.items() if int(v)})
                if n == 0:
                    parked = int(client.zcard("reload:due"))

                # ...when Redis goes away...
                went_at = time.monotonic()
                scenario.stop(server)
                assert _unreachable(server)
                time.sleep(max(0.0, went_at + scenario.down - time.monotonic()))
                scenario.resume(server)
                back_at = time.monotonic()
                downs.append(back_at - went_at)

            # ...then the batch completes on the same workers.
            summary = result_of(producer, batch_id, timeout=150, every=0.5)
            done_at = time.monotonic()
            time.sleep(4)  # past another backstop period: the callback does not fire again
            bodies = list(hook.bodies)
            seen = ledger_of(sim)
            logs = [w.log() for w in workers]
            leases_error = ""
            try:
                assert_no_lease_past_expiry(client)
            except AssertionError as exc:
                leases_error = str(exc)
            status = client.hget(f"reload:batch:{batch_id}", "status")
            left = _unacked(client)

            # Messages whose ack was lost come back after the visibility timeout (15 min):
            # hand them back now, as that sweep will, and see what they do.
            _restore(server.url, left)
            for task in left.values():
                _wait_received_again(workers, f"{task} received", logs)
            wait_until(lambda: not _unacked(client), timeout=30, what="the copies acknowledged")
            time.sleep(2)
            later_seen = ledger_of(sim)
            later_bodies = list(hook.bodies)
            later_summary = producer_summary(client, batch_id)
    finally:
        client.close()
        producer.close()
    outage = Outage(
        name=name,
        downs=downs,
        before=before,
        parked=parked,
        recovered=done_at - back_at,
        total=done_at - sent_at,
        batch_id=batch_id,
        summary=summary,
        status=status,
        bodies=bodies,
        seen=seen,
        pids=pids,
        pids_after=[w.pid for w in workers],
        running_after=[w.running() for w in workers],
        pools=pools,
        pools_after={w.pid: child_pids(w.pid) for w in workers},
        logs=logs,
        leases_error=leases_error,
        left_unacked=sorted(left.values()),
        later_calls=later_seen["calls_total"] - seen["calls_total"],
        later_bodies=later_bodies,
        later_summary=later_summary,
    )
    print(
        f"\n[redis {name}] when it went: {before}, {parked} parked; down "
        f"{[round(d, 1) for d in downs]}s; "
        f"summary {outage.recovered:.1f}s after its return ({outage.total:.1f}s in all); "
        f"upstream calls {seen['calls_total']} (max per model {max_calls(seen)}), peak in "
        f"flight {max(seen['peak_concurrency_per_key'].values())}/{MAX_IN_FLIGHT}; per worker: "
        f"broker lost {outage.count('Connection to broker lost')}, "
        f"took over {outage.count('took over')}, acks lost {outage.count(ACK_LOST)}; "
        f"left unacked {outage.left_unacked}, their upstream calls once back {outage.later_calls}"
    )
    return outage


ACK_LOST = "Couldn't ack"


def _wait_received_again(workers: list[CeleryProcess], line: str, logs: list[str]) -> None:
    seen_before = sum(log.count(line) for log in logs)
    wait_until(
        lambda: sum(w.log().count(line) for w in workers) > seen_before,
        timeout=30,
        what=f"{line!r} again",
    )


def _unacked(client: redis.Redis) -> dict[str, str]:
    """Delivery tag -> "task name[task id]" of every message in the broker's unacked hash."""
    found: dict[str, str] = {}
    for tag, raw in client.hgetall(UNACKED_KEY).items():
        headers = json.loads(raw)[0]["headers"]
        found[tag.decode()] = f"{headers['task']}[{headers['id']}]"
    return found


def _restore(url: str, left: dict[str, str]) -> None:
    """Put these unacked messages back on their queue: kombu's own visibility-timeout restore."""
    with Connection(url) as connection:
        qos = connection.default_channel.qos
        for tag in left:
            qos.restore_by_tag(tag)


def producer_summary(client: redis.Redis, batch_id: str) -> dict[str, Any] | None:
    raw = client.hget(f"reload:batch:{batch_id}", "summary")
    return None if raw is None else dict(json.loads(raw))


@pytest.fixture(scope="module")
def outage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Outage:
    """Run the scenario ``request.param`` once for every test of this module that asks for it."""
    name: str = request.param
    return _scenario(name, tmp_path_factory.mktemp(name) / "logs")


ALL = list(SCENARIOS)


@pytest.mark.parametrize("outage", ALL, indirect=True)
def test_the_batch_completes_all_warm_on_the_same_workers(outage: Outage) -> None:
    first, *later = outage.before
    assert first.get("warm", 0) + first.get("failed", 0) < len(MODELS) // 2, first
    assert all(b.get("warm", 0) + b.get("failed", 0) < len(MODELS) for b in later), later
    assert outage.status == b"done"
    assert sorted(outage.summary["warm"]) == MODELS, outage.summary
    assert outage.summary["failed"] == {}  # no model failed for the outage
    assert outage.seen["reloads_started"] == dict.fromkeys(MODELS, 1)  # none reloaded twice
    assert [b["batch_id"] for b in outage.bodies] == [outage.batch_id]  # the callback, once
    assert outage.leases_error == ""
    # The same worker processes, and the same pool processes, ran it to the end...
    assert outage.pids_after == outage.pids and all(outage.running_after)
    assert outage.pools_after == outage.pools
    for log in outage.logs:
        if not outage.name.startswith("frozen"):  # a frozen Redis keeps its connections
            assert "Connection to broker lost" in log  # ...though each of them saw the outage
        for bad in ("Unrecoverable error", "exited prematurely", "raised unexpected"):
            assert bad not in log, log[-3000:]


@pytest.mark.parametrize("outage", ALL, indirect=True)
def test_no_live_worker_is_taken_over(outage: Outage) -> None:
    """Both workers live throughout: neither may be declared dead and its tasks taken over.

    A takeover of a live worker makes the tasks it has in hand due again (a second copy
    runs beside the first) and lets its step locks and limiter leases be taken. (Before
    3ceac5e the first pump back after a 10 s outage always took over the other worker.)
    """
    assert outage.count("took over") == [0, 0]


@pytest.mark.parametrize("outage", ALL, indirect=True)
def test_the_upstream_never_sees_more_than_the_in_flight_cap(outage: Outage) -> None:
    """RELOAD_MAX_IN_FLIGHT holds through the outage, and right after it.

    Right after a stall every worker's heartbeat is old until its pump beats again, and
    the limiter's ACQUIRE drops, at the cap, the leases of workers whose heartbeat is older
    than WORKER_DEAD_SECONDS: if pool processes acquire in that moment, leases granted
    milliseconds earlier are dropped and more calls go out (before 52f56fd the frozen case
    saw 4-7 of 3 in 9 runs of 10; with that rule switched off, 3 of 3 in 2 runs of 2).
    """
    peak = outage.seen["peak_concurrency_per_key"]
    assert max(peak.values()) <= MAX_IN_FLIGHT, peak


# messaging/broker.py + kombu: a task running when the broker connection drops is acked after
# the reconnect on its old, collected channel. It shows only when a task was running at the
# drop, which these outages make likely, not certain: a strict xfail failed CI on a run where
# no task was (XPASS). The test is marked xfail where the bug showed, and asserts otherwise.
ACK_BUG = (
    "messaging/broker.py + kombu: a task running when the broker connection drops is acked "
    "after the reconnect on its old, collected channel ('Couldn't ack ... the broker "
    "connection is already closed'): its message stays in kombu's unacked hash and is "
    "delivered again after the 900 s visibility timeout"
)
ACK_BUG_OUTAGES = ALL[:3]


@pytest.mark.parametrize("outage", [*ACK_BUG_OUTAGES, "frozen-10s-3x"], indirect=True)
def test_no_message_is_left_for_the_visibility_sweep(outage: Outage) -> None:
    """Every message a worker received was acked: none will come back in 15 minutes."""
    if outage.name in ACK_BUG_OUTAGES and (outage.left_unacked or any(outage.count(ACK_LOST))):
        pytest.xfail(ACK_BUG)
    assert outage.left_unacked == []
    assert outage.count(ACK_LOST) == [0, 0]


@pytest.mark.parametrize("outage", ALL, indirect=True)
def test_a_message_left_unacked_does_nothing_when_it_comes_back(outage: Outage) -> None:
    """Handed back to the queue (as the visibility sweep will), a finished task's copy makes no
    upstream call, sends no second callback, and leaves the batch's summary as it was."""
    assert outage.later_calls == 0
    assert [b["batch_id"] for b in outage.later_bodies] == [outage.batch_id]
    assert outage.later_summary == outage.summary
