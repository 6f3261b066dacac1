"""The ideal bound: what the upstream's limits allow at best, a true lower bound."""

from __future__ import annotations

import pytest

from bench.scenarios import ideal_seconds, issue_ideal_seconds, scenarios


def test_rate_bound_is_the_call_stream_when_it_outlasts_a_reload() -> None:
    # Given 2,000 cold models at 50 calls/s and a 3 s reload: 4,000 calls take 80 s,
    # and the last reload call (40 s) plus a reload (3 s) ends sooner.
    assert ideal_seconds("rate", models=2000, rate=50, in_flight=10, reload_s=3) == 80.0


def test_rate_bound_is_the_last_reload_plus_a_reload_when_that_is_later() -> None:
    # Given few models and a long reload, the last model's reload time dominates.
    assert ideal_seconds("rate", models=100, rate=50, in_flight=10, reload_s=60) == 62.0


def test_the_in_flight_cap_binds_when_latency_limits_throughput_below_the_rate() -> None:
    # 10 in flight at 0.5 s each is 20 calls/s, below the 50/s rate.
    ideal = ideal_seconds("rate", models=100, rate=50, in_flight=10, reload_s=3, latency_s=0.5)
    assert ideal == pytest.approx(200 / 20)


def test_queue_bound_is_slot_time_over_the_queue_limit() -> None:
    ideal = ideal_seconds("queue", models=300, rate=50, in_flight=15, reload_s=3, queue_limit=15)
    assert ideal == 60.0


def test_queue_bound_counts_whole_rounds_of_slots() -> None:
    # 100 models on 15 slots: six full rounds and a seventh of 10; none can go sooner.
    ideal = ideal_seconds("queue", models=100, rate=50, in_flight=15, reload_s=3, queue_limit=15)
    assert ideal == 21.0


def test_queue_bound_needs_a_queue_limit() -> None:
    with pytest.raises(ValueError, match="queue limit"):
        ideal_seconds("queue", models=10, rate=50, in_flight=15, reload_s=3)


def test_issue_wording_adds_one_reload_time() -> None:
    assert issue_ideal_seconds("rate", models=2000, rate=50, reload_s=3) == 83.0
    assert issue_ideal_seconds("queue", models=300, rate=50, reload_s=3, queue_limit=15) == 63.0


def test_no_models_take_no_time() -> None:
    assert ideal_seconds("rate", models=0, rate=50, in_flight=10, reload_s=3) == 0.0


def test_full_scenarios_match_issue_6() -> None:
    rate, queue, faulty, scale, _ = scenarios(quick=False)
    assert (rate.models, rate.rate, rate.in_flight, rate.reload_s) == (2000, 50, 10, 3.0)
    assert (queue.models, queue.queue_limit, queue.loading_counts) == (300, 15, True)
    assert queue.extra_env["RELOAD_LOADING_HOLDS_SLOT"] == "true"
    assert sum(p for _, p in faulty.faults) == pytest.approx(0.10)
    assert scale.models == 10_000 and scale.contenders == ("project", "dramatiq")
    assert "dramatiq" in rate.contenders and "dramatiq" in queue.contenders


def test_scenario_5_is_issue_14s_real_world_shape_on_a_faster_clock() -> None:
    real_world = scenarios(quick=False)[4]
    assert (real_world.models, real_world.queue_limit, real_world.loading_counts) == (
        1000,
        10,
        True,
    )
    assert real_world.reload_s * real_world.time_scale == pytest.approx(120.0)
    assert real_world.extra_env["RELOAD_LOADING_HOLDS_SLOT"] == "true"
    # The bound is in real seconds: 1,000 x 4 s / 10.
    assert real_world.ideal_s() == pytest.approx(400.0)
    args = real_world.sim_args("k")
    assert args[args.index("--reload-seconds") + 1] == "120"
    assert args[args.index("--time-scale") + 1] == "30"
    assert args[args.index("--latency") + 1] == "0.6"  # 20 ms real


def test_unscaled_scenarios_pass_no_time_scale() -> None:
    assert all("--time-scale" not in s.sim_args("k") for s in scenarios(quick=True)[:4])


def test_simulator_arguments_carry_the_limits_and_faults() -> None:
    _, queue, faulty, _, _ = scenarios(quick=True)
    args = queue.sim_args("k")
    assert args[args.index("--queue-limit") + 1] == "15"
    assert "--loading-counts" in args
    fault_args = faulty.sim_args("k")
    assert "500=0.03" in fault_args and "reset=0.02" in fault_args
    assert not any(a.startswith("timeout=") for a in fault_args)
