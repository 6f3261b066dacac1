"""Holding a slot: a loading model keeps its lease across checks; checks need only the rate."""

from __future__ import annotations

import time

from tests.unit.limiter_stores import Store, expect_go, expect_wait, make_limiter, store_fixture  # noqa: F401


def test_given_a_full_cap_when_the_holder_checks_then_it_is_granted_on_its_own_lease(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, lease_seconds=5.0)
    held = expect_go(limiter.acquire()).lease
    expect_wait(limiter.acquire(), "in_flight")

    again = expect_go(limiter.acquire(hold=held))

    assert again.lease == held
    assert limiter.in_flight() == 1


def test_given_a_held_lease_when_checking_then_the_rate_still_applies(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.5, max_in_flight=5)
    held = expect_go(limiter.acquire()).lease
    expect_go(limiter.acquire(hold=held))

    expect_wait(limiter.acquire(hold=held), "rate")


def test_given_an_expired_held_lease_then_acquire_takes_a_new_slot_under_the_cap(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, lease_seconds=0.2)
    held = expect_go(limiter.acquire()).lease
    time.sleep(0.3)
    other = expect_go(limiter.acquire())

    assert other.lease != held
    expect_wait(limiter.acquire(hold=held), "in_flight")
