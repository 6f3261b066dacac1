"""Behaviour: a 429 lowers the account-wide in-flight cap by one; successes raise it back.

The upstream's real queued-request limit may be below ``RELOAD_MAX_IN_FLIGHT``. Each
429 then costs a call; lowering the cap for every worker stops the storm, and the cap
climbs back one step per cap's worth of answered calls (additive increase).
"""

from __future__ import annotations

from tests.unit.support.reload_rig import Rig, error, success
from tests.unit.support.stores import Store, make_limiter
from worker.limiter import Go, Wait


def test_given_four_in_flight_when_a_429_comes_then_only_three_may_be_in_flight(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, max_in_flight=4, rate_count=100)
    leases = [limiter.acquire() for _ in range(4)]
    assert all(isinstance(lease, Go) for lease in leases)

    assert limiter.shrink() == (3, 1)
    limiter.release(leases[0].lease)  # type: ignore[union-attr]

    # Three live leases: at the lowered cap, a fourth caller waits.
    assert isinstance(limiter.acquire(), Wait)
    limiter.release(leases[1].lease)  # type: ignore[union-attr]
    assert isinstance(limiter.acquire(), Go)


def test_given_a_lowered_cap_when_calls_succeed_then_it_grows_back_to_the_configured_one(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, max_in_flight=3, rate_count=100)
    first = limiter.acquire()
    second = limiter.acquire()
    assert isinstance(first, Go) and isinstance(second, Go)
    assert limiter.shrink() == (1, 1)  # min(3, 2 live) - 1; the first 429 in a row

    assert limiter.grow() == 2  # one success at cap 1
    assert [limiter.grow(), limiter.grow()] == [2, 3]  # two at cap 2, then back to 3
    assert not store.client.exists(limiter.cap_key)
    assert limiter.grow() == 3  # nothing lowered: nothing to do


def test_given_one_in_flight_when_429s_repeat_then_the_cap_never_drops_below_one(
    store: Store,
) -> None:
    limiter = make_limiter(store.client, max_in_flight=2, rate_count=100)
    assert isinstance(limiter.acquire(), Go)
    assert [limiter.shrink(), limiter.shrink()] == [(1, 1), (1, 2)]


def test_given_a_429_then_the_reloader_lowers_the_cap_and_a_success_raises_it(rig: Rig) -> None:
    reloader = rig.build(
        [error(429, "Rate limit exceeded", retry_after=1), success()], limiter="stub"
    )
    limiter = rig.limiter

    rig.advance("model-a")
    rig.clock.advance(2)
    rig.advance("model-a")

    assert (limiter.shrinks, limiter.grows) == (1, 1)
    assert reloader is not None


def test_a_grant_says_whether_429s_keep_the_cap_lowered_picked_up_ahead_or_not(
    store: Store,
) -> None:
    # Only then has an answer a cap to raise (the reloader calls ``grow`` for it alone).
    limiter = make_limiter(store.client, max_in_flight=2, rate_count=100)
    plain = limiter.acquire()
    assert isinstance(plain, Go) and plain.cap_lowered is False

    assert limiter.shrink() == (1, 1)
    limiter.release(plain.lease)
    lowered = limiter.acquire()
    assert isinstance(lowered, Go) and lowered.cap_lowered is True
    limiter.release(lowered.lease)
    limiter.acquire(caller="t1", ahead=limiter.ahead_seconds)  # the pump, for t1
    picked_up = limiter.acquire(caller="t1")
    assert isinstance(picked_up, Go) and picked_up.cap_lowered is True

    assert limiter.grow() == 2  # back to the configured cap: nothing lowered any more
    limiter.release(picked_up.lease)
    again = limiter.acquire()
    assert isinstance(again, Go) and again.cap_lowered is False
