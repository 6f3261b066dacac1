"""Sliding window: hammered from threads and processes, no rate_period window holds > rate_count.

Every worker acquires in a tight loop and releases right after each grant, so
only the rate binds. All grant times (Redis TIME) are collected and every
window starting at a grant is checked.
"""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.unit.support.stores import Store, make_limiter
from worker.limiter import Go, Limiter

RATE_COUNT = 5
RATE_PERIOD = 0.5
SKEW = 0.05
DURATION = 4.0  # ~40 grants spread over 7 hammers: every process gets some (2 s gave ~20: flaky)
THREADS = 4
PROCESSES = 3

# One hammering worker in its own interpreter with its own Redis client. It says
# "ready" once imported and connected, starts on "go", and prints its grant times.
WORKER = """
import json, sys, time
import redis
from worker.limiter import Go, Limiter

url, scope, rate_count, period, skew, duration = sys.argv[1:]
limiter = Limiter(redis.Redis.from_url(url), scope, rate_count=int(rate_count),
                  rate_period=float(period), max_in_flight=1000, lease_seconds=10.0,
                  skew=float(skew))
print("ready", flush=True)
sys.stdin.readline()
grants = []
deadline = time.monotonic() + float(duration)
while time.monotonic() < deadline:
    decision = limiter.acquire()
    if isinstance(decision, Go):
        grants.append(decision.at)
        limiter.release(decision.lease)
    else:
        time.sleep(min(decision.seconds, 0.005))
print(json.dumps(grants), flush=True)
"""


def hammer(limiter: Limiter, grants: list[float], duration: float) -> None:
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        decision = limiter.acquire()
        if isinstance(decision, Go):
            grants.append(decision.at)
            limiter.release(decision.lease)
        else:
            time.sleep(min(decision.seconds, 0.005))


def busiest_window(times: list[float], width: float) -> int:
    """The most grants in any half-open window [t, t + width) that starts at a grant."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + width) - i for i, t in enumerate(times))


def hammer_from_threads(store: Store, scope: str) -> list[list[float]]:
    per_thread: list[list[float]] = [[] for _ in range(THREADS)]
    threads = [
        threading.Thread(
            target=hammer,
            args=(
                make_limiter(
                    store.new_client(),
                    scope,
                    rate_count=RATE_COUNT,
                    rate_period=RATE_PERIOD,
                    skew=SKEW,
                    max_in_flight=1000,
                ),
                per_thread[i],
                DURATION,
            ),
        )
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_thread


def assert_sliding_window_holds(grants: list[float]) -> None:
    # The contract: no rate_period window holds more than rate_count grants.
    assert busiest_window(grants, RATE_PERIOD) <= RATE_COUNT
    # What is enforced is stronger: the same holds over rate_period + skew.
    assert busiest_window(grants, RATE_PERIOD + SKEW - 1e-5) <= RATE_COUNT
    # And the limiter does not starve: close to rate_count per window was granted.
    expected = RATE_COUNT * DURATION / (RATE_PERIOD + SKEW)
    assert len(grants) >= 0.7 * expected, (len(grants), expected)


def test_given_threads_hammering_one_scope_then_no_window_exceeds_the_rate(store: Store) -> None:
    per_thread = hammer_from_threads(store, "hammered")

    grants = [t for thread_grants in per_thread for t in thread_grants]
    assert_sliding_window_holds(grants)
    assert sum(1 for thread_grants in per_thread if thread_grants) >= 2


def test_given_processes_and_threads_hammering_one_scope_then_no_window_exceeds_the_rate(
    store: Store,
) -> None:
    store.skip_unless_real("an in-memory fake cannot be shared by separate processes")
    url = store.client.connection_pool.connection_kwargs
    redis_url = f"redis://{url['host']}:{url['port']}/{url['db']}"
    repo = Path(__file__).resolve().parents[3]
    args = [redis_url, "hammered", str(RATE_COUNT), str(RATE_PERIOD), str(SKEW), str(DURATION)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=repo,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        per_thread = hammer_from_threads(store, "hammered")
        per_process = [json.loads(proc.communicate(timeout=30)[0]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()  # reaps it and closes its pipes

    assert all(proc.returncode == 0 for proc in procs)
    grants = [t for group in per_thread + per_process for t in group]
    assert_sliding_window_holds(grants)
    # Several processes really competed for the same budget.
    assert sum(1 for group in per_process if group) >= 2


def test_busiest_window_counts_a_half_open_window() -> None:
    assert busiest_window([0.0, 0.1, 0.5, 0.6], 0.5) == 2
    assert busiest_window([0.0, 0.1, 0.2], 0.5) == 3
