"""A grant counts from its call's answer: release() and renew() move it to that moment.

The answer came back after the request reached the upstream, so a request delayed on
its way (a busy CPU between STARTED and the send, a slow upstream event loop) is
still inside the window when the upstream counts it.
"""

from __future__ import annotations

import time

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter


def test_given_a_call_answered_late_when_released_then_the_window_counts_from_the_answer(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.4, skew=0.0)
    go = expect_go(limiter.acquire())
    limiter.started(go.grant)
    time.sleep(0.2)  # the request was on its way, then answered

    limiter.release(go.lease)

    counted = store.client.zscore(limiter.calls_key, go.grant)
    assert counted is not None and counted >= go.at + 0.19
    assert expect_wait(limiter.acquire(), "rate").seconds > 0.3
    assert limiter.in_flight() == 0


def test_given_a_held_slot_when_renewed_then_its_call_counts_from_the_answer(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=5, rate_period=0.4, skew=0.0)
    first = expect_go(limiter.acquire())
    limiter.renew(first.lease, 5.0)
    held = expect_go(limiter.acquire(hold=first.lease))
    assert held.lease == first.lease and held.grant != first.grant
    time.sleep(0.1)

    assert limiter.renew(held.lease, 5.0)

    counted = store.client.zscore(limiter.calls_key, held.grant)
    assert counted is not None and counted >= held.at + 0.09


def test_given_a_lease_released_twice_then_its_grant_is_moved_once(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.5, skew=0.0)
    go = expect_go(limiter.acquire())
    limiter.release(go.lease)
    counted = store.client.zscore(limiter.calls_key, go.grant)
    time.sleep(0.05)

    limiter.release(go.lease)

    assert store.client.zscore(limiter.calls_key, go.grant) == counted


def test_given_a_grant_gone_from_the_window_when_released_then_nothing_is_added(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.1, skew=0.0)
    first = expect_go(limiter.acquire())
    time.sleep(0.15)
    expect_go(limiter.acquire())  # the first grant has left the window and been dropped

    limiter.release(first.lease)

    assert store.client.zscore(limiter.calls_key, first.grant) is None
