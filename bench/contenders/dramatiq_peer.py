"""Contender (c): Dramatiq, as its documentation suggests, a peer a user might pick instead.

``dramatiq bench.contenders.dramatiq_peer --processes 2 --threads 8`` on a
fresh embedded Redis (``RedisBroker``), with Dramatiq's own Redis rate
limiters on a ``RedisBackend``:

- ``WindowRateLimiter(limit=rate, window=1)`` for the account's calls per
  second, ``ConcurrentRateLimiter(limit=in_flight)`` for its in-flight cap,
  both with ``acquire(raise_on_failure=False)``;
- a wait (the limiter said no, the model is loading, a backoff, a 429 pause)
  is a **delayed message**: the actor sends itself again with
  ``send_with_options(delay=ms)`` and returns, so no thread is held to wait;
- the same reload-and-confirm algorithm as the other contenders: ``success``
  the first time means accepted (confirm after the reload time), ``success``
  again (or after ``processing``) means warm, ``processing`` means poll again
  at its ``eta``; 429s pause every call for ``retry_after`` (a key in Redis);
  5xx, resets and bad bodies retry with full-jitter backoff, at most 8 times;
  400/401/402/403/404 fail the model;
- ``PEER_HOLD_SLOT`` (the queue-bound scenario, where a loading model counts
  against the account's queue): the model keeps its ``ConcurrentRateLimiter``
  slot from the reload call to the confirmation, so the actor sleeps through
  the reload inside the ``with`` block (2 x 8 threads >= the queue limit).

Each final model increments ``peer:done`` (and ``peer:warm``); the benchmark
polls them. Configuration is the environment (``PEER_*``, ``MODELSLAB_API_KEY``).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from bench.contenders.answers import (
    MAX_RETRIES,
    Permanent,
    RateLimited,
    Transient,
    read_answer,
)
from bench.contenders.answers import number as _number
from bench.harness import API_KEY, ROOT, ledger_of, model_ids
from bench.measure import RunResult, Sampler
from bench.scenarios import Scenario
from sandbox.embedded_redis import EmbeddedRedis
from sandbox.sim.process import SimulatorProcess

__all__ = ["run"]

PROCESSES, THREADS = 2, 8
PAUSE_KEY, DONE_KEY, WARM_KEY = "peer:pause", "peer:done", "peer:warm"

REDIS_URL = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/0")
broker = RedisBroker(url=REDIS_URL)
dramatiq.set_broker(broker)
backend = RedisBackend(url=REDIS_URL)
state = redis.Redis.from_url(REDIS_URL)
RATE = int(os.environ.get("PEER_RATE", "50"))
WARM_SECONDS = float(os.environ.get("PEER_WARM_SECONDS", "3"))
HOLD_SLOT = os.environ.get("PEER_HOLD_SLOT") == "1"
CALLS = WindowRateLimiter(backend, "peer-calls", limit=RATE, window=1)
SLOTS = ConcurrentRateLimiter(
    backend, "peer-in-flight", limit=int(os.environ.get("PEER_IN_FLIGHT", "10")), ttl=60_000
)
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One connection pool per worker process, shared by its threads (httpx is thread-safe)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0))
        return _client


def _post(model_id: str) -> tuple[str, float | None]:
    """One call: ("success"|"processing"|"failed", eta); raises Transient (and RateLimited)."""
    try:
        response = client().post(
            os.environ["PEER_URL"],
            json={"key": os.environ.get("MODELSLAB_API_KEY", API_KEY), "model_id": model_id},
        )
    except httpx.HTTPError as exc:
        raise Transient(type(exc).__name__) from exc
    try:
        return read_answer(response)
    except Permanent:
        return "failed", None
    except RateLimited as exc:
        pause = exc.retry_after or 1.0
        state.set(PAUSE_KEY, repr(time.time() + pause), px=int(pause * 1000))
        raise


def _limited_call(model_id: str) -> tuple[str, float | None] | float:
    """The call under both limiters, or the seconds to wait before trying again."""
    paused = _number(state.get(PAUSE_KEY))
    if paused is not None and paused > time.time():
        return paused - time.time()
    with SLOTS.acquire(raise_on_failure=False) as slot:
        if not slot:
            return 0.05
        with CALLS.acquire(raise_on_failure=False) as call:
            if not call:  # the window is whole seconds: room comes at the next one
                return 1.0 - time.time() % 1.0 + random.uniform(0.0, 0.02)
            return _post(model_id)


def _finish(warm: bool) -> None:
    with state.pipeline() as pipe:
        pipe.incr(DONE_KEY)
        if warm:
            pipe.incr(WARM_KEY)
        pipe.execute()


def _later(model_id: str, seconds: float, **progress: Any) -> None:
    reload.send_with_options(args=(model_id,), kwargs=progress, delay=max(1, int(seconds * 1000)))


def _confirm_delay(answer: str, eta: float | None, polls: int, overdue: bool = False) -> float:
    """The project's timing: an accepted reload is checked when it should be over; still
    loading then (overdue), again after 2 % of the reload time, doubling, or at its eta."""
    if answer == "success":
        return WARM_SECONDS * 1.001 + 0.01
    step = WARM_SECONDS * 0.02 if overdue else WARM_SECONDS / 8
    if eta:
        return min(WARM_SECONDS, max(step if overdue else WARM_SECONDS / 20, eta)) * 1.02 + 0.05
    grown = step * (2.0 if overdue else 1.5) ** max(0, polls - 1)
    return min(WARM_SECONDS / 2, grown) + 0.05


def _held(model_id: str) -> bool | float:
    """Hold-slot mode: reload and confirm under one slot, sleeping through the reload."""
    with SLOTS.acquire(raise_on_failure=False) as slot:
        if not slot:
            return 0.05
        started = False
        polls = errors = 0
        while True:
            paused = _number(state.get(PAUSE_KEY))
            if paused is not None and paused > time.time():
                time.sleep(paused - time.time())
            with CALLS.acquire(raise_on_failure=False) as call:
                answer: tuple[str, float | None] | None = None
                if call:
                    try:
                        answer = _post(model_id)
                    except Transient as exc:
                        errors += 1
                        if errors > MAX_RETRIES:
                            return False
                        if not started:
                            return max(exc.retry_after or 0.0, random.uniform(0, 0.5 * errors))
                        time.sleep(max(exc.retry_after or 0.0, random.uniform(0, 0.5 * errors)))
                        continue
            if answer is None:
                time.sleep(1.0 - time.time() % 1.0 + random.uniform(0.0, 0.02))
                continue
            kind, eta = answer
            if kind == "failed":
                return False
            if started and kind == "success":
                return True
            overdue = started
            started = True
            polls += kind == "processing"
            time.sleep(_confirm_delay(kind, eta, polls, overdue))


@dramatiq.actor(max_retries=0, time_limit=600_000)
def reload(
    model_id: str, accepted: bool = False, loading: bool = False, errors: int = 0, polls: int = 0
) -> None:
    """Reload-and-confirm one model; every wait is a delayed message to itself."""
    if HOLD_SLOT:
        outcome = _held(model_id)
        if isinstance(outcome, bool):
            _finish(outcome)
        else:
            _later(model_id, outcome)
        return
    try:
        answer = _limited_call(model_id)
    except Transient as exc:
        errors += 1
        if errors > MAX_RETRIES:
            _finish(False)
            return
        ceiling = min(10.0, 0.5 * 2 ** (errors - 1))
        delay = max(random.uniform(0, ceiling), exc.retry_after or 0.0)
        _later(model_id, delay, accepted=accepted, loading=loading, errors=errors, polls=polls)
        return
    if isinstance(answer, float):
        _later(model_id, answer, accepted=accepted, loading=loading, errors=errors, polls=polls)
        return
    kind, eta = answer
    if kind == "failed":
        _finish(False)
    elif kind == "success" and (accepted or loading):
        _finish(True)
    else:
        polls += kind == "processing"
        _later(
            model_id,
            _confirm_delay(kind, eta, polls, overdue=accepted),
            accepted=accepted or kind == "success",
            loading=loading or kind == "processing",
            polls=polls,
        )


def run(scenario: Scenario, sim: SimulatorProcess, log_dir: Path) -> RunResult:
    """Run the peer's workers on a fresh Redis, enqueue every model, wait for them all."""
    count = scenario.models_for("dramatiq")
    server = EmbeddedRedis().start()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "PEER_REDIS_URL": server.url,
        "PEER_URL": f"{sim.base_url}/model_reload",
        "PEER_RATE": str(scenario.rate),
        "PEER_IN_FLIGHT": str(scenario.queue_limit or scenario.in_flight),
        "PEER_WARM_SECONDS": f"{scenario.reload_s:g}",
        "PEER_HOLD_SLOT": "1" if scenario.loading_counts else "0",
        "MODELSLAB_API_KEY": API_KEY,
    }
    dramatiq_cli = Path(sys.executable).parent / "dramatiq"
    command = [
        str(dramatiq_cli), "bench.contenders.dramatiq_peer",
        "--processes", str(PROCESSES), "--threads", str(THREADS),
    ]  # fmt: skip
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"dramatiq-{scenario.name}.log"
    peer_broker = RedisBroker(url=server.url)
    done = redis.Redis.from_url(server.url)
    error: str | None = None
    finished_at: float | None = None
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_ready(child, log_path)
            with Sampler(lambda: [child.pid] if child.poll() is None else []) as sampler:
                started_at = time.time()
                for model_id in model_ids(count):
                    peer_broker.enqueue(
                        dramatiq.Message(
                            queue_name="default",
                            actor_name="reload",
                            args=(model_id,),
                            kwargs={},
                            options={},
                        )
                    )
                deadline = time.monotonic() + scenario.timeout_s
                while int(done.get(DONE_KEY) or 0) < count:
                    if time.monotonic() > deadline or child.poll() is not None:
                        error = f"did not finish in {scenario.timeout_s:g} s"
                        break
                    time.sleep(0.05)
                else:
                    finished_at = time.time()
            warm = int(done.get(WARM_KEY) or 0)
            finished = int(done.get(DONE_KEY) or 0)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, 9)  # its own process group: the workers go with it
                child.wait(10)
            peer_broker.close()
            done.close()
            server.close()
    return RunResult(
        contender="dramatiq",
        models=count,
        started_at=started_at,
        finished_at=finished_at,
        warm=warm,
        failed=finished - warm,
        ledger=ledger_of(sim),
        peak_rss_bytes=sampler.peak_rss,
        peak_pss_bytes=sampler.peak_pss,
        cpu_s=sampler.cpu_seconds,
        processes=f"dramatiq, {PROCESSES} processes x {THREADS} threads",
        error=error,
    )


def _wait_ready(child: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0) -> None:
    """Dramatiq logs "Worker process is ready for action." once per worker process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count("is ready for action") >= PROCESSES:
            return
        if child.poll() is not None:
            raise RuntimeError(f"dramatiq exited early:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.1)
    raise TimeoutError(f"dramatiq not ready after {timeout:g} s")
