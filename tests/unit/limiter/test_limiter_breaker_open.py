"""While the key's breaker is open, the limiter takes no grant ahead and hands no slot over:
the tasks the breaker holds back would leave them unused, and the in-flight cap full of
leases nobody calls under would refuse the breaker's probe a slot. The probe's own acquire
is granted as any call's."""

from __future__ import annotations

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter
from worker.limiter import Limiter, Wait
from worker.limiter.breaker import Breaker, breaker_key
from worker.reload.admission import admit


@pytest.fixture
def limiter(store: Store) -> Limiter:
    return make_limiter(
        store.client, rate_count=100, max_in_flight=1, breaker_key=breaker_key("scope-a")
    )


def open_breaker(store: Store) -> Breaker:
    brk = Breaker(store.client, "scope-a", probe_seconds=5)
    for model in ("m1", "m2", "m3"):
        brk.failed(model_id=model, caller="t", signature="ServerError:503", reason="HTTP 503",
                   permanent=False, account=False)  # fmt: skip
    assert brk.check("any").action == "wait"
    return brk


def two_in_line(limiter: Limiter) -> str:
    """The one slot held, callers "a" then "b" in line for it; returns the holder's lease."""
    held = expect_go(limiter.acquire(caller="holder"))
    expect_wait(limiter.acquire(caller="a"), "in_flight")
    expect_wait(limiter.acquire(caller="b"), "in_flight")
    return held.lease


def test_given_an_open_breaker_then_the_pump_takes_no_grant_and_publishes_the_task(
    store: Store, limiter: Limiter
) -> None:
    open_breaker(store)

    decision = limiter.acquire(caller="t1", ahead=limiter.ahead_seconds)

    assert isinstance(decision, Wait) and decision.reason == "breaker"
    assert limiter.in_flight() == 0
    assert store.client.zcard(limiter.calls_key) == 0
    assert store.client.exists(limiter.ahead_key("t1")) == 0
    assert admit(limiter, "t2", "normal", {"confirming": False, "hold": ""}) == 0.0
    assert limiter.in_flight() == 0
    expect_go(limiter.acquire(caller="probe"))  # the probe's own call: granted


def test_given_an_open_breaker_then_a_freed_slot_is_handed_to_nobody(
    store: Store, limiter: Limiter
) -> None:
    held = two_in_line(limiter)
    open_breaker(store)

    assert limiter.release(held) == "a"  # woken, to ask the breaker; no slot for it
    assert limiter.in_flight() == 0
    assert store.client.exists(limiter.ahead_key("a")) == 0
    assert limiter.hand_free_slots() == []
    assert limiter.in_flight() == 0


def test_given_the_breaker_closed_again_then_slots_are_handed_over_as_before(
    store: Store, limiter: Limiter
) -> None:
    held = two_in_line(limiter)
    brk = open_breaker(store)
    limiter.release(held)

    assert brk.succeeded() is True
    assert limiter.hand_free_slots() == ["b"]
    expect_go(limiter.acquire(caller="b"))
