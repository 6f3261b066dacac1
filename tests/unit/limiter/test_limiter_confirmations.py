"""Behaviour: a confirmation does not take the grant a first call waiting for the rate has
its turn for; it queues behind the first calls, in turns of its own.

Contract tests on a real redis-server and fakeredis. Ending a rate-bound batch soonest
means making its last first call soonest: each model's confirmation can wait, the last
model's reload cannot start later than it must.
"""

from __future__ import annotations

import time

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter
from worker.limiter import Go, Limiter
from worker.limiter.scripts import QUEUE_LATE_SECONDS


def one_first_call_waiting(store: Store, period: float) -> tuple[Limiter, float]:
    """A limiter of one call per ``period``, spent, and first call "q1" told to wait: its turn."""
    limiter = make_limiter(store.client, rate_count=1, rate_period=period, skew=0.0)
    expect_go(limiter.acquire(caller="a"))
    return limiter, expect_wait(limiter.acquire(caller="q1"), "rate").seconds


def test_given_first_calls_waiting_then_a_confirmation_queues_behind_all_of_them(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=2, rate_period=0.4, skew=0.0)
    expect_go(limiter.acquire(caller="a"))
    expect_go(limiter.acquire(caller="b"))
    start = time.monotonic()
    due = {c: expect_wait(limiter.acquire(caller=c), "rate").seconds for c in ("q1", "q2", "q3")}
    time.sleep(due["q1"] + 0.005)  # q1's turn: the window has room again

    confirmation = expect_wait(limiter.acquire(caller="c1", confirming=True), "queue")

    assert time.monotonic() + confirmation.seconds > start + max(due.values())
    expect_go(limiter.acquire(caller="q1"))


def test_given_a_first_call_back_late_to_a_full_window_then_it_goes_before_confirmations(
    store: Store,
) -> None:
    limiter, turn = one_first_call_waiting(store, 0.3)
    time.sleep(turn + 0.005)
    expect_wait(limiter.acquire(caller="c1", confirming=True), "queue")  # queued: low turn
    expect_go(limiter.acquire(caller="q2"))  # another first call took the grant meanwhile

    again = expect_wait(limiter.acquire(caller="q1"), "rate")
    confirmation = expect_wait(limiter.acquire(caller="c2", confirming=True), "rate")

    assert again.seconds < confirmation.seconds  # the first call's new turn comes first


def test_given_no_first_call_waiting_then_a_confirmation_takes_a_free_grant(
    store: Store,
) -> None:
    limiter, turn = one_first_call_waiting(store, 0.2)
    time.sleep(turn + QUEUE_LATE_SECONDS + 0.05)  # its first call never came back

    assert isinstance(limiter.acquire(caller="c1", confirming=True), Go)


def test_given_a_confirmation_holding_its_slot_then_it_never_queues(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=1, rate_period=0.3, skew=0.0)
    held = expect_go(limiter.acquire(caller="loading-model"))  # it keeps its slot
    turn = expect_wait(limiter.acquire(caller="q1"), "rate").seconds
    time.sleep(turn + 0.005)

    again = limiter.acquire(hold=held.lease, caller="loading-model", confirming=True)

    assert isinstance(again, Go) and again.lease == held.lease


def test_given_first_calls_and_confirmations_hammering_then_the_rate_still_holds(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, rate_count=3, rate_period=0.2, skew=0.0)
    granted: list[float] = []
    due: dict[str, float] = {}
    deadline = time.monotonic() + 1.2
    i = 0
    while time.monotonic() < deadline:
        i += 1
        caller = f"c{i % 9}"
        if due.get(caller, 0.0) > time.monotonic():
            continue
        decision = limiter.acquire(caller=caller, confirming=i % 2 == 0)
        if isinstance(decision, Go):
            granted.append(time.monotonic())
        else:
            due[caller] = time.monotonic() + decision.seconds
        time.sleep(0.003)

    assert len(granted) >= 9, "the queue stalled"
    for start in granted:
        assert sum(1 for t in granted if start <= t < start + 0.19) <= 3
