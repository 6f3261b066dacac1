"""Contender (b): the hand-written single-process asyncio peer a user might write instead.

One process, one ``httpx.AsyncClient``, an ``aiolimiter.AsyncLimiter`` for the
account's rate and an ``asyncio.Semaphore`` for its in-flight cap, and the same
reload-and-confirm algorithm as the project:

- call; ``success`` the first time means *accepted*: confirm when the reload
  should be over (the reload time, plus 0.1 % and 10 ms for the clocks);
  ``success`` again (or after a ``processing``) means warm;
- ``processing`` means loading: poll again at its ``eta`` (or a growing interval);
  an accepted reload still loading at its end is overdue: again after 2 % of the
  reload time, doubling (or at its eta, never sooner);
- 429: pause every call for ``retry_after``; 5xx, resets, bad bodies and
  HTTP-200 errors: retry with full-jitter exponential backoff, at most 8 times;
  400/401/402/403/404 fail the model at once;
- ``--hold-slot`` (the queue-bound scenario): a model keeps its semaphore slot
  from its first call until it is confirmed warm, because the upstream counts a
  loading model against the account's queue.

The limiter is ``AsyncLimiter(1, 1/rate)``: one call per 1/rate seconds. The
obvious ``AsyncLimiter(rate, 1)`` is a leaky bucket that lets a burst of
``rate`` calls through at once and then ``rate`` per second, so up to ~1.5x the
rate in some one-second window.

Run by the benchmark as a child process (so its RSS is its own)::

    python -m bench.contenders.asyncio_peer --url URL --count 200 --rate 50 \
        --in-flight 10 --warm-seconds 3

It prints one JSON object: started_at, finished_at, warm, failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
from aiolimiter import AsyncLimiter

from bench.contenders.answers import MAX_RETRIES, Permanent, RateLimited, Transient, read_answer
from bench.harness import API_KEY, ROOT, ledger_of, model_ids
from bench.measure import RunResult, Sampler
from bench.scenarios import Scenario
from sandbox.sim.process import SimulatorProcess

__all__ = ["Peer", "run"]


class Peer:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        key: str,
        *,
        rate: float,
        in_flight: int,
        warm_seconds: float,
        hold_slot: bool,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self.client = client
        self.url = url
        self.key = key
        self.limiter = AsyncLimiter(1, 1.0 / rate)
        self.slots = asyncio.Semaphore(in_flight)
        self.warm_seconds = warm_seconds
        self.hold_slot = hold_slot
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.paused_until = 0.0

    async def _post(self, model_id: str) -> tuple[str, float | None]:
        """One call: ("success", None) or ("processing", eta); raises Transient/Permanent."""
        while (pause := self.paused_until - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        await self.limiter.acquire()
        try:
            response = await self.client.post(
                self.url, json={"key": self.key, "model_id": model_id}
            )
        except httpx.HTTPError as exc:
            raise Transient(type(exc).__name__) from exc
        try:
            return read_answer(response)
        except RateLimited as exc:
            pause = exc.retry_after or 1.0
            self.paused_until = max(self.paused_until, time.monotonic() + pause)
            raise

    async def _call(self, model_id: str, holding: bool) -> tuple[str, float | None]:
        if holding:
            return await self._post(model_id)
        async with self.slots:
            return await self._post(model_id)

    async def warm(self, model_id: str) -> bool:
        """Reload and confirm one model; True once warm, False if it failed."""
        holding = False
        accepted = loading_seen = False
        errors = polls = 0
        try:
            while True:
                if self.hold_slot and not holding:
                    await self.slots.acquire()
                    holding = True
                try:
                    answer, eta = await self._call(model_id, holding)
                except Permanent:
                    return False
                except Transient as exc:
                    errors += 1
                    if errors > MAX_RETRIES:
                        return False
                    ceiling = min(self.backoff_max, self.backoff_base * 2 ** (errors - 1))
                    delay = max(random.uniform(0, ceiling), exc.retry_after or 0.0)
                    if self.hold_slot and holding and not (accepted or loading_seen):
                        self.slots.release()  # nothing loading yet: give the slot back
                        holding = False
                    await asyncio.sleep(delay)
                    continue
                errors = 0
                if answer == "success":
                    if accepted or loading_seen:
                        return True
                    accepted = True
                    await asyncio.sleep(self.warm_seconds * 1.001 + 0.01)
                else:
                    loading_seen = True
                    polls += 1
                    await asyncio.sleep(self._poll_delay(eta, polls, overdue=accepted))
        finally:
            if holding:
                self.slots.release()

    def _poll_delay(self, eta: float | None, polls: int, *, overdue: bool) -> float:
        warm = self.warm_seconds
        step = warm * 0.02 if overdue else warm / 8
        if eta:
            return min(warm, max(step if overdue else warm / 20, eta)) * 1.02 + 0.05
        return min(warm / 2, step * (2.0 if overdue else 1.5) ** (polls - 1)) + 0.05


async def _main(args: argparse.Namespace) -> dict[str, object]:
    ids = model_ids(args.count)
    limits = httpx.Limits(max_connections=args.in_flight, max_keepalive_connections=args.in_flight)
    timeout = httpx.Timeout(10.0, connect=2.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        peer = Peer(
            client,
            args.url,
            os.environ.get("MODELSLAB_API_KEY", API_KEY),
            rate=args.rate,
            in_flight=args.in_flight,
            warm_seconds=args.warm_seconds,
            hold_slot=args.hold_slot,
        )
        started_at = time.time()
        results = await asyncio.gather(*(peer.warm(m) for m in ids))
        finished_at = time.time()
    warm = sum(results)
    return {
        "started_at": started_at,
        "finished_at": finished_at,
        "warm": warm,
        "failed": len(ids) - warm,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="asyncio reload-and-confirm peer")
    parser.add_argument("--url", required=True, help="the upstream's .../model_reload URL")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="calls per second")
    parser.add_argument("--in-flight", type=int, required=True)
    parser.add_argument("--warm-seconds", type=float, required=True)
    parser.add_argument("--hold-slot", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_main(args))), flush=True)
    return 0


def run(scenario: Scenario, sim: SimulatorProcess, log_dir: Path) -> RunResult:
    count = scenario.models_for("asyncio")
    command = [
        sys.executable, "-m", "bench.contenders.asyncio_peer",
        "--url", f"{sim.base_url}/model_reload",
        "--count", str(count),
        "--rate", str(scenario.rate),
        "--in-flight", str(scenario.in_flight),
        "--warm-seconds", f"{scenario.reload_s:g}",
    ]  # fmt: skip
    if scenario.loading_counts:
        command.append("--hold-slot")
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"asyncio-{scenario.name}.log"
    launched = time.time()
    with stderr_path.open("wb") as stderr:
        child = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL
        )
        try:
            with Sampler(lambda: [child.pid] if child.poll() is None else []) as sampler:
                try:
                    out, _ = child.communicate(timeout=scenario.timeout_s + 30)
                    error = None if child.returncode == 0 else f"exit {child.returncode}"
                except subprocess.TimeoutExpired:
                    out, error = b"", f"did not finish in {scenario.timeout_s:g} s"
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    report = json.loads(out) if out.strip() else {}
    return RunResult(
        contender="asyncio",
        models=count,
        started_at=float(report.get("started_at", launched)),
        finished_at=report.get("finished_at"),
        warm=int(report.get("warm", 0)),
        failed=int(report.get("failed", 0)),
        ledger=ledger_of(sim),
        peak_rss_bytes=sampler.peak_rss,
        peak_pss_bytes=sampler.peak_pss,
        cpu_s=sampler.cpu_seconds,
        processes="1 process (asyncio)",
        error=error or (stderr_path.read_text()[-500:] if not report else None),
    )


if __name__ == "__main__":
    sys.exit(main())
