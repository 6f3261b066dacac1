"""A grant counts from its call's answer: release() and renew() move it to that moment.

The answer came back after the request reached the upstream, so a request delayed on
its way (a busy CPU between STARTED and the send, a slow upstream event loop) is
still inside the window when the upstream counts it. ``answered()`` notes the moment on
the worker's monotonic clock, so the work a worker does between the answer and the
release (and a busy CPU's delays in it) does not hold the rate's slot.
"""

from __future__ import annotations

import time

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter, redis_now


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


def test_given_an_answer_noted_when_released_later_then_the_window_counts_from_the_answer(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.5, skew=0.0)
    go = expect_go(limiter.acquire())
    limiter.started(go.grant)
    time.sleep(0.05)  # the request is on its way, then answered
    before_answer = redis_now(store.client)
    limiter.answered(go.lease)
    after_answer = redis_now(store.client)
    time.sleep(0.25)  # the worker records the answer before it releases

    limiter.release(go.lease)

    counted = store.client.zscore(limiter.calls_key, go.grant)
    assert counted is not None
    # An upper bound on the arrival (never before the answer), close to the answer.
    assert before_answer <= counted <= after_answer + 0.01
    wait = expect_wait(limiter.acquire(), "rate")
    assert wait.seconds < 0.5 - 0.25 + 0.02  # counted from the answer, not the release


def test_given_an_answer_noted_when_renewed_later_then_the_window_counts_from_the_answer(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=5, rate_period=0.5, skew=0.0)
    go = expect_go(limiter.acquire())
    limiter.answered(go.lease)
    answered_by = redis_now(store.client)
    time.sleep(0.2)

    assert limiter.renew(go.lease, 5.0)

    counted = store.client.zscore(limiter.calls_key, go.grant)
    assert counted is not None and go.at <= counted <= answered_by + 0.01


def test_given_an_answer_noted_twice_then_the_first_moment_counts(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.5, skew=0.0)
    go = expect_go(limiter.acquire())
    limiter.answered(go.lease)
    answered_by = redis_now(store.client)
    time.sleep(0.2)
    limiter.answered(go.lease)  # e.g. a second report of the same call

    limiter.release(go.lease)

    counted = store.client.zscore(limiter.calls_key, go.grant)
    assert counted is not None and counted <= answered_by + 0.01


def test_given_a_lease_it_did_not_grant_then_answered_does_nothing(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.5, skew=0.0)

    limiter.answered("not-a-lease")
    limiter.release("not-a-lease")

    assert store.client.zcard(limiter.calls_key) == 0
