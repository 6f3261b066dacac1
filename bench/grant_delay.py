"""``python -m bench.grant_delay``: how late a call reaches the upstream after it is counted.

The limiter's window holds, per grant, the time the grant counts from; the
upstream counts arrivals. A call that arrives ``d`` seconds after the time it
is counted from needs a margin (the window's ``skew``) of the spread of ``d``.
Counted from the send (``STARTED``), ``d`` was 1-27 ms with the host busy and
up to 70 ms beside two spinning processes, more than the old 50 ms margin
(the 51 calls in one second seen once at 50/s); counted from the answer
(``RELEASE``/``RENEW``, now), ``d`` is negative for every call: each arrived
before the time it is counted from, whatever the CPU load.

It runs scenario 1's limits (50/s, 10 in flight) with the project's workers
on a fresh Redis and simulator, reads the calls set every 0.2 s (a grant
stays there for a window, so its last time is seen), matches the counted
times with the simulator's arrival times in order, and prints the
distribution of ``arrival - counted``. ``--cpu-load N`` runs N busy
processes beside it (stopped by pid).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import redis

from bench.harness import API_KEY, ledger_of, model_ids, start_project_workers, worker_env
from bench.scenarios import scenarios
from sandbox.embedded_redis import EmbeddedRedis
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from worker.client import client_app
from worker.runtime import key_scope

__all__ = ["busy_processes", "delays", "main"]

BUSY = "while True: pass"


def busy_processes(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes that spin on a core each until killed (by their pid)."""
    return [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(count)]


def delays(counted: list[float], arrived: list[float]) -> list[float]:
    """``arrival - counted`` per call, the two lists matched in time order."""
    return [a - c for c, a in zip(sorted(counted), sorted(arrived), strict=False)]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grant_delay", description=__doc__)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--cpu-load", type=int, default=0, help="busy processes beside the run")
    args = parser.parse_args(argv)
    scenario = replace(scenarios(quick=True)[0], models=args.models, timeout_s=300)
    seen: dict[bytes, float] = {}
    stop = threading.Event()
    server = EmbeddedRedis().start()
    workers: list[CeleryProcess] = []
    busy: list[subprocess.Popen[bytes]] = []
    client = redis.Redis.from_url(server.url)
    calls_key = f"reload:limiter:{key_scope(API_KEY)}:calls"

    def watch() -> None:
        while not stop.is_set():
            for member, score in client.zrange(calls_key, 0, -1, withscores=True):
                seen[member] = max(seen.get(member, 0.0), score)
            stop.wait(0.2)

    try:
        with SimulatorProcess(scenario.sim_args(API_KEY)) as sim:
            env = worker_env(scenario, server.url, sim.base_url)
            log_dir = Path(tempfile.mkdtemp(prefix="grant-delay-"))
            start_project_workers(workers, env, ["delay-a", "delay-b"], log_dir)
            busy = busy_processes(args.cpu_load)
            producer = client_app(server.url, server.url, name="grant-delay")
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            batch_id = producer.send_task("warmup_batch", args=[model_ids(args.models)]).get(60)
            producer.AsyncResult(batch_id).get(timeout=scenario.timeout_s)
            time.sleep(0.5)
            stop.set()
            watcher.join(5)
            producer.close()
            ledger = ledger_of(sim)
    finally:
        stop.set()
        for child in busy:
            child.kill()
            child.wait(5)
        for worker in workers:
            worker.kill()
        client.close()
        server.close()
    arrived = [t for times in ledger["call_times_per_model"].values() for t in times]
    found = delays(list(seen.values()), arrived)
    ms = [d * 1000 for d in found]
    print(
        f"{len(seen)} grants counted, {len(arrived)} calls arrived, cpu load {args.cpu_load}: "
        f"arrival - counted ms: min {min(ms):.1f}, p50 {_percentile(ms, 0.5):.1f}, "
        f"p99 {_percentile(ms, 0.99):.1f}, p99.9 {_percentile(ms, 0.999):.1f}, "
        f"max {max(ms):.1f}, spread {max(ms) - min(ms):.1f}; "
        f"upstream's max calls in one second: {ledger['max_calls_in_any_second']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
