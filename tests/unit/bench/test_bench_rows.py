"""Result rows: completion, ratios, violations from the simulator's ledger, memory per model."""

from __future__ import annotations

from typing import Any

import pytest

from bench.measure import RunResult, add_peer_ratios, build_row, violations_of, warm_curve
from bench.scenarios import Scenario

RATE = Scenario(name="rate", bound="rate", models=100, rate=50, in_flight=10, reload_s=3.0)
QUEUE = Scenario(
    name="queue",
    bound="queue",
    models=30,
    rate=50,
    in_flight=15,
    reload_s=3.0,
    queue_limit=15,
    loading_counts=True,
)


def ledger(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "calls_total": 200,
        "max_calls_in_any_second": 50,
        "peak_concurrency_per_key": {"key-a": 4},
        "peak_queued_per_key": {"key-a": 4},
        "rate_limited": 0,
        "reloads_started": {f"m{i}": 1 for i in range(100)},
        "faults": {},
        "first_call_at": 1000.1,
        "last_call_at": 1004.4,
        "warm_at": {"m1": 1003.5, "m0": 1003.2},
    }
    base.update(overrides)
    return base


def run(scenario: Scenario = RATE, **overrides: Any) -> RunResult:
    fields: dict[str, Any] = {
        "contender": "project",
        "models": 100,
        "started_at": 1000.0,
        "finished_at": 1005.5,
        "warm": 100,
        "failed": 0,
        "ledger": ledger(),
        "peak_rss_bytes": 300 * 2**20,
    }
    fields.update(overrides)
    return RunResult(**fields)


def test_a_clean_run_has_its_completion_ratio_and_calls_per_model() -> None:
    row = build_row(RATE, run())
    assert row["scenario"] == "rate" and row["contender"] == "project"
    assert row["completion_s"] == 5.5
    assert row["ideal_s"] == 5.0  # max(200 calls / 50/s, 100 / 50/s + 3 s reload)
    assert row["ratio_to_ideal"] == 1.1
    assert row["violations"] == 0 and row["violation_detail"] == {}
    assert row["calls_per_model"] == 2.0
    assert row["peak_rss_mb"] == 300.0
    assert row["completed"] is True
    assert row["first_call_s"] == 0.1


def test_more_calls_in_a_second_than_the_rate_is_a_violation() -> None:
    row = build_row(RATE, run(ledger=ledger(max_calls_in_any_second=51)))
    assert row["violations"] == 1
    assert row["violation_detail"] == {"calls_in_one_second": 51}


def test_more_concurrent_requests_than_the_cap_is_a_violation() -> None:
    found = violations_of(RATE, ledger(peak_concurrency_per_key={"a": 11, "b": 2}))
    assert found == {"concurrent_requests": 11}


def test_queued_counts_only_when_loading_models_count() -> None:
    assert violations_of(RATE, ledger(peak_queued_per_key={"a": 40})) == {}
    assert violations_of(QUEUE, ledger(peak_queued_per_key={"a": 16})) == {"queued_requests": 16}


def test_a_run_that_timed_out_has_no_completion_and_says_why() -> None:
    row = build_row(RATE, run(finished_at=None, warm=40, error="did not finish in 60 s"))
    assert row["completed"] is False
    assert row["completion_s"] is None and row["ratio_to_ideal"] is None
    assert row["error"] == "did not finish in 60 s"


def test_redis_bytes_per_model_is_growth_while_all_are_in_flight_over_models() -> None:
    # Given samples before the first model is warm (1003.2) and a bigger one after it,
    samples = [(1001.0, 1_100_000), (1003.0, 1_150_000), (1004.0, 1_400_000)]
    row = build_row(
        RATE,
        run(redis_before_bytes=1_000_000, redis_peak_bytes=1_400_000, redis_samples=samples),
    )
    # then per model in flight counts only the samples before the first warm model.
    assert row["redis_bytes_per_model"] == 1500
    assert row["redis_bytes_per_model_run_peak"] == 4000


def test_ratio_to_asyncio_compares_the_same_scenario_and_count() -> None:
    rows = [
        {"scenario": "s", "contender": "asyncio", "models": 100, "completion_s": 10.0},
        {"scenario": "s", "contender": "project", "models": 100, "completion_s": 10.5},
        {"scenario": "s", "contender": "naive", "models": 20, "completion_s": 30.0},
    ]
    for row in rows:
        row["ratio_to_asyncio"] = None
    project, naive = add_peer_ratios(rows)[1:]
    assert project["ratio_to_asyncio"] == 1.05
    assert naive["ratio_to_asyncio"] is None  # a different count: no like-for-like peer


def test_warm_curve_is_sorted_seconds_after_the_start() -> None:
    assert warm_curve(ledger(), 1000.0) == pytest.approx([3.2, 3.5])


def test_cpu_seconds_are_reported_per_1000_models() -> None:
    row = build_row(RATE, run(cpu_s=12.34))
    assert row["cpu_s"] == 12.3
    assert row["cpu_s_per_1000_models"] == 123.4  # 12.34 s for 100 models


def test_a_run_without_cpu_figures_reports_none() -> None:
    row = build_row(RATE, run())
    assert row["cpu_s"] is None and row["cpu_s_per_1000_models"] is None


def test_the_dramatiq_peer_gets_a_ratio_column_of_its_own() -> None:
    rows = [
        {"scenario": "s", "models": 10, "contender": "project", "completion_s": 9.0},
        {"scenario": "s", "models": 10, "contender": "dramatiq", "completion_s": 10.0},
    ]
    project = add_peer_ratios(rows)[0]
    assert project["ratio_to_dramatiq"] == 0.9
    assert "ratio_to_asyncio" not in project  # no asyncio row in this scenario
