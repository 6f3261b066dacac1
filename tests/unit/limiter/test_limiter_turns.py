"""Waiters get turns: callers turned away are told distinct moments, spaced by the pace,
so a crowd of waiting tasks comes back one at a time instead of as a herd."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter
from worker.limiter import Go


def test_given_a_full_window_then_each_waiter_gets_a_later_turn_by_the_rate_pace(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=4, rate_period=1.0, skew=0.0)
    for _ in range(4):
        expect_go(limiter.acquire())

    waits = [expect_wait(limiter.acquire(), "rate").seconds for _ in range(5)]

    gaps = [later - earlier for earlier, later in itertools.pairwise(waits)]
    assert waits[0] <= 1.0
    assert all(gap == pytest.approx(0.25, abs=0.02) for gap in gaps)


def test_given_waiters_coming_back_on_their_turns_then_they_are_granted_at_the_rate(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=5, rate_period=0.5, skew=0.0)
    for _ in range(5):
        expect_go(limiter.acquire())
    turns = sorted(expect_wait(limiter.acquire(), "rate").seconds for _ in range(5))
    start = time.monotonic()

    granted = 0
    for turn in turns:
        time.sleep(max(0.0, turn - (time.monotonic() - start)) + 0.005)
        granted += isinstance(limiter.acquire(), Go)
    assert granted >= 4  # a turn is a forecast, not a reservation: allow one miss


def test_given_a_full_cap_then_in_flight_waiters_are_spread_too(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=2)
    expect_go(limiter.acquire())
    expect_go(limiter.acquire())

    # Each wait as an instant, so that the time between the calls does not shrink the spread.
    waits = [
        time.monotonic() + expect_wait(limiter.acquire(), "in_flight").seconds for _ in range(4)
    ]

    assert waits == sorted(waits)
    assert waits[-1] - waits[0] == pytest.approx(3 * 0.25 / 2, abs=0.02)


def test_given_a_first_call_back_at_its_turn_before_the_slot_frees_then_it_keeps_its_place(
    store: Store,
) -> None:
    # Given a full window and two first calls in line (a, then b a pace later)...
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.5, skew=0.0)
    held = expect_go(limiter.acquire())
    turn_a = expect_wait(limiter.acquire(caller="a"), "rate").seconds
    turn_b = expect_wait(limiter.acquire(caller="b"), "rate").seconds
    assert turn_b == pytest.approx(turn_a + 0.5, abs=0.02)
    # ...when the call in the window turns out to count from later (its request was sent
    # late: STARTED, and answered at once), a comes back at its turn and finds no room yet...
    time.sleep(0.2)
    limiter.started(held.grant)
    limiter.release(held.lease)
    time.sleep(max(0.0, turn_a - 0.2) + 0.01)
    retry = expect_wait(limiter.acquire(caller="a"), "rate")

    # ...then it is told the moment the slot frees (about 0.2 s), not a turn behind b's.
    assert retry.seconds == pytest.approx(0.2, abs=0.05)
    time.sleep(retry.seconds + 0.01)
    expect_go(limiter.acquire(caller="a"))


def test_given_a_crowd_in_line_for_a_slot_then_a_first_call_gets_the_rates_own_turn(
    store: Store,
) -> None:
    # Given one slot, held, and five tasks in line for it (each woken by the release that
    # frees it; their waits are backstops, spread by their place in line)...
    limiter = make_limiter(store.client, rate_count=1, rate_period=1.0, max_in_flight=1, skew=0.0)
    held = expect_go(limiter.acquire(caller="holder"))
    backstops = [
        expect_wait(limiter.acquire(caller=f"slot-{i}"), "in_flight").seconds for i in range(5)
    ]
    assert backstops == sorted(backstops) and backstops[-1] > backstops[0]
    # ...when the slot frees (handed to the first in line) and a first call finds the rate full...
    limiter.release(held.lease)
    wait = expect_wait(limiter.acquire(caller="first"), "rate").seconds

    # ...then it is told when the window has room (about 1 s), not a turn behind the slot
    # waiters' backstops: they do not take the rate's turns.
    assert wait <= 1.05, (wait, backstops)
