"""What a run measured, and how a result row is built from it.

A contender returns a :class:`RunResult`: its own start and end times (unix
seconds), how many models it finished, the simulator's ledger read after the
run, and the samplers' peaks. :func:`build_row` turns that into one row of
``latest.json``; it is pure, and unit-tested.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.scenarios import Scenario

__all__ = [
    "RunResult",
    "Sampler",
    "add_peer_ratios",
    "build_row",
    "in_flight_peak",
    "violations_of",
    "warm_curve",
]


@dataclass
class RunResult:
    contender: str
    models: int
    started_at: float  # unix time of the first enqueue
    finished_at: float | None  # unix time the contender knew every model warm; None: timed out
    warm: int  # models the contender reported warm
    failed: int
    ledger: Mapping[str, Any]
    peak_rss_bytes: int = 0
    peak_pss_bytes: int = 0
    cpu_s: float | None = None  # CPU seconds of the contender's processes during the run
    redis_before_bytes: int | None = None
    redis_peak_bytes: int | None = None
    redis_samples: list[tuple[float, int]] = field(default_factory=list)  # (unix time, bytes)
    processes: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def violations_of(scenario: Scenario, ledger: Mapping[str, Any]) -> dict[str, int]:
    """Each account limit the upstream saw exceeded, with the observed peak."""
    found: dict[str, int] = {}
    per_second = int(ledger.get("max_calls_in_any_second", 0))
    if per_second > scenario.rate:
        found["calls_in_one_second"] = per_second
    concurrency = max(ledger.get("peak_concurrency_per_key", {}).values(), default=0)
    if concurrency > scenario.in_flight:
        found["concurrent_requests"] = int(concurrency)
    if scenario.loading_counts:
        queued = max(ledger.get("peak_queued_per_key", {}).values(), default=0)
        limit = scenario.queue_limit or scenario.in_flight
        if queued > limit:
            found["queued_requests"] = int(queued)
    return found


def warm_curve(ledger: Mapping[str, Any], started_at: float) -> list[float]:
    """Seconds after ``started_at`` at which each model became warm (sorted), from the ledger."""
    return sorted(max(0.0, t - started_at) for t in ledger.get("warm_at", {}).values())


def in_flight_peak(samples: Iterable[tuple[float, int]], ledger: Mapping[str, Any]) -> int | None:
    """Peak Redis memory while every model was still in flight: samples before the first warm."""
    warm = ledger.get("warm_at", {})
    first_warm = min(warm.values()) if warm else None
    during = [used for at, used in samples if first_warm is None or at < first_warm]
    return max(during, default=None)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def build_row(scenario: Scenario, run: RunResult) -> dict[str, Any]:
    """One row of ``latest.json`` (ratio_to_asyncio is filled in by :func:`add_peer_ratios`)."""
    ledger = run.ledger
    calls_total = int(ledger.get("calls_total", 0))
    completion = None if run.finished_at is None else run.finished_at - run.started_at
    ideal = scenario.ideal_s(run.models)
    issue_ideal = scenario.issue_ideal_s(run.models)
    first_call = ledger.get("first_call_at")
    last_call = ledger.get("last_call_at")
    curve = warm_curve(ledger, run.started_at)
    broken = violations_of(scenario, ledger)
    row: dict[str, Any] = {
        "scenario": scenario.name,
        "contender": run.contender,
        "models": run.models,
        "completed": run.finished_at is not None and run.error is None,
        "completion_s": _round(completion),
        "ideal_s": _round(ideal),
        "ratio_to_ideal": _round(completion / ideal if completion and ideal else None, 3),
        "ratio_to_asyncio": None,
        "ratio_to_dramatiq": None,
        "issue_ideal_s": _round(issue_ideal),
        "ratio_to_issue_ideal": _round(
            completion / issue_ideal if completion and issue_ideal else None, 3
        ),
        "first_call_s": _round(first_call - run.started_at if first_call else None),
        "last_call_s": _round(last_call - run.started_at if last_call else None),
        "last_warm_s": _round(curve[-1] if curve else None),
        "warm": run.warm,
        "failed": run.failed,
        "violations": len(broken),
        "violation_detail": broken,
        "rate_limited": int(ledger.get("rate_limited", 0)),
        "max_calls_in_any_second": int(ledger.get("max_calls_in_any_second", 0)),
        "peak_concurrency": max(ledger.get("peak_concurrency_per_key", {}).values(), default=0),
        "peak_queued": max(ledger.get("peak_queued_per_key", {}).values(), default=0),
        "calls_total": calls_total,
        "calls_per_model": _round(calls_total / run.models if run.models else None, 3),
        "reloads_started": sum(ledger.get("reloads_started", {}).values()),
        "faults_injected": sum(ledger.get("faults", {}).values()),
        "peak_rss_mb": _round(run.peak_rss_bytes / 2**20, 1),
        "peak_pss_mb": _round(run.peak_pss_bytes / 2**20, 1),
        "cpu_s": _round(run.cpu_s, 1),
        "cpu_s_per_1000_models": _round(
            run.cpu_s * 1000 / run.models if run.cpu_s is not None and run.models else None, 1
        ),
        "processes": run.processes,
        "redis_bytes_per_model": None,
        "error": run.error,
    }
    if run.redis_before_bytes is not None and run.redis_peak_bytes is not None and run.models:
        before = run.redis_before_bytes
        row["redis_used_before_mb"] = _round(before / 2**20, 2)
        row["redis_used_peak_mb"] = _round(run.redis_peak_bytes / 2**20, 2)
        row["redis_bytes_per_model_run_peak"] = round((run.redis_peak_bytes - before) / run.models)
        in_flight = in_flight_peak(run.redis_samples, ledger)
        if in_flight is not None:
            row["redis_used_in_flight_mb"] = _round(in_flight / 2**20, 2)
            row["redis_bytes_per_model"] = round((in_flight - before) / run.models)
    row.update(run.extra)
    return row


def add_peer_ratios(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill ``ratio_to_asyncio`` and ``ratio_to_dramatiq``: completion over that peer's, in the
    same scenario with the same count."""
    rows = list(rows)
    for peer_name in ("asyncio", "dramatiq"):
        peers = {
            (r["scenario"], r["models"]): r["completion_s"]
            for r in rows
            if r["contender"] == peer_name and r["completion_s"]
        }
        for row in rows:
            peer = peers.get((row["scenario"], row["models"]))
            if peer and row["completion_s"]:
                row[f"ratio_to_{peer_name}"] = round(row["completion_s"] / peer, 3)
    return rows


def _tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and all its descendants (none if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _pss_and_cpu(procs: Iterable[psutil.Process], cpu: dict[int, float] | None) -> int:
    """The summed PSS of ``procs`` (0 where unsupported); ``cpu``, if given, gets each one's
    CPU seconds so far (user + system) by pid."""
    pss = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error, AttributeError):
            pss += getattr(proc.memory_full_info(), "pss", 0)
        if cpu is not None:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                cpu[proc.pid] = max(cpu.get(proc.pid, 0.0), times.user + times.system)
    return pss


def _tree_memory(pid: int, cpu: dict[int, float] | None = None) -> tuple[int, int]:
    """RSS and PSS (shared pages split between sharers; 0 where unsupported) of a process tree.

    ``cpu``, if given, gets each process's CPU seconds so far (user + system) by pid.
    """
    procs = _tree(pid)
    rss = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            rss += proc.memory_info().rss
    return rss, _pss_and_cpu(procs, cpu)


class Sampler:
    """Samples, in a thread, the memory and CPU of process trees and Redis's memory.

    RSS (cheap: one ``/proc`` read per process) is sampled every ``interval`` s; the
    process trees, their PSS and their CPU times every ``slow_interval`` s, and once more at
    the end. A tree and its PSS cost about 2 ms of CPU per process (``children()`` scans
    ``/proc``, PSS walks the page tables): sampled four times a second for the project's ten
    processes, that was 7 % of a core taken from the contender on a 2-core host.
    """

    def __init__(
        self,
        pids: Callable[[], list[int]],
        redis_memory: Callable[[], int] | None = None,
        interval: float = 0.25,
        slow_interval: float = 1.0,
    ) -> None:
        self._pids = pids
        self._redis_memory = redis_memory
        self._interval = interval
        self._slow_every = max(1, round(slow_interval / interval))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_redis = 0
        self.redis_samples: list[tuple[float, int]] = []
        self._cpu: dict[int, float] = {}  # pid -> CPU seconds seen so far
        self._cpu_before: dict[int, float] = {}
        self._procs: list[psutil.Process] = []  # the trees, as of the last slow sample

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the sampled processes used while sampled."""
        return sum(t - self._cpu_before.get(pid, 0.0) for pid, t in self._cpu.items())

    def _sample(self, slow: bool) -> None:
        if slow:
            self._procs = [p for pid in self._pids() for p in _tree(pid)]
            self.peak_pss = max(self.peak_pss, _pss_and_cpu(self._procs, self._cpu))
        rss = 0
        for proc in self._procs:
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        if self._redis_memory is not None:
            with contextlib.suppress(Exception):
                used = self._redis_memory()
                self.redis_samples.append((time.time(), used))
                self.peak_redis = max(self.peak_redis, used)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.is_set():
            self._sample(slow=ticks % self._slow_every == 0)
            ticks += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> Sampler:
        for pid in self._pids():  # what start-up cost is not the run's
            _tree_memory(pid, self._cpu_before)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample(slow=True)
