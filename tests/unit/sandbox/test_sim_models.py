"""The simulator's model book: cold -> loading -> warm, driven by a manual clock."""

from __future__ import annotations

import random

import pytest

from sandbox.sim.clock import ManualClock
from sandbox.sim.config import SimConfig
from sandbox.sim.models import ModelBook, Outcome, initially_warm


def book(clock: ManualClock, **knobs: object) -> ModelBook:
    config = SimConfig(keys=("k",), **knobs)  # type: ignore[arg-type]
    return ModelBook(config, clock, random.Random(1))


def test_cold_model_starts_loading_then_turns_warm_after_reload_seconds() -> None:
    clock = ManualClock()
    models = book(clock, reload_seconds=120.0)

    first = models.call("m", "key-a")
    assert first.outcome is Outcome.STARTED and first.eta == 120.0
    clock.advance(119.0)
    second = models.call("m", "key-a")
    assert second.outcome is Outcome.LOADING
    assert second.eta == pytest.approx(1.0)
    clock.advance(1.0)
    assert models.call("m", "key-a").outcome is Outcome.WARM
    assert models.call("m", "key-a").outcome is Outcome.WARM  # and stays warm


def test_state_reports_without_changing_the_model() -> None:
    clock = ManualClock()
    models = book(clock, reload_seconds=10.0)
    assert models.state("m")["state"] == "cold"
    assert models.state("m")["state"] == "cold"  # peeking starts nothing

    models.call("m", "key-a")
    clock.advance(4.0)
    loading = models.state("m")
    assert loading["state"] == "loading"
    assert loading["eta"] == pytest.approx(6.0)
    assert loading["owner"] == "key-a"
    assert loading["reloads_started"] == 1
    clock.advance(6.0)
    warm = models.state("m")
    assert warm["state"] == "warm"
    assert warm["warm_at"] == pytest.approx(clock.time())


def test_warm_times_list_only_finished_reloads_with_their_unix_time() -> None:
    clock = ManualClock()
    models = book(clock, reload_seconds=10.0, warm=frozenset({"w"}))
    models.call("a", "key-a")
    clock.advance(5.0)
    models.call("b", "key-a")
    models.call("w", "key-a")
    assert models.warm_times() == {}
    clock.advance(5.0)
    assert models.warm_times() == {"a": pytest.approx(clock.time())}
    clock.advance(5.0)
    assert set(models.warm_times()) == {"a", "b"}  # "w" was warm from the start


@pytest.mark.parametrize("seed", range(5))
def test_jitter_keeps_reload_time_within_the_fraction(seed: int) -> None:
    config = SimConfig(keys=("k",), reload_seconds=100.0, jitter=0.2)
    models = ModelBook(config, ManualClock(), random.Random(seed))
    durations = [models.call(f"m{i}", "key-a").eta for i in range(200)]
    assert all(d is not None and 80.0 <= d <= 120.0 for d in durations)
    assert len(set(durations)) > 100  # it does vary


def test_same_seed_gives_the_same_reload_times() -> None:
    def durations() -> list[float | None]:
        config = SimConfig(keys=("k",), jitter=0.5)
        models = ModelBook(config, ManualClock(), random.Random(7))
        return [models.call(f"m{i}", "key-a").eta for i in range(20)]

    assert durations() == durations()


def test_time_scale_divides_the_reload_time() -> None:
    clock = ManualClock()
    models = book(clock, reload_seconds=120.0, time_scale=60.0)
    assert models.call("m", "key-a").eta == pytest.approx(2.0)
    clock.advance(2.0)
    assert models.call("m", "key-a").outcome is Outcome.WARM


def test_listed_warm_models_answer_warm_and_start_no_reload() -> None:
    models = book(ManualClock(), warm=frozenset({"w"}))
    assert models.call("w", "key-a").outcome is Outcome.WARM
    assert models.state("w")["reloads_started"] == 0


def test_unknown_models_do_not_exist_and_everything_else_does() -> None:
    models = book(ManualClock(), unknown=frozenset({"ghost"}))
    assert models.call("ghost", "key-a").outcome is Outcome.UNKNOWN
    assert models.state("ghost") == {"model_id": "ghost", "exists": False, "state": "unknown"}
    assert models.call("anything-else", "key-a").outcome is Outcome.STARTED


def test_warm_fraction_is_deterministic_per_seed_and_close_to_the_fraction() -> None:
    ids = [f"model-{i}" for i in range(4000)]
    config = SimConfig(keys=("k",), warm_fraction=0.25, seed=3)
    warm = {i for i in ids if initially_warm(config, i)}
    assert 0.22 < len(warm) / len(ids) < 0.28
    assert warm == {i for i in ids if initially_warm(config, i)}
    other_seed = SimConfig(keys=("k",), warm_fraction=0.25, seed=4)
    assert warm != {i for i in ids if initially_warm(other_seed, i)}
    assert not any(initially_warm(SimConfig(keys=("k",)), i) for i in ids)
    assert all(initially_warm(SimConfig(keys=("k",), warm_fraction=1.0), i) for i in ids)


def test_loading_owned_counts_the_owners_models_until_they_are_warm() -> None:
    clock = ManualClock()
    models = book(clock, reload_seconds=10.0)
    models.call("a", "key-a")
    clock.advance(5.0)
    models.call("b", "key-a")
    models.call("c", "key-b")
    models.call("a", "key-b")  # loading already: key-b does not become its owner
    assert models.loading_owned("key-a") == 2
    assert models.loading_owned("key-b") == 1
    clock.advance(5.0)
    assert models.loading_owned("key-a") == 1
    clock.advance(5.0)
    assert models.loading_owned("key-a") == 0
    assert models.loading_owned("key-never") == 0
