"""Behaviour: a waiting high-priority caller gets the next grant before any normal caller.

Contract tests on a real redis-server and fakeredis: the account's limits still hold
(never more than ``rate_count`` grants in a window), high callers jump the normal
callers' turns, and a high caller that never comes back does not block the others.
"""

from __future__ import annotations

import time

from tests.unit.support.stores import Store, make_limiter
from worker.limiter import Go, Wait


def fill(limiter: object, count: int) -> None:
    for _ in range(count):
        assert isinstance(limiter.acquire(), Go)  # type: ignore[attr-defined]


def test_given_a_high_caller_waiting_when_the_window_frees_then_a_normal_one_must_wait(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.3, skew=0.0)
    fill(limiter, 2)  # the window is full

    high = limiter.acquire(priority="high", caller="h1")
    assert isinstance(high, Wait) and high.reason == "rate"
    time.sleep(high.seconds + 0.01)

    normal = limiter.acquire(priority="normal", caller="n1")
    assert isinstance(normal, Wait) and normal.reason == "priority"
    assert isinstance(limiter.acquire(priority="high", caller="h1"), Go)


def test_given_normal_callers_queued_with_turns_then_a_high_caller_goes_ahead_of_them(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.2, skew=0.0)
    fill(limiter, 1)
    normal_waits = [limiter.acquire(caller=f"n{i}") for i in range(5)]
    assert all(isinstance(w, Wait) for w in normal_waits)
    last_normal_turn = max(w.seconds for w in normal_waits)  # type: ignore[union-attr]

    high = limiter.acquire(priority="high", caller="h1")

    assert isinstance(high, Wait)
    assert high.seconds < 0.25 < last_normal_turn  # at the next free grant, not after them


def test_given_a_high_caller_that_never_comes_back_then_normal_callers_go_on(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.2, skew=0.0)
    fill(limiter, 1)
    assert isinstance(limiter.acquire(priority="high", caller="gone"), Wait)

    time.sleep(2.3)  # its turn passed two seconds ago: forgotten

    assert isinstance(limiter.acquire(caller="n1"), Go)


def test_given_high_and_normal_callers_hammering_then_the_rate_still_holds(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=3, rate_period=0.2, skew=0.0)
    granted: list[float] = []
    deadline = time.monotonic() + 1.0
    i = 0
    while time.monotonic() < deadline:
        i += 1
        priority = "high" if i % 4 == 0 else "normal"
        if isinstance(limiter.acquire(priority=priority, caller=f"c{i % 7}"), Go):
            granted.append(time.monotonic())
        time.sleep(0.005)

    assert granted, "nobody was granted"
    for start in granted:
        assert sum(1 for t in granted if start <= t < start + 0.19) <= 3
