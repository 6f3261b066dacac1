"""Grants taken ahead: the pump takes a task's grant before it publishes the task, and the
task's own ``acquire`` picks it up; the rate and the cap hold whatever happens in between."""

from __future__ import annotations

import time

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter, redis_now
from worker.limiter import limiter as limiter_module


def score(store: Store, key: str, member: str) -> float:
    value = store.client.zscore(key, member)
    assert value is not None, f"{member} is not in {key}"
    return float(value)


def test_given_a_grant_taken_ahead_when_its_task_acquires_then_it_gets_that_grant(
    store: Store,
) -> None:
    # Given the pump took a grant ahead for task t1...
    pump = make_limiter(store.client, lease_seconds=5.0)
    ahead = expect_go(pump.acquire(caller="t1", ahead=pump.ahead_seconds))
    assert score(store, pump.leases_key, ahead.lease) <= ahead.at + pump.ahead_seconds + 1e-3

    # ...when t1 runs (in another process) and asks for its call...
    task = make_limiter(store.new_client(), lease_seconds=5.0)
    time.sleep(0.05)
    go = expect_go(task.acquire(caller="t1"))

    # ...then it is the same grant and lease, counted from the pickup, the lease now a call's.
    assert (go.lease, go.grant) == (ahead.lease, ahead.grant)
    assert go.at >= ahead.at + 0.04
    assert score(store, task.calls_key, go.grant) == go.at
    assert score(store, task.leases_key, go.lease) >= go.at + 5.0 - 1e-3
    assert store.client.exists(task.ahead_key("t1")) == 0
    assert task.in_flight() == 1


def test_given_a_grant_taken_ahead_then_it_counts_against_the_rate_and_the_cap(
    store: Store,
) -> None:
    pump = make_limiter(store.client, rate_count=2, max_in_flight=1)
    expect_go(pump.acquire(caller="t1", ahead=pump.ahead_seconds))

    # The cap: the slot is the waiting task's.
    expect_wait(pump.acquire(caller="t2", ahead=pump.ahead_seconds), "in_flight")
    other = make_limiter(store.new_client(), rate_count=2, max_in_flight=1)
    expect_wait(other.acquire(), "in_flight")


def test_given_a_grant_taken_ahead_then_another_caller_does_not_get_it(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=1)
    expect_go(limiter.acquire(caller="t1", ahead=limiter.ahead_seconds))

    expect_wait(limiter.acquire(caller="t2"), "rate")
    expect_go(limiter.acquire(caller="t1"))


def test_given_a_grant_nobody_picks_up_then_its_slot_comes_back_and_its_grant_leaves_the_window(
    store: Store,
) -> None:
    # rate_period 0.5 s: a grant waits at most a quarter of a second for its task.
    limiter = make_limiter(store.client, rate_count=1, max_in_flight=1, skew=0.0)
    assert limiter.ahead_seconds == limiter.window / 2
    lost = expect_go(limiter.acquire(caller="lost", ahead=limiter.ahead_seconds))

    time.sleep(max(0.0, lost.at + limiter.ahead_seconds - redis_now(store.client)) + 0.02)
    assert limiter.in_flight() == 0  # the slot is back: the task never came
    time.sleep(max(0.0, lost.at + limiter.window - redis_now(store.client)) + 0.02)

    # The late task finds nothing to pick up and asks as any caller does.
    go = expect_go(limiter.acquire(caller="lost"))
    assert go.lease != lost.lease


def test_a_grant_waits_for_its_task_less_than_the_window() -> None:
    """Picked up within half the window, a grant is counted from then on: it never leaves the
    window before its call is made, however long the task took to come."""
    import fakeredis

    client = fakeredis.FakeRedis()
    assert make_limiter(client, rate_period=1.0, skew=0.0).ahead_seconds == 0.5
    assert make_limiter(client, rate_count=300, rate_period=60.0).ahead_seconds == 2.0


def test_given_a_held_slot_when_its_confirmation_is_granted_ahead_then_the_slot_keeps_its_expiry(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, max_in_flight=1, lease_seconds=5.0)
    held = expect_go(limiter.acquire())
    assert limiter.renew(held.lease, 30.0)  # a loading model keeps its slot

    ahead = expect_go(limiter.acquire(hold=held.lease, caller="t1", ahead=limiter.ahead_seconds))

    assert ahead.lease == held.lease
    assert score(store, limiter.leases_key, held.lease) >= held.at + 29.0
    go = expect_go(limiter.acquire(hold=held.lease, caller="t1"))
    assert (go.lease, go.grant) == (held.lease, ahead.grant)
    assert limiter.in_flight() == 1


def test_a_grant_taken_ahead_is_answered_by_its_task_not_by_the_pump(store: Store) -> None:
    pump = make_limiter(store.client, rate_count=5)
    task = make_limiter(store.new_client(), rate_count=5)
    expect_go(pump.acquire(caller="t1", ahead=pump.ahead_seconds))

    go = expect_go(task.acquire(caller="t1"))
    time.sleep(0.05)
    task.answered(go.lease)
    task.release(go.lease)

    # Counted from the answer the task noted: after the pickup, no later than the release.
    answered = score(store, task.calls_key, go.grant)
    assert go.at + 0.04 <= answered <= redis_now(store.client)
    assert task.in_flight() == 0


LEAD = 0.2  # AHEAD_LEAD_SECONDS for these tests: long enough to sleep inside on a busy host


def test_given_a_window_with_room_within_the_lead_then_the_pump_gets_a_grant_counted_from_then(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limiter_module, "AHEAD_LEAD_SECONDS", LEAD)
    limiter = make_limiter(store.client, rate_count=1, rate_period=1.0, skew=0.0)
    first = expect_go(limiter.acquire())
    # The window's one grant leaves it in half the lead.
    time.sleep(max(0.0, first.at + limiter.window - LEAD / 2 - redis_now(store.client)))

    # A call made now would be one too many: refused.
    expect_wait(make_limiter(store.new_client(), rate_count=1, rate_period=1.0, skew=0.0)
                .acquire(), "rate")  # fmt: skip
    # A grant taken ahead may be for a call sent within its lead: granted, counted from the
    # moment the window has room.
    ahead = expect_go(limiter.acquire(caller="t1", ahead=limiter.ahead_seconds))
    counted = score(store, limiter.calls_key, ahead.grant)
    assert counted == pytest.approx(first.at + limiter.window, abs=1e-5)
    assert ahead.at < counted < ahead.at + LEAD

    # Its task, picking it up sooner, is told to hold its call back until then.
    go = expect_go(limiter.acquire(caller="t1"))
    assert go.grant == ahead.grant
    assert go.hold_back == pytest.approx(counted - go.at, abs=1e-5)
    assert 0 < go.hold_back <= LEAD
    assert score(store, limiter.calls_key, go.grant) == counted  # never moved earlier


def test_given_a_grant_counted_from_a_later_moment_then_a_call_made_now_still_counts_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limiter_module, "AHEAD_LEAD_SECONDS", LEAD)
    limiter = make_limiter(store.client, rate_count=2, rate_period=1.0, skew=0.0)
    expect_go(limiter.acquire(caller="t1", ahead=limiter.ahead_seconds))
    expect_go(limiter.acquire())

    expect_wait(limiter.acquire(), "rate")
    expect_wait(limiter.acquire(caller="t2", ahead=limiter.ahead_seconds), "rate")


def test_given_a_grant_picked_up_after_its_moment_then_its_call_goes_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limiter_module, "AHEAD_LEAD_SECONDS", LEAD)
    limiter = make_limiter(store.client, rate_count=2, rate_period=1.0, skew=0.0)
    ahead = expect_go(limiter.acquire(caller="t1", ahead=limiter.ahead_seconds))
    assert score(store, limiter.calls_key, ahead.grant) == ahead.at  # room now: counted now
    time.sleep(0.03)

    go = expect_go(limiter.acquire(caller="t1"))

    assert go.hold_back == 0
    assert score(store, limiter.calls_key, go.grant) == go.at  # counted from the pickup
