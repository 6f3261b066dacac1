"""Keys expire: every key has a TTL, and an idle scope leaves nothing behind in Redis."""

from __future__ import annotations

import time

from tests.unit.support.stores import Store, expect_go, expect_wait, limiter_keys, make_limiter
from worker.limiter import Go


def test_keys_are_named_by_prefix_and_scope(store: Store) -> None:
    limiter = make_limiter(store.client, scope="abc123", prefix="reload:")
    expect_go(limiter.acquire())
    limiter.pause(0.5)

    assert limiter_keys(store.client) == [
        b"reload:limiter:abc123:calls",
        b"reload:limiter:abc123:leases",
        b"reload:limiter:abc123:pause",
    ]


def test_every_key_has_a_ttl_bounded_by_what_it_holds(store: Store) -> None:
    limiter = make_limiter(store.client, rate_period=0.5, skew=0.05, lease_seconds=2.0)
    expect_go(limiter.acquire())
    limiter.pause(1.0)

    assert 0 < store.client.pttl(limiter.calls_key) <= 550
    assert 1500 < store.client.pttl(limiter.leases_key) <= 2000
    assert 800 < store.client.pttl(limiter.pause_key) <= 1000


def test_given_everything_clears_then_no_limiter_key_remains(store: Store) -> None:
    limiter = make_limiter(
        store.client, rate_count=2, rate_period=0.2, skew=0.05, max_in_flight=5, lease_seconds=0.4
    )
    released = expect_go(limiter.acquire())
    expect_go(limiter.acquire())  # never released: its lease must expire on its own
    limiter.release(released.lease)
    expect_wait(limiter.acquire(), "rate")
    limiter.pause(0.3)
    assert len(limiter_keys(store.client)) == 4  # calls, leases, pause, turns

    time.sleep(0.5)

    assert limiter_keys(store.client) == []
    assert store.client.dbsize() == 0


def test_memory_stays_bounded_by_the_limits_not_the_number_of_calls(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=3, rate_period=0.1, skew=0.0, max_in_flight=2)
    granted = 0
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        decision = limiter.acquire()
        if not isinstance(decision, Go):
            time.sleep(0.01)
            continue
        granted += 1
        limiter.release(decision.lease)

    assert granted > 6
    assert store.client.zcard(limiter.calls_key) <= 3
    assert store.client.zcard(limiter.leases_key) <= 2
