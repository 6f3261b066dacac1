"""Renew: a live lease's expiry moves to now + seconds; a gone lease cannot be renewed."""

from __future__ import annotations

import time

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter, redis_now


def test_given_a_live_lease_when_renewed_then_it_outlives_its_first_expiry(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, lease_seconds=0.3)
    go = expect_go(limiter.acquire())

    assert limiter.renew(go.lease, 1.0) is True
    time.sleep(0.45)  # past the original expiry (0.3 s), within the renewed one

    assert limiter.in_flight() == 1
    expect_wait(limiter.acquire(), "in_flight")
    expiry = store.client.zscore(limiter.leases_key, go.lease)
    assert expiry == pytest.approx(go.at + 1.0, abs=0.1)
    # The lease set outlives the renewed lease, not just the original lease_seconds.
    assert store.client.pttl(limiter.leases_key) > 400


def test_renew_never_shortens_a_lease(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, lease_seconds=5.0)
    go = expect_go(limiter.acquire())

    assert limiter.renew(go.lease, 0.1) is True

    expiry = store.client.zscore(limiter.leases_key, go.lease)
    assert expiry is not None and expiry - redis_now(store.client) > 4.0


def test_given_a_released_lease_when_renewed_then_false(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100)
    go = expect_go(limiter.acquire())
    limiter.release(go.lease)

    assert limiter.renew(go.lease, 5.0) is False
    assert limiter.in_flight() == 0


def test_given_an_expired_lease_when_renewed_then_false_and_not_revived(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, lease_seconds=0.15)
    go = expect_go(limiter.acquire())
    time.sleep(0.2)

    assert limiter.renew(go.lease, 5.0) is False
    assert limiter.in_flight() == 0
    expect_go(limiter.acquire())


def test_renew_of_an_unknown_lease_is_false(store: Store) -> None:
    limiter = make_limiter(store.client)

    assert limiter.renew("never-granted", 5.0) is False
    assert store.client.exists(limiter.leases_key) == 0


def test_renew_rejects_a_non_positive_duration(store: Store) -> None:
    limiter = make_limiter(store.client)
    go = expect_go(limiter.acquire())

    with pytest.raises(ValueError, match="seconds"):
        limiter.renew(go.lease, 0)
