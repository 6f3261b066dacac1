"""A freed slot is handed to the first caller in line for one, as a grant taken ahead for it,
so nobody takes it before that caller comes; the pumps hand over the slots no release did
(a lease that expired), and the line outlives the longest wait of anyone in it."""

from __future__ import annotations

import time

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter, redis_now
from worker.limiter.scripts import SLOT_LINE_SECONDS


def test_given_a_caller_in_line_when_a_slot_is_released_then_the_slot_is_that_callers(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1)
    held = expect_go(limiter.acquire(caller="holder"))
    expect_wait(limiter.acquire(caller="first-in-line"), "in_flight")

    woken = limiter.release(held.lease)

    assert woken == "first-in-line"
    # Between the wake and its task: a newcomer, or the pump asking for another task, waits.
    expect_wait(limiter.acquire(caller="newcomer"), "in_flight")
    expect_wait(limiter.acquire(caller="turn", ahead=limiter.ahead_seconds), "in_flight")
    # The pump asking for the woken task gets the slot handed to it, and so does the task.
    ahead = expect_go(limiter.acquire(caller="first-in-line", ahead=limiter.ahead_seconds))
    go = expect_go(limiter.acquire(caller="first-in-line"))
    assert (go.lease, go.grant) == (ahead.lease, ahead.grant)
    assert limiter.in_flight() == 1


def test_given_a_slot_freed_without_a_release_then_the_pumps_hand_it_to_the_first_in_line(
    store: Store,
) -> None:
    # A grant taken ahead that nobody picked up: its lease expires, and no release says so.
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, rate_period=0.2)
    lost = expect_go(limiter.acquire(caller="lost", ahead=limiter.ahead_seconds))
    expect_wait(limiter.acquire(caller="a"), "in_flight")
    expect_wait(limiter.acquire(caller="b"), "in_flight")
    assert limiter.hand_free_slots() == []  # the slot is still taken

    time.sleep(max(0.0, lost.at + limiter.ahead_seconds - redis_now(store.client)) + 0.02)
    handed = limiter.hand_free_slots()

    assert handed == ["a"]
    expect_wait(limiter.acquire(caller="b"), "in_flight")
    expect_go(limiter.acquire(caller="a"))
    assert limiter.hand_free_slots() == []


def test_given_the_rate_window_full_then_a_release_wakes_the_first_in_line_without_a_grant(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=5.0, max_in_flight=1)
    held = expect_go(limiter.acquire(caller="holder"))
    expect_wait(limiter.acquire(caller="in-line"), "in_flight")
    expect_go(limiter.acquire(hold=held.lease))  # the holder's check takes the last grant

    assert limiter.release(held.lease) == "in-line"  # woken, to ask anew

    assert store.client.exists(limiter.ahead_key("in-line")) == 0
    expect_wait(limiter.acquire(caller="in-line"), "rate")


def test_the_line_outlives_the_longest_backstop_of_anyone_in_it(store: Store) -> None:
    # One slot, a crowd in line: each one's backstop is later than the one before.
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1)
    expect_go(limiter.acquire(caller="holder"))
    waits = [expect_wait(limiter.acquire(caller=f"w{i}"), "in_flight").seconds for i in range(40)]

    ttl = store.client.pttl(limiter.slots_key) / 1000
    assert max(waits) > SLOT_LINE_SECONDS / 2  # the later ones come back a while from now
    assert ttl >= max(waits) + SLOT_LINE_SECONDS - 1.0
