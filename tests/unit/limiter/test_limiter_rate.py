"""Rate: rate_count grants per sliding window, then Wait("rate") until the oldest grant leaves.

A grant counts from when its request is sent: a slow sender cannot crowd the window.
"""

from __future__ import annotations

import time

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter


def test_given_a_fresh_scope_when_acquiring_then_rate_count_grants_then_a_rate_wait(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=3, rate_period=0.5, skew=0.05)

    grants = [expect_go(limiter.acquire()) for _ in range(3)]
    wait = expect_wait(limiter.acquire(), "rate")

    # The 4th call may go once the 1st grant leaves the window (period + skew).
    seconds, micros = store.client.time()
    now = seconds + micros / 1e6
    assert wait.seconds == pytest.approx(grants[0].at + limiter.window - now, abs=0.05)
    assert 0 < wait.seconds <= limiter.window
    assert len({g.lease for g in grants}) == 3
    assert [g.at for g in grants] == sorted(g.at for g in grants)


def test_given_a_full_window_when_the_wait_has_passed_then_it_grants_again(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.3, skew=0.05)
    first = expect_go(limiter.acquire())
    time.sleep(0.1)
    expect_go(limiter.acquire())
    wait = expect_wait(limiter.acquire(), "rate")

    time.sleep(wait.seconds + 0.01)

    again = expect_go(limiter.acquire())
    assert again.at - first.at >= limiter.window
    # Only the first grant left the window: the next call waits for the second.
    expect_wait(limiter.acquire(), "rate")


def test_given_released_leases_when_the_window_is_full_then_release_does_not_refill_the_rate(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.5)
    for _ in range(2):
        limiter.release(expect_go(limiter.acquire()).lease)

    expect_wait(limiter.acquire(), "rate")


def test_given_two_clients_when_acquiring_then_they_share_one_rate(store: Store) -> None:
    a = make_limiter(store.client, rate_count=2)
    b = make_limiter(store.new_client(), rate_count=2)

    expect_go(a.acquire())
    expect_go(b.acquire())

    expect_wait(a.acquire(), "rate")
    expect_wait(b.acquire(), "rate")


def test_grant_time_is_the_redis_clock(store: Store) -> None:
    limiter = make_limiter(store.client)
    before_s, before_us = store.client.time()
    go = expect_go(limiter.acquire())
    after_s, after_us = store.client.time()

    assert before_s + before_us / 1e6 <= go.at <= after_s + after_us / 1e6


def test_given_a_grant_sent_late_then_the_window_counts_from_the_send(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.4, skew=0.0)
    first = expect_go(limiter.acquire())
    time.sleep(0.2)  # the worker was slow to send its request

    limiter.started(first.grant)

    wait = expect_wait(limiter.acquire(), "rate")
    assert wait.seconds > 0.3  # the window runs from the send, not from the grant
    granted_at = store.client.zscore(limiter.calls_key, first.grant)
    assert granted_at is not None and granted_at >= first.at + 0.19


def test_given_a_grant_no_longer_in_the_window_then_started_adds_nothing(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.1, skew=0.0)
    first = expect_go(limiter.acquire())
    time.sleep(0.15)
    expect_go(limiter.acquire())  # the first grant has left the window and been dropped

    limiter.started(first.grant)

    assert store.client.zscore(limiter.calls_key, first.grant) is None
