"""Concurrency: at most max_in_flight live leases; release frees a slot; a dead holder's expires.

Holding a slot: a loading model keeps its lease across checks; checks need only the rate.
"""

from __future__ import annotations

import time

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter
from worker.limiter.limiter import IN_FLIGHT_RETRY_SECONDS, SLOT_WAIT_SECONDS


def test_given_max_in_flight_leases_held_when_acquiring_then_wait_in_flight(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=2, lease_seconds=5.0)
    expect_go(limiter.acquire())
    expect_go(limiter.acquire())

    wait = expect_wait(limiter.acquire(), "in_flight")

    # A slot usually frees when a request returns: a short retry, not the lease length.
    assert wait.seconds <= 0.25
    assert limiter.in_flight() == 2


def test_given_a_full_cap_when_one_lease_is_released_then_the_next_call_is_granted(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=2)
    first = expect_go(limiter.acquire())
    expect_go(limiter.acquire())
    expect_wait(limiter.acquire(), "in_flight")

    limiter.release(first.lease)

    assert limiter.in_flight() == 1
    expect_go(limiter.acquire())
    expect_wait(limiter.acquire(), "in_flight")


def test_given_another_worker_holds_the_slots_then_this_worker_waits(store: Store) -> None:
    holder = make_limiter(store.client, rate_count=100, max_in_flight=1)
    other = make_limiter(store.new_client(), rate_count=100, max_in_flight=1)
    lease = expect_go(holder.acquire()).lease

    expect_wait(other.acquire(), "in_flight")
    holder.release(lease)
    expect_go(other.acquire())


def test_given_a_dead_holder_when_its_lease_expires_then_the_slot_comes_back(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, lease_seconds=0.3)
    dead = expect_go(limiter.acquire())  # never released: the holder died

    wait = expect_wait(limiter.acquire(), "in_flight")
    assert wait.seconds <= 0.25
    time.sleep(max(0.0, dead.at + 0.3 - time.time()) + 0.02)

    assert limiter.in_flight() == 0
    expect_go(limiter.acquire())


def test_given_a_short_lease_then_the_wait_is_its_expiry_when_sooner_than_the_retry_cap(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, lease_seconds=0.1)
    expect_go(limiter.acquire())

    wait = expect_wait(limiter.acquire(), "in_flight")

    assert wait.seconds <= 0.1


def test_release_is_idempotent(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=2)
    kept = expect_go(limiter.acquire())
    released = expect_go(limiter.acquire())

    limiter.release(released.lease)
    limiter.release(released.lease)
    limiter.release("never-granted")

    assert limiter.in_flight() == 1
    assert limiter.renew(kept.lease, 5.0) is True


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


def test_given_callers_waiting_for_a_slot_then_each_release_names_the_first_in_line(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1)
    held = expect_go(limiter.acquire(caller="holder"))
    first = expect_wait(limiter.acquire(caller="first"), "in_flight")
    assert first.seconds <= SLOT_WAIT_SECONDS  # a backstop: the release wakes it
    second = expect_wait(limiter.acquire(caller="second"), "in_flight")
    assert second.seconds > first.seconds  # a crowd's backstops are spread (turns)
    expect_wait(limiter.acquire(caller="first"), "in_flight")  # back again: keeps its place
    expect_wait(limiter.acquire(priority="high", caller="urgent"), "in_flight")

    assert limiter.release(held.lease) == "urgent"  # high callers first
    assert limiter.release(held.lease) == ""  # released twice: no slot freed, nobody woken
    assert limiter.release(expect_go(limiter.acquire(caller="urgent")).lease) == "first"
    assert limiter.release(expect_go(limiter.acquire(caller="first")).lease) == "second"
    assert limiter.release(expect_go(limiter.acquire(caller="second")).lease) == ""


def test_given_a_caller_without_an_id_then_it_comes_back_soon_to_look_again(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1)
    expect_go(limiter.acquire())

    assert expect_wait(limiter.acquire(), "in_flight").seconds <= IN_FLIGHT_RETRY_SECONDS
