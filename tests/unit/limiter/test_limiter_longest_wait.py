"""Several limits block at once: the longest wait wins (all must clear), with its reason."""

from __future__ import annotations

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter


def test_given_a_full_rate_and_a_longer_pause_then_the_wait_is_the_pause(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.5)
    expect_go(limiter.acquire())
    limiter.pause(2.0)

    wait = expect_wait(limiter.acquire(), "paused")

    assert wait.seconds == pytest.approx(2.0, abs=0.1)


def test_given_a_full_rate_and_a_shorter_pause_then_the_wait_is_the_rate(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=2.0, skew=0.05)
    expect_go(limiter.acquire())
    limiter.pause(0.3)

    wait = expect_wait(limiter.acquire(), "rate")

    assert wait.seconds == pytest.approx(2.05, abs=0.1)


def test_given_a_full_cap_and_a_full_rate_then_the_wait_is_the_longer_rate(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=1.0, max_in_flight=1)
    expect_go(limiter.acquire())

    wait = expect_wait(limiter.acquire(), "rate")

    assert wait.seconds > 0.9


def test_given_a_full_cap_and_a_short_pause_then_the_wait_is_the_pause_if_longer(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1)
    expect_go(limiter.acquire())
    limiter.pause(0.6)

    wait = expect_wait(limiter.acquire(), "paused")

    assert wait.seconds > 0.5


def test_given_a_full_cap_and_a_tiny_pause_then_the_wait_is_in_flight(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=1, lease_seconds=5.0)
    expect_go(limiter.acquire())
    limiter.pause(0.05)

    wait = expect_wait(limiter.acquire(), "in_flight")

    assert wait.seconds == pytest.approx(0.25, abs=0.01)


def test_a_refused_call_consumes_neither_rate_nor_a_lease(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=2, max_in_flight=5)
    limiter.pause(0.5)
    for _ in range(5):
        expect_wait(limiter.acquire(), "paused")

    assert limiter.in_flight() == 0
    assert store.client.exists(limiter.calls_key) == 0
