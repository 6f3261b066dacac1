"""How many reload calls per second the upstream simulator sustains.

Starts ``reloadctl sim`` (latency 0, no faults) in a child process, then runs a
load generator in a second child process: an aiohttp ClientSession with
``--connections`` concurrent keep-alive connections posting reload calls for
``--duration`` seconds (after an uncounted ``--warmup``). Prints one JSON object:
sustained requests per second, p50/p99 latency, the HTTP statuses seen and the
simulator's own count of calls (its ledger) as a cross-check. The simulator is
stopped by its pid.

    .venv/bin/python bench/sim_throughput.py --connections 64 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections import Counter

import aiohttp
import httpx

from sandbox.sim.process import SimulatorProcess

KEY = "bench-key"


async def _generate(
    url: str, connections: int, duration: float, warmup: float, models: int
) -> dict[str, object]:
    bodies = [json.dumps({"key": KEY, "model_id": f"model-{i}"}).encode() for i in range(models)]
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        i = index
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                return
            try:
                async with session.post(url, data=bodies[i % models], headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as exc:
                errors[type(exc).__name__] += 1
                continue
            done = time.perf_counter()
            if sent >= measure_from and done <= stop_at:
                latencies.append(done - sent)
                statuses[status] += 1
            i += connections

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(n, session) for n in range(connections)))
    latencies.sort()
    count = len(latencies)
    return {
        "connections": connections,
        "duration_s": duration,
        "requests": count,
        "req_per_s": round(count / duration, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3) if count else None,
        "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 3) if count else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "client_errors": dict(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds first")
    parser.add_argument("--models", type=int, default=1000, help="distinct model ids called")
    parser.add_argument("--generate", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (1 <= args.connections <= 1024 and 0 < args.duration <= 600 and args.models >= 1):
        parser.error("need 1..1024 connections, a duration in (0, 600] s and at least one model")

    if args.generate:  # the load-generator child
        result = asyncio.run(
            _generate(args.generate, args.connections, args.duration, args.warmup, args.models)
        )
        print(json.dumps(result))
        return 0

    sim_args = ["--key", KEY, "--warm-fraction", "0.5", "--reload-seconds", "120"]
    with SimulatorProcess(sim_args) as sim:
        generator = subprocess.run(
            [
                sys.executable,
                __file__,
                "--generate",
                f"{sim.base_url}/model_reload",
                "--connections",
                str(args.connections),
                "--duration",
                str(args.duration),
                "--warmup",
                str(args.warmup),
                "--models",
                str(args.models),
            ],
            capture_output=True,
            text=True,
            timeout=args.warmup + args.duration + 60,
            check=False,
        )
        ledger = httpx.get(f"{sim.base_url}/_sim/ledger", timeout=10).json()
    if generator.returncode != 0:
        print(generator.stderr, file=sys.stderr)
        return 1
    result = json.loads(generator.stdout)
    result["simulator"] = {
        "calls_total": ledger["calls_total"],
        "max_calls_in_any_second": ledger["max_calls_in_any_second"],
        "answers": ledger["answers"],
        "exit_code": sim.returncode,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
