"""Where Redis's memory goes while a batch is in flight: a time series and a breakdown by key.

Runs the scale scenario's setup (two workers of 4 pool processes, a fresh
embedded Redis, the simulator) with a reload time long enough that no model
becomes warm during the probe, enqueues one batch of ``--models`` and prints,
every second, ``used_memory`` per model above the level before the enqueue,
the queue's length and the unacked count; then ``MEMORY USAGE`` summed per key
family (bytes per model) and the largest clients. Every process it starts is
stopped by its pid.

    .venv/bin/python -m bench.redis_memory --models 2000 --seconds 30
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import redis

from bench.harness import API_KEY, model_ids, start_project_workers, worker_env
from bench.scenarios import scenarios
from sandbox.embedded_redis import EmbeddedRedis
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from worker.client import QUEUE, client_app

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def family(key: str) -> str:
    """A key's family: its name with ids replaced (``reload:flight:*``, ``celery-task-meta-*``)."""
    if key.startswith("reload:"):
        return ":".join(key.split(":")[:2]) + ":*"
    return _UUID.sub("*", key)


def breakdown(client: redis.Redis, models: int) -> list[tuple[str, int, float]]:
    """(family, keys, bytes per model) by ``MEMORY USAGE``, largest first."""
    size: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    for raw in client.scan_iter(count=1000):
        name = family(raw.decode(errors="replace"))
        size[name] += int(client.memory_usage(raw, samples=0) or 0)
        keys[name] += 1
    return [(name, keys[name], total / models) for name, total in size.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to sample")
    args = parser.parse_args()
    scale = next(s for s in scenarios(quick=False) if s.name == "4-scale")
    scale = dataclasses.replace(scale, models=args.models, reload_s=args.seconds + 120)
    log_dir = Path(tempfile.mkdtemp(prefix="redis-memory-"))
    with SimulatorProcess(scale.sim_args(API_KEY)) as sim:
        server = EmbeddedRedis().start()
        client = redis.Redis.from_url(server.url)
        workers: list[CeleryProcess] = []
        try:
            env = worker_env(scale, server.url, sim.base_url)
            start_project_workers(workers, env, ("probe-a", "probe-b"), log_dir)
            producer = client_app(server.url, server.url, name="redis-memory")
            before = int(client.info("memory")["used_memory"])
            started = time.monotonic()
            producer.send_task("warmup_batch", args=[model_ids(args.models)])
            print("s      B/model  queued  unacked  upstream calls")
            while (elapsed := time.monotonic() - started) < args.seconds:
                used = int(client.info("memory")["used_memory"])
                calls = httpx.get(f"{sim.base_url}/_sim/ledger", timeout=10).json()["calls_total"]
                print(
                    f"{elapsed:5.1f}  {(used - before) / args.models:7.0f}  "
                    f"{client.llen(QUEUE):6d}  {client.hlen('unacked'):7d}  {calls:6d}",
                    flush=True,
                )
                time.sleep(1.0)
            print("\nkey family                                keys   B/model")
            for name, count, per_model in breakdown(client, args.models):
                print(f"{name[:40]:40s} {count:6d}  {per_model:8.1f}")
            print("\nlargest clients (tot-mem bytes, last command):")
            clients = sorted(client.client_list(), key=lambda c: -int(c.get("tot-mem", 0)))
            for info in clients[:3]:
                print(f"  {info.get('tot-mem')}  {info.get('cmd')}")
            producer.close()
        finally:
            for worker in workers:
                worker.terminate()
            client.close()
            server.stop()


if __name__ == "__main__":
    main()
