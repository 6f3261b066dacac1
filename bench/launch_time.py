"""``python -m bench.launch_time [--models N] [--runs R]``: how long a batch takes to start.

``launch_batch`` (the body of ``warmup_batch``) checks the ids, records the batch's ledger
and builds its chord, which parks one ``reload_model`` job per model. It runs here in this
process, as in a pool process (``task_join_will_block`` on), on an embedded Redis emptied
before each run, and prints the seconds each launch took, when its first job was parked
(its model can start then) and the jobs it parked. 10,000 models on an idle 2-core host:
one round trip per park, 3.5 s, the first parked after 0.6 s; the parks gathered in
pipelines (``ParkingLot.gathered``), 1.9 s; the header a generator too (Celery builds no
GroupResult of the whole header first), 2.2 s, the first parked after 0.03 s. On another
2-core host: 3.41-3.48 s, then 1.39-1.51 s once a group applied in a task no longer
subscribes to each member's result (``ResultBackend.add_pending_result``).
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
            seconds, micros = client.time()
            redis_start = seconds + micros / 1e6
            with denied_join_result():  # as in a pool process: no result is waited for
                started = time.perf_counter()
                launch_batch(ids, None, request_id=f"launch-{run}")
                took = time.perf_counter() - started
            parked = int(client.zcard(c.DUE_KEY))
            first = client.zrange(c.DUE_KEY, 0, 0, withscores=True)[0][1] - redis_start
            print(
                f"run {run}: {options.models} models launched in {took:.2f} s, the first "
                f"parked after {first:.2f} s; {parked} jobs parked (a model each, a backstop)"
            )
        client.close()
    finally:
        server.close()
    # Celery's result objects in this process may still talk to the stopped Redis as the
    # interpreter collects them, each with a traceback: leave now.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
