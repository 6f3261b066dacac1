"""Given two workers whose clocks are 30 s ahead and 30 s behind, the rate limit, a model's
deadline and the batch's times still hold, because every shared time is Redis's.

The skew is real: each worker runs under libfaketime (Debian's ``faketime`` package:
``LD_PRELOAD=.../libfaketime.so.1 FAKETIME=+30s``), which shifts what ``time.time()``,
``gettimeofday`` and ``clock_gettime(CLOCK_REALTIME)`` return in the worker and its pool
processes. It moves their monotonic clock too (to the skewed wall clock's reading, once):
only its intervals are ever used, and those it leaves alone. (Leaving it unfaked,
``FAKETIME_DONT_FAKE_MONOTONIC=1``, makes libfaketime 0.9.10 fail every ``time.sleep`` of
Python 3.11 with EINVAL: it sleeps with ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``.)
Redis, the simulator and this test run on the true clock.
The test first proves the skew: a Python under the same environment, the worker's own
log timestamps (its main process and its pool) are 30 s off.

One batch, rate limited at 5 calls/s: 20 models that load in 1 s, and one model whose
reload was started beforehand with a 1000 s load, so it stays "processing" until its
deadline. Checked: (i) the upstream never sees more than 5 calls in any second (on the
simulator's clocks; a step of the host's wall clock, which is Redis's too, crowds one of
them: ``sandbox.sim.calls.TwoClockMax``); (ii) the
stuck model fails "deadline exceeded" RELOAD_DEADLINE_SECONDS after its flight (its first
call in the batch) starts, not 30 s early or late; (iii) the summary's started_at and
finished_at are Redis times, and their difference is the batch's duration as this test
measured it.
"""

from __future__ import annotations

import calendar
import glob
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import API_KEY, ledger_of, worker_env
from tests.integration.reliability import redis_now, result_of
from worker import constants as c

_LIBS = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
LIBFAKETIME = _LIBS[0] if _LIBS else ""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        shutil.which("faketime") is None or not LIBFAKETIME,
        reason="libfaketime is not installed (Debian: apt-get install -y faketime)",
    ),
]

SKEWS = (30.0, -30.0)  # seconds: the first worker's clock is ahead, the second's behind
RATE = 5  # RELOAD_RATE_LIMIT=5/s
DEADLINE = 30.0  # RELOAD_DEADLINE_SECONDS (the 20 others need 10-16 s at 5/s)
# The stuck model's flight starts with its first call: 21 first calls at 5/s need 4.2 s, and a
# busy host's dispatch adds to it; this bounds it (a 30 s skew error would be far outside).
FLIGHT_START_MAX = 15.0
BATCH_GRACE = 20.0  # RELOAD_BATCH_GRACE_SECONDS: the batch deadline (50 s) comes after it
MODELS = [f"s-{i:02d}" for i in range(20)]
STUCK = "s-stuck"
# "[2026-12-01 20:02:55,937: INFO/MainProcess] ..." (TZ=UTC in the workers' environment)
_LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): \w+/([\w-]+)\]", re.MULTILINE)


def skewed(env: Mapping[str, str], seconds: float) -> dict[str, str]:
    """``env`` with libfaketime shifting the wall clock by ``seconds``."""
    return {
        **env,
        "LD_PRELOAD": LIBFAKETIME,
        "FAKETIME": f"{seconds:+g}s",
        "TZ": "UTC",
    }


def _log_times(log: str) -> list[tuple[float, str]]:
    """(Unix time, process name) of every line of a worker's log, on the worker's clock."""
    found = []
    for m in _LOG_LINE.finditer(log):
        stamp = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").timetuple()
        found.append((calendar.timegm(stamp) + int(m[2]) / 1000, m[3]))
    return found


def test_python_under_faketime_sees_the_skew() -> None:
    for skew in SKEWS:
        env = skewed({"PATH": "/usr/bin:/bin"}, skew)
        before = time.time()
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; a = time.monotonic(); time.sleep(0.2); "
                "print(time.time(), time.monotonic() - a)",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
        after = time.time()
        seen, slept = float(out[0]), float(out[1])
        print(f"\n[faketime {skew:+g}s] child time.time() - ours = {seen - before:+.2f}s")
        assert before + skew - 0.5 <= seen <= after + skew + 0.5
        assert 0.19 <= slept < 1.0  # sleeps work, and intervals are true


def test_two_skewed_workers_keep_the_rate_the_deadline_and_the_batch_times(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    # Given a model that stays loading: its reload started with a 1000 s load...
    sim = start_simulator("--reload-seconds", "1000", "--latency", "0.05")
    answer = httpx.post(
        f"{sim.base_url}/model_reload", json={"key": API_KEY, "model_id": STUCK}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    httpx.post(f"{sim.base_url}/_sim/config", json={"reload_seconds": 1}, timeout=5)
    stuck = httpx.get(f"{sim.base_url}/_sim/models/{STUCK}", timeout=5).json()
    assert stuck["state"] == "loading" and stuck["eta"] > 900, stuck

    # ...and two workers, 30 s ahead and 30 s behind, sharing a 5/s limit.
    env = worker_env(
        redis_url,
        sim.base_url,
        RELOAD_RATE_LIMIT=f"{RATE}/s",
        RELOAD_MAX_IN_FLIGHT="3",
        RELOAD_WARM_SECONDS="1",
        RELOAD_DEADLINE_SECONDS=f"{DEADLINE:g}",
        # The batch deadline (RELOAD_DEADLINE_SECONDS + this grace, from the batch's start)
        # must come after the stuck model's own (from its flight's start, up to
        # FLIGHT_START_MAX in), or it fails the model first as "batch deadline exceeded".
        RELOAD_BATCH_GRACE_SECONDS=f"{BATCH_GRACE:g}",
    )
    workers = []
    for skew in SKEWS:
        worker = start_worker(skewed(env, skew), concurrency=2, wait=False)
        worker.wait_for_log("ready.", timeout=60)
        seen_ready = time.time()
        ready_at = _log_times(next(line for line in worker.log().splitlines() if "ready." in line))
        # The worker logs on its own clock: 30 s off ours.
        assert len(ready_at) == 1 and ready_at[0][1] == "MainProcess", ready_at
        assert abs(ready_at[0][0] - seen_ready - skew) < 2.0, (skew, ready_at[0][0] - seen_ready)
        workers.append(worker)

    client = redis.Redis.from_url(redis_url)
    try:
        # When a batch of the 20 models and the stuck one runs on them...
        sent_wall, sent_redis, sent = time.time(), redis_now(client), time.monotonic()
        request = producer.send_task("warmup_batch", args=[[*MODELS, STUCK]])
        batch_id = result_of(producer, request.id, timeout=30)
        stuck_failed = None
        last_warm = None
        flight: list[float] = []  # the stuck model's flight: started, deadline (Redis times)
        while True:
            meta = producer.backend.get_task_meta(batch_id)
            if meta.get("status") == "SUCCESS":
                break
            states = {
                k.decode(): json.loads(v)["state"]
                for k, v in client.hgetall(f"reload:batch:{batch_id}:models").items()
            }
            if not flight:
                fields = client.hmget(c.flight_key(STUCK), "started", "deadline")
                flight = [float(f) for f in fields if f is not None]
            if stuck_failed is None and states.get(STUCK) == "failed":
                stuck_failed = time.monotonic() - sent
            if last_warm is None and all(states.get(m) == "warm" for m in MODELS):
                last_warm = time.monotonic() - sent
            assert time.monotonic() - sent < 120, f"the batch did not finish: {states}"
            time.sleep(0.05)
        took = time.monotonic() - sent
        # The batch may complete within one poll of its last model's change: then it changed
        # by the completion at the latest.
        stuck_failed = took if stuck_failed is None else stuck_failed
        last_warm = took if last_warm is None else last_warm
        done_redis, done_wall = redis_now(client), time.time()
        summary: dict[str, Any] = meta["result"]
        models = {
            k.decode(): json.loads(v)
            for k, v in client.hgetall(f"reload:batch:{batch_id}:models").items()
        }
    finally:
        client.close()
    seen = ledger_of(sim)
    per_key = seen["max_calls_in_any_second_per_key"]
    calls = sorted(t for times in seen["call_times_per_model"].values() for t in times)
    batch_calls = [t for t in calls if t >= sent_wall - 0.5]
    stuck_at = models[STUCK]["at"] - summary["started_at"]
    assert len(flight) == 2, "the stuck model's flight was never seen"
    flight_started, flight_deadline = flight
    duration = summary["finished_at"] - summary["started_at"]
    print(
        f"\n[clock skew {SKEWS}] batch {took:.1f}s (all 20 warm after {last_warm:.1f}s), "
        f"{len(batch_calls)} upstream calls, most in any 1 s: {per_key} (limit {RATE}; by "
        f"clock {seen['max_calls_in_any_second_by_clock']}, wall clock stepped "
        f"{seen['wall_clock_step_s']:.3f}s), "
        f"in any {1.05:g} s window: {_most_within(batch_calls, 1.05)}; stuck failed after "
        f"{stuck_failed:.1f}s measured, {stuck_at:.2f}s on the ledger (deadline {DEADLINE:g}s; "
        f"its flight started {flight_started - summary['started_at']:.2f}s in, failed "
        f"{models[STUCK]['at'] - flight_deadline:.2f}s after its deadline); "
        f"started_at - Redis at send {summary['started_at'] - sent_redis:+.2f}s, "
        f"finished_at - started_at {duration:.2f}s vs measured {took:.2f}s, "
        f"completed_at - Redis at the end {summary['completed_at'] - done_redis:+.2f}s"
    )

    # ...then the batch completes: every model warm but the stuck one, failed for its deadline.
    assert sorted(summary["warm"]) == MODELS, summary
    assert list(summary["failed"]) == [STUCK], summary
    assert summary["failed"][STUCK].startswith("deadline exceeded"), summary
    # (i) The upstream never saw more than the limit in any second, and the limit was reached.
    assert len(per_key) == 1 and max(per_key.values()) <= RATE, per_key
    assert max(per_key.values()) >= RATE - 1, per_key  # the batch ran at the limit
    # (ii) The deadline fired DEADLINE seconds after the flight started: not 30 s early or late.
    assert stuck_failed is not None
    assert flight_deadline - flight_started == pytest.approx(DEADLINE, abs=0.001)
    assert summary["started_at"] <= flight_started <= summary["started_at"] + FLIGHT_START_MAX
    assert flight_deadline <= models[STUCK]["at"] <= flight_deadline + 1.5
    flight_offset = flight_started - summary["started_at"]
    assert DEADLINE + flight_offset <= stuck_at <= DEADLINE + flight_offset + 1.5, stuck_at
    assert DEADLINE + flight_offset - 0.5 <= stuck_failed <= DEADLINE + flight_offset + 2.0
    # (iii) started_at and finished_at are Redis times; their difference is the duration.
    assert abs(summary["started_at"] - sent_redis) < 2.0
    assert abs(sent_redis - sent_wall) < 1.0  # Redis runs on our clock (not the workers')
    assert took - 3.0 <= duration <= took + 0.5, (duration, took)
    assert summary["duration_s"] == pytest.approx(duration, abs=0.01)
    assert summary["started_at"] <= summary["finished_at"] <= summary["completed_at"]
    assert summary["completed_at"] <= done_redis + 0.5
    # Every model's final time lies within the batch, on the same clock.
    for model, record in models.items():
        assert summary["started_at"] <= record["at"] <= summary["finished_at"], (model, record)
    # The pool processes, which made the calls and stamped those times, were skewed too.
    for worker, skew in zip(workers, SKEWS, strict=True):
        pool = [t for t, process in _log_times(worker.log()) if process.startswith("ForkPool")]
        assert pool, worker.log()[-2000:]
        assert all(sent_wall + skew - 1 <= t <= done_wall + skew + 1 for t in pool), skew


def _most_within(times: list[float], window: float) -> int:
    """The most of ``times`` (sorted) in any half-open window ``(t - window, t]``."""
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        most = max(most, end - start + 1)
    return most
