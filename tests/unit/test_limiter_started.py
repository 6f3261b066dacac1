"""A grant counts from when its request is sent: a slow sender cannot crowd the window."""

from __future__ import annotations

import time

from tests.unit.limiter_stores import Store, expect_go, expect_wait, make_limiter, store_fixture  # noqa: F401


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
