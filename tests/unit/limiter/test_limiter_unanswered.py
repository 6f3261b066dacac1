"""A call sent and not answered yet stays in the rate's window, however old its grant.

Its request may reach the upstream at any moment until its answer comes back (a slow answer
is one the upstream documents: UPSTREAM.md). Counted only from its grant or its send, it
would leave the window a period later while its request could still be on its way, and a
new grant could then put one more call than the rate in the upstream's second.

Contract tests on a real redis-server and fakeredis.
"""

from __future__ import annotations

import time

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter, redis_now
from worker.limiter import Limiter

PERIOD = 0.3


@pytest.fixture
def limiter(store: Store) -> Limiter:
    return make_limiter(store.client, rate_count=1, rate_period=PERIOD, skew=0.0)


def test_given_a_call_out_longer_than_the_window_then_no_new_grant_until_its_answer(
    store: Store, limiter: Limiter
) -> None:
    go = expect_go(limiter.acquire())
    limiter.started(go.grant)
    time.sleep(PERIOD + 0.1)  # the window has passed; the call has no answer yet

    assert expect_wait(limiter.acquire(), "rate").seconds > 0
    assert expect_wait(limiter.acquire(caller="c"), "rate").seconds > 0

    limiter.answered(go.lease)
    answered = redis_now(store.client)
    limiter.release(go.lease)
    # Counted from its answer, it leaves the window one period after it.
    assert expect_wait(limiter.acquire(), "rate").seconds > PERIOD - 0.1
    time.sleep(PERIOD + 0.05)
    expect_go(limiter.acquire())
    assert redis_now(store.client) >= answered + PERIOD


@pytest.mark.parametrize("how", ["release", "renew"])
def test_given_the_answer_then_the_call_leaves_the_window_a_period_later(
    limiter: Limiter, how: str
) -> None:
    go = expect_go(limiter.acquire())
    if how == "release":
        limiter.release(go.lease)
    else:
        assert limiter.renew(go.lease, 5.0)
    time.sleep(PERIOD + 0.05)

    expect_go(limiter.acquire())


def test_given_a_holder_that_died_mid_call_then_its_grant_leaves_with_its_lease(
    store: Store,
) -> None:
    limiter = make_limiter(
        store.client, rate_count=1, rate_period=PERIOD, skew=0.0, lease_seconds=0.5
    )
    go = expect_go(limiter.acquire())
    limiter.started(go.grant)  # sent, never answered: its worker died
    time.sleep(PERIOD + 0.05)
    expect_wait(limiter.acquire(), "rate")

    time.sleep(0.5 + PERIOD)  # its lease has expired, and a window since

    expect_go(limiter.acquire())


def test_given_a_grant_taken_ahead_and_never_picked_up_then_it_leaves_after_its_lead(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=PERIOD, skew=0.0)
    expect_go(limiter.acquire(caller="t1", ahead=limiter.ahead_seconds))  # nobody comes
    time.sleep(limiter.ahead_seconds + PERIOD + 0.05)

    expect_go(limiter.acquire())


def test_given_a_grant_taken_ahead_and_picked_up_then_it_stays_until_answered(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=PERIOD, skew=0.0)
    expect_go(limiter.acquire(caller="t1", ahead=limiter.ahead_seconds))
    go = expect_go(limiter.acquire(caller="t1"))  # the task picks its grant up and calls
    limiter.started(go.grant)
    time.sleep(limiter.ahead_seconds + PERIOD + 0.05)

    expect_wait(limiter.acquire(), "rate")
    limiter.release(go.lease)
    time.sleep(PERIOD + 0.05)
    expect_go(limiter.acquire())


def test_given_a_call_out_when_a_grant_is_taken_ahead_then_it_does_not_count_on_its_leaving(
    store: Store, limiter: Limiter
) -> None:
    # A grant taken ahead may count from a moment within its lead when the window has room;
    # the room a call still out would leave at its time + window never comes before its answer.
    go = expect_go(limiter.acquire())
    limiter.started(go.grant)
    time.sleep(PERIOD - 0.01)  # the call's time + window is within the lead (20 ms)

    ahead = limiter.acquire(caller="t1", ahead=limiter.ahead_seconds)

    assert expect_wait(ahead, "rate").seconds > PERIOD - 0.05
    limiter.release(go.lease)
