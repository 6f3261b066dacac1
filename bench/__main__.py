"""``python -m bench [--quick]``: run every scenario and contender, write ``bench/results/``.

Each (scenario, contender) run gets a fresh simulator with the scenario's
settings (and, for the Celery contenders, a fresh embedded Redis); every
process started is stopped by its pid when the run ends, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import harness, report
from bench.contenders import asyncio_peer, dramatiq_peer, naive_celery, project
from bench.harness import API_KEY
from bench.measure import RunResult, add_peer_ratios, build_row, warm_curve
from bench.scenarios import Scenario, scenarios
from sandbox.sim.process import SimulatorProcess

RUNNERS: dict[str, Callable[[Scenario, SimulatorProcess, Path], RunResult]] = {
    "project": project.run,
    "asyncio": asyncio_peer.run,
    "dramatiq": dramatiq_peer.run,
    "naive": naive_celery.run,
}
RESULTS = Path(__file__).resolve().parent / "results"


def timeout_for(scenario: Scenario, contender: str, quick: bool) -> float:
    """How long a run may take before it is stopped and reported as not finished."""
    floor = 60.0 if quick else 180.0
    return max(floor, 3.0 * scenario.ideal_s(scenario.models_for(contender)))


def _failed_run(scenario: Scenario, contender: str, error: str) -> RunResult:
    now = time.time()
    return RunResult(
        contender=contender,
        models=scenario.models_for(contender),
        started_at=now,
        finished_at=None,
        warm=0,
        failed=0,
        ledger={},
        error=error,
    )


def notes(quick: bool) -> list[str]:
    every = scenarios(quick)
    naive = ", ".join(
        f"{s.name}: {s.naive_models}" for s in every if s.naive_models and "naive" in s.contenders
    )
    return [
        "completion s: from the first enqueue until the contender knows every model is warm "
        "(project: `AsyncResult(batch_id).get()` returns; asyncio: its gather returns; "
        "dramatiq: its Redis counter of final models reaches the count; naive: every task "
        "result is in).",
        "ideal s: the physical lower bound. Rate-bound: max(2 calls per cold model / rate, "
        "models / rate + one reload time) (the last confirmation cannot come before the last "
        "reload call plus a reload time); queue-bound: ceil(models / queue limit) x reload time "
        "(the slots go in rounds). "
        "issue ideal s: issue 6's looser wording (calls / rate, or models x reload / queue "
        "limit, plus one reload time), which a perfect client can beat. Faults are in "
        "neither.",
        "violations: limits the simulator's ledger saw exceeded (calls in any 1 s window > rate, "
        "concurrent requests > in-flight cap, queued incl. loading > queue limit); 429s listed "
        "apart.",
        f"project: {harness.OPTIONS.describe()}; naive Celery: 2 workers x 4 prefork; both "
        "with a fresh embedded Redis (append-only) per run; peak RSS sums every worker process "
        "and its pool children, sampled every 0.25 s with psutil; it counts pages the prefork "
        "children share with their parent once per process, so peak PSS (shared pages split "
        "between sharers) is given beside it. asyncio: one process. dramatiq: `dramatiq "
        "--processes 2 --threads 8` and its Redis rate limiters (WindowRateLimiter counts "
        "whole seconds of the client's clock: up to twice the rate in a sliding second).",
        "CPU s/1000 models: CPU seconds (user + system) of the contender's processes and "
        "children from the first enqueue to the end, per 1,000 models.",
        "5-real-world: a 120 s reload on the simulator's clock at --time-scale 30 (4 real "
        "seconds), queue limit 10 incl. loading; its bound is in real seconds.",
        f"naive Celery runs fewer models because its blocking sleep makes it slow ({naive}); "
        "its ideal and ratios are computed for its own count, and it is stopped (reported as "
        "'did not finish') after max(60 s quick / 180 s full, 3 x its ideal).",
        "Redis B/model (scale scenario): (peak used_memory while every model is in flight, "
        "i.e. sampled before the first model is warm - used_memory before the enqueue) / "
        "models; it includes everything Redis holds for the batch (broker messages, chord "
        "state, flights, batch ledger). The whole run's peak (results of finished models "
        "included) is redis_bytes_per_model_run_peak in latest.json.",
    ]


def results_dir(out: Path | None, *, quick: bool) -> Path:
    """Where a run writes: ``out`` if given, else ``bench/results`` (a quick run: its
    ``quick/``, so that it never overwrites the full run's results)."""
    if out is not None:
        return out
    return RESULTS / "quick" if quick else RESULTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, under two minutes")
    parser.add_argument("--only", action="append", help="run only scenarios whose name has this")
    parser.add_argument("--contender", action="append", choices=sorted(RUNNERS))
    parser.add_argument(
        "--out", type=Path, help="results directory (default bench/results, quick: its quick/)"
    )
    parser.add_argument(
        "--pool", choices=("prefork", "threads", "gevent"), default=harness.OPTIONS.pool,
        help="the project workers' pool",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=harness.OPTIONS.concurrency,
                        help="pool size of each of the project's two workers")  # fmt: skip
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="sample the project's workers with py-spy into DIR")  # fmt: skip
    args = parser.parse_args(argv)
    args.out = results_dir(args.out, quick=args.quick)
    options = harness.OPTIONS  # one object, read by the contenders: set in place
    options.pool, options.concurrency, options.py_spy_dir = args.pool, args.concurrency, args.py_spy

    command = "python -m bench" + (" --quick" if args.quick else "")
    machine = report.machine()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    print(f"logs in {log_dir}", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[float]]] = {}
    ideals: dict[str, float] = {}
    began = time.monotonic()
    for scenario in scenarios(args.quick):
        if args.only and not any(part in scenario.name for part in args.only):
            continue
        ideals[scenario.name] = scenario.ideal_s()
        for contender in scenario.contenders:
            if args.contender and contender not in args.contender:
                continue
            run_scenario = replace(scenario, timeout_s=timeout_for(scenario, contender, args.quick))
            print(f"[{time.monotonic() - began:6.1f}s] {scenario.name} / {contender} ...",
                  file=sys.stderr, flush=True)  # fmt: skip
            try:
                with SimulatorProcess(scenario.sim_args(API_KEY)) as sim:
                    result = RUNNERS[contender](run_scenario, sim, log_dir)
            except Exception as exc:
                traceback.print_exc()
                result = _failed_run(scenario, contender, f"{type(exc).__name__}: {exc}")
            row = build_row(scenario, result)
            ledger_path = log_dir / f"{scenario.name}-{contender}-ledger.json"
            ledger_path.write_text(
                json.dumps({**result.ledger, "run_started_at": result.started_at})
            )
            rows.append(row)
            curves.setdefault(scenario.name, {})[contender] = warm_curve(
                result.ledger, result.started_at
            )
            print(
                f"    completion {row['completion_s']} s, ideal {row['ideal_s']} s, "
                f"x{row['ratio_to_ideal']}, violations {row['violations']}, "
                f"429s {row['rate_limited']}, calls/model {row['calls_per_model']}, "
                f"RSS {row['peak_rss_mb']} MB"
                + (f", error: {row['error']}" if row["error"] else ""),
                file=sys.stderr,
                flush=True,
            )
        rows = add_peer_ratios(rows)
        _write(args.out, rows, curves, ideals, machine, command, args.quick)
    print(f"done in {time.monotonic() - began:.0f} s; results in {args.out}", file=sys.stderr)
    print((args.out / "latest.md").read_text())
    return 0


def _write(
    out: Path,
    rows: list[dict[str, Any]],
    curves: dict[str, dict[str, list[float]]],
    ideals: dict[str, float],
    machine: dict[str, str],
    command: str,
    quick: bool,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report.write_json(rows, out / "latest.json")
    markdown = report.render_markdown(rows, machine, command=command, notes=notes(quick))
    (out / "latest.md").write_text(markdown)
    report.write_plot(curves, ideals, out / "latest.png", rows)


if __name__ == "__main__":
    sys.exit(main())
