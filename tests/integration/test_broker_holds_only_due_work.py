"""Given 1,500 models loading for 25 s through two workers, the broker holds only work due now.

Issue 10's check: waits are parked in Redis (``reload:due`` + ``reload:jobs``) and
each worker's pump publishes only what is due, with flow control. So while 1,500
models load for 25 s, the broker's queue plus its unacked hash never hold more
than 2 messages per pool slot of the fleet, the workers' memory does not grow
with the batch (PSS of the fleet +100 MB at most), every model ends warm after
exactly one reload, and nothing is left parked at the end.

Real Redis, the simulator over HTTP, two real ``celery -A worker worker``
processes (prefork, 4 pool processes each: 8 pool slots), a producer that
enqueues by name. The test samples Redis from its own client every 0.2 s and the
PSS of each worker's process tree (main process plus pool) every second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import mean

import pytest
import redis
from celery import Celery

from bench.measure import _tree_memory
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import wait_until
from worker import constants as c
from worker.client import QUEUE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

MODELS = [f"flow-{i:04d}" for i in range(1500)]
RELOAD_SECONDS = 25
CONCURRENCY = 4  # pool processes per worker
WORKERS = 2
SLOTS = WORKERS * CONCURRENCY
MAX_BROKER_MESSAGES = 2 * SLOTS
MAX_PSS_GROWTH = 100 * 2**20  # bytes: the fleet's peak PSS over its PSS when ready
BROKER_EVERY = 0.2  # seconds between two counts of the broker's messages
PSS_EVERY = 1.0  # seconds between two PSS samples of the workers
MIB = 2**20

# How the broker's messages are counted: kombu's Redis transport keeps a queue as one
# list per priority step (the queue's own name for priority 0, "<queue>\x06\x16<n>" for
# the others), and a message a worker has received and not yet acknowledged (prefetched,
# or running: acks are late) as an entry of the "unacked" hash. Every message counts the
# same: the reloads, the warmup_batch message itself (unacked while it runs), the chord's
# callback and the batch's backstop. Lists and hash are read in one MULTI, so a message
# moving from a list to the hash is never counted twice.
QUEUE_LISTS = [QUEUE, *(f"{QUEUE}\x06\x16{n}" for n in range(10))]
UNACKED = "unacked"


@dataclass
class Samples:
    """What the sampler saw; ``broker_max`` is ``(total, in queue lists, unacked)``."""

    broker_max: tuple[int, int, int] = (0, 0, 0)
    broker_samples: int = 0
    pss_peak: dict[int, int] = field(default_factory=dict)  # worker pid -> peak PSS (bytes)
    fleet_pss_peak: int = 0
    pss_samples: int = 0
    unknown_lists: set[str] = field(default_factory=set)
    parked_max: int = 0


def broker_messages(client: redis.Redis) -> tuple[int, int, int]:
    """``(total, in the queue's lists, unacked)``: the messages the broker holds now."""
    pipe = client.pipeline(transaction=True)
    for key in QUEUE_LISTS:
        pipe.llen(key)
    pipe.hlen(UNACKED)
    *lengths, unacked = pipe.execute()
    queued = sum(lengths)
    return queued + unacked, queued, unacked


def pss_of(pid: int) -> int:
    """PSS (bytes) of a worker's process tree: its main process and its pool."""
    return _tree_memory(pid)[1]


def leftovers(client: redis.Redis) -> dict[str, int]:
    """Parked, claimed or published jobs still recorded (every lane of the due set)."""
    found = {key.decode(): int(client.zcard(key)) for key in client.scan_iter("reload:due*")}
    found[c.JOBS_KEY] = int(client.hlen(c.JOBS_KEY))
    found[c.SENDING_KEY] = int(client.zcard(c.SENDING_KEY))
    found[c.SENT_KEY] = int(client.zcard(c.SENT_KEY))
    return {key: n for key, n in found.items() if n}


class Sampler:
    """In a thread: broker counts every ``BROKER_EVERY`` s, worker PSS every ``PSS_EVERY`` s."""

    def __init__(self, client: redis.Redis, pids: list[int]) -> None:
        self.client = client
        self.pids = pids
        self.samples = Samples(pss_peak=dict.fromkeys(pids, 0))
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flow-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        next_pss = 0.0
        try:
            while not self._stop.is_set():
                self._broker()
                if time.monotonic() >= next_pss:
                    next_pss = time.monotonic() + PSS_EVERY
                    self._pss()
                    self._lists()
                self._stop.wait(BROKER_EVERY)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc

    def _broker(self) -> None:
        s = self.samples
        s.broker_max = max(s.broker_max, broker_messages(self.client))
        s.broker_samples += 1
        s.parked_max = max(s.parked_max, int(self.client.zcard(c.DUE_KEY)))

    def _pss(self) -> None:
        s = self.samples
        trees = {pid: pss_of(pid) for pid in self.pids}
        for pid, pss in trees.items():
            s.pss_peak[pid] = max(s.pss_peak[pid], pss)
        s.fleet_pss_peak = max(s.fleet_pss_peak, sum(trees.values()))
        s.pss_samples += 1

    def _lists(self) -> None:
        """Any other list named like the queue would hold messages this count misses."""
        for key in self.client.scan_iter(match=f"{QUEUE}*", _type="list"):
            name = key.decode(errors="replace")
            if name not in QUEUE_LISTS:
                self.samples.unknown_lists.add(name)


def test_1500_models_loading_through_two_workers_keep_the_broker_small(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", str(RELOAD_SECONDS), "--latency", "0.05")
    env = worker_env(
        redis_url,
        sim.base_url,
        RELOAD_RATE_LIMIT="200/s",
        RELOAD_MAX_IN_FLIGHT="20",
        RELOAD_WARM_SECONDS=str(RELOAD_SECONDS),  # one call to start, one ~25 s later to confirm
        RELOAD_DEADLINE_SECONDS="300",
        RELOAD_READ_TIMEOUT="10",
    )
    workers = [start_worker(env, concurrency=CONCURRENCY) for _ in range(WORKERS)]
    client = redis.Redis.from_url(redis_url)
    try:
        pss_before = {w.pid: pss_of(w.pid) for w in workers}
        assert all(pss > 0 for pss in pss_before.values()), f"PSS not readable: {pss_before}"

        with Sampler(client, [w.pid for w in workers]) as sampler:
            started = time.monotonic()
            batch_id = producer.send_task("warmup_batch", args=[MODELS]).get(timeout=120)
            summary = producer.AsyncResult(batch_id).get(timeout=480)
            elapsed = time.monotonic() - started
            # The batch's backstop runs once more after the batch is done, then ends:
            # from then on nothing may be parked, claimed or waiting in the broker.
            wait_until(
                lambda: not leftovers(client) and broker_messages(client)[0] == 0,
                timeout=60,
                what="the parked jobs and the broker to empty",
                every=0.2,
            )
        assert sampler.error is None, f"the sampler failed: {sampler.error!r}"
        samples = sampler.samples

        seen = ledger_of(sim)
        calls = [seen["calls_per_model"].get(m, 0) for m in MODELS]
        total, queued, unacked = samples.broker_max
        growth = samples.fleet_pss_peak - sum(pss_before.values())
        print(
            f"\n[flow] max broker messages {total} (queue lists {queued} + unacked {unacked}; "
            f"limit {MAX_BROKER_MESSAGES} = 2 x {SLOTS} pool slots), "
            f"{samples.broker_samples} samples every {BROKER_EVERY}s; "
            f"at most {samples.parked_max} jobs parked"
        )
        for i, w in enumerate(workers, 1):
            before, peak = pss_before[w.pid], samples.pss_peak[w.pid]
            print(
                f"[flow] worker {i} (pid {w.pid}, {CONCURRENCY} pool processes): PSS before "
                f"{before / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB (+{(peak - before) / MIB:.1f})"
            )
        print(
            f"[flow] fleet PSS before {sum(pss_before.values()) / MIB:.1f} MiB, peak "
            f"{samples.fleet_pss_peak / MIB:.1f} MiB: growth {growth / MIB:.1f} MiB "
            f"(limit {MAX_PSS_GROWTH / MIB:.0f}), {samples.pss_samples} samples"
        )
        print(
            f"[flow] {len(MODELS)} models: {elapsed:.1f}s from enqueue to summary "
            f"(summary duration_s {summary['duration_s']:.1f}, reload {RELOAD_SECONDS}s); "
            f"calls per model min {min(calls)} mean {mean(calls):.2f} max {max(calls)}, "
            f"{seen['calls_total']} upstream calls"
        )

        assert sorted(summary["warm"]) == MODELS
        assert summary["failed"] == {}
        assert seen["reloads_started"] == dict.fromkeys(MODELS, 1)  # no model reloaded twice
        assert leftovers(client) == {}  # nothing left parked, claimed or unreceived
        assert all(w.running() for w in workers)
        assert samples.unknown_lists == set(), "queue lists this count does not read"
        assert samples.broker_samples >= 50 and samples.pss_samples >= 10, "sampler barely ran"

        assert total <= MAX_BROKER_MESSAGES, (
            f"the broker held {total} messages (queue {queued} + unacked {unacked}), "
            f"more than {MAX_BROKER_MESSAGES} = 2 per pool slot"
        )
        assert growth <= MAX_PSS_GROWTH, (
            f"the fleet's PSS grew {growth / MIB:.1f} MiB, more than {MAX_PSS_GROWTH / MIB:.0f}"
        )
    finally:
        client.close()
