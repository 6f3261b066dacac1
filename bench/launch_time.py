"""``python -m bench.launch_time [--models N] [--runs R]``: how long a batch takes to start.

``launch_batch`` (the body of ``warmup_batch``) checks the ids, records the batch's ledger
and builds its chord, which parks one ``reload_model`` job per model. It runs here in this
process, on a fresh embedded Redis per run, as in a pool process (``task_join_will_block``
on), and prints the seconds each launch took and the jobs it parked. With one round trip
per park, 10,000 models took 3.6 s on an idle 2-core host; with the parks gathered in
pipelines (``ParkingLot.gathered``), 1.9 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import redis

from sandbox.embedded_redis import EmbeddedRedis
from worker import constants as c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    server = EmbeddedRedis().start()
    os.environ["REDIS_URL"] = server.url  # read as the app is imported, below
    os.environ.setdefault("STABLEDIFFUSION_API_KEY", "bench-launch-time-key")
    try:
        from celery.result import denied_join_result

        from tasks.batch import launch_batch

        client = redis.Redis.from_url(server.url)
        ids = [f"m-{i:05d}" for i in range(options.models)]
        for run in range(1, options.runs + 1):
            client.flushall()
            with denied_join_result():  # as in a pool process: no result is waited for
                started = time.perf_counter()
                launch_batch(ids, None, request_id=f"launch-{run}")
                took = time.perf_counter() - started
            parked = int(client.zcard(c.DUE_KEY))
            print(
                f"run {run}: {options.models} models launched in {took:.2f} s, "
                f"{parked} jobs parked (one per model, and the backstop)"
            )
        client.close()
    finally:
        server.close()
    # The chord's result objects (Celery's, in this process) would unsubscribe from the
    # stopped Redis as the interpreter collects them, each with a traceback: leave now.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
