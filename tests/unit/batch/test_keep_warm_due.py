"""Keep-warm's decision (worker.batch.keepwarm) on a real Redis: which models are due, atomically.

A model is due unless a flight confirmed it warm, or keep-warm asked for it,
within the period; the choice is Redis's (its TIME), marked in the same step, and
a redelivered run gets the same choice back.
"""

from __future__ import annotations

import time

import redis

from worker import constants as c
from worker.batch.keepwarm import TICK_SECONDS, KeepWarmStore, tick_seconds
from worker.celery import _beat_schedule
from worker.reload.flight import FlightStore, Outcome
from worker.settings import Settings

DAY = 24 * 3600.0


def redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1_000_000


def test_first_run_asks_for_every_model_and_a_second_run_within_the_period_for_none(
    real_redis: redis.Redis,
) -> None:
    store = KeepWarmStore(real_redis)

    first = store.select(["a", "b", "c"], period=DAY, run_id="run-1")
    second = store.select(["a", "b", "c"], period=DAY, run_id="run-2")

    assert first.due == ("a", "b", "c")
    assert (first.warm, first.asked, first.again) == (0, 0, False)
    assert abs(first.at - redis_now(real_redis)) < 5
    assert second.due == ()
    assert (second.warm, second.asked, second.skipped) == (0, 3, 3)


def test_models_warmed_by_any_batch_within_the_period_are_skipped(
    real_redis: redis.Redis,
) -> None:
    now = redis_now(real_redis)
    real_redis.zadd(c.WARMED_KEY, {"recent": now - 3600, "old": now - 2 * DAY})

    chosen = KeepWarmStore(real_redis).select(
        ["recent", "old", "never"], period=DAY, run_id="run-1"
    )

    assert chosen.due == ("old", "never")
    assert (chosen.warm, chosen.asked) == (1, 0)


def test_a_model_becomes_due_again_once_the_period_has_passed(real_redis: redis.Redis) -> None:
    store = KeepWarmStore(real_redis)
    assert store.select(["a"], period=0.3, run_id="run-1").due == ("a",)
    assert store.select(["a"], period=0.3, run_id="run-2").due == ()

    time.sleep(0.4)

    assert store.select(["a"], period=0.3, run_id="run-3").due == ("a",)


def test_a_redelivered_run_gets_its_own_choice_back_and_marks_nothing_more(
    real_redis: redis.Redis,
) -> None:
    store = KeepWarmStore(real_redis)
    first = store.select(["a", "b"], period=DAY, run_id="run-1")

    again = store.select(["a", "b"], period=DAY, run_id="run-1")

    assert again.due == first.due == ("a", "b")
    assert again.again and not first.again
    assert again.at == first.at


def test_two_runs_at_once_never_put_one_model_in_two_batches(real_redis: redis.Redis) -> None:
    ids = [f"m{i}" for i in range(200)]
    store = KeepWarmStore(real_redis)

    runs = [store.select(ids, period=DAY, run_id=f"beat-{n}") for n in range(2)]

    assert sorted(runs[0].due + runs[1].due) == sorted(ids)
    assert not set(runs[0].due) & set(runs[1].due)


def test_stale_entries_are_pruned(real_redis: redis.Redis) -> None:
    now = redis_now(real_redis)
    real_redis.zadd(c.KEEP_WARM_ASKED_KEY, {"gone": now - 2 * DAY})
    real_redis.zadd(c.WARMED_KEY, {"ancient": now - 30 * DAY, "week": now - 6 * DAY})

    KeepWarmStore(real_redis).select(["a"], period=DAY, run_id="run-1")

    assert real_redis.zscore(c.KEEP_WARM_ASKED_KEY, "gone") is None
    assert real_redis.zscore(c.WARMED_KEY, "ancient") is None
    assert real_redis.zscore(c.WARMED_KEY, "week") is not None  # a week of history is kept


def test_a_flight_that_ends_warm_records_when_and_a_failed_one_does_not(
    real_redis: redis.Redis,
) -> None:
    flights = FlightStore(real_redis, ttl_seconds=60, lock_seconds=5)
    at = redis_now(real_redis)
    for model_id, state in (("good", "warm"), ("bad", "failed")):
        outcome = Outcome(model_id, state, None, 2, f"flight-{model_id}", at)  # type: ignore[arg-type]
        flights.finish(outcome, fresh_seconds=0)

    assert KeepWarmStore(real_redis).warmed_at("good") == at
    assert KeepWarmStore(real_redis).warmed_at("bad") is None


def test_beat_looks_every_minute_or_every_period_if_shorter() -> None:
    assert tick_seconds(6 * DAY) == TICK_SECONDS == 60.0
    assert tick_seconds(2.0) == 2.0
    schedule = _beat_schedule(Settings.from_env({"RELOAD_KEEP_WARM": "a,b"}))
    assert schedule["keep-warm"] == {"task": "keep_warm", "schedule": 60.0}
    assert "keep-warm" not in _beat_schedule(Settings.from_env({}))
