"""Behaviour: when the account-wide limiter says "wait", the task waits without calling.

Given the limiter refuses (its in-flight cap is reached, its rate is spent, or
the key is paused), when a model's task finds its step due, then it makes no
call and comes back after the limiter's wait plus a little jitter; once the
limiter grants, the call is made and the lease is given back.
"""

from __future__ import annotations

import pytest

from tests.unit.support.reload_rig import Rig, success
from worker.limiter import Go, Wait
from worker.limiter.limiter import SLOT_WAIT_SECONDS
from worker.reload.reloader import Final, Later
from worker.settings import Rate


def test_given_the_in_flight_cap_is_reached_then_later_with_the_limiters_reason_and_no_call(
    rig: Rig,
) -> None:
    rig.build([success()], max_in_flight=1)
    held = rig.limiter.acquire()  # another worker's call in progress
    assert isinstance(held, Go)

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert step.reason == "limiter: in_flight"
    assert step.stage == "waiting"
    # A backstop: the release that frees the slot wakes it (test below).
    assert 0 < step.seconds <= SLOT_WAIT_SECONDS + 0.05 + 1e-6
    assert rig.upstream.calls == 0


def test_given_a_task_waiting_for_a_slot_when_it_is_freed_then_the_task_is_woken_and_calls(
    rig: Rig,
) -> None:
    rig.build([success(), success(), success()], max_in_flight=1, loading_holds_slot=True)
    assert rig.reloader is not None
    woken: list[str] = []
    rig.reloader.on_slot_freed = woken.append
    accepted = rig.advance("model-b", "task-b")  # loading: it keeps the one slot
    assert isinstance(accepted, Later)
    waiting = rig.advance("model-a", "task-a")
    assert isinstance(waiting, Later) and waiting.reason == "limiter: in_flight"
    rig.clock.advance(accepted.seconds)

    assert isinstance(rig.advance("model-b", "task-b"), Final)  # warm: its slot is freed

    assert woken == ["task-a"]
    step = rig.advance("model-a", "task-a")  # woken early: its step is still due
    assert isinstance(step, Later) and step.reason == "accepted; confirming"
    assert rig.upstream.calls == 3


def test_given_the_rate_is_spent_then_later_with_the_limiters_reason_and_no_call(
    rig: Rig,
) -> None:
    rig.build([success()], rate=Rate(1, 60.0))
    assert isinstance(rig.limiter.acquire(), Go)  # the one call of this minute

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert step.reason == "limiter: rate"
    assert 59.0 <= step.seconds <= 60.05 + 0.05 + 1e-6  # window (period + skew) + jitter
    assert rig.upstream.calls == 0


def test_given_a_paused_key_then_later_by_the_pause_plus_at_most_fifty_ms(rig: Rig) -> None:
    rig.build([success()], limiter="stub")
    rig.limiter.pause(20.0)

    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert step.reason == "limiter: paused"
    assert 20.0 <= step.seconds <= 20.05 + 1e-6
    assert rig.upstream.calls == 0


def test_given_the_limiter_grants_after_a_wait_then_the_call_is_made_and_the_lease_returned(
    rig: Rig,
) -> None:
    rig.build([success()], limiter="stub")
    rig.limiter.pause(5.0)
    waited = rig.advance("model-a")
    assert isinstance(waited, Later)

    rig.clock.advance(waited.seconds)
    step = rig.advance("model-a")

    assert isinstance(step, Later)
    assert step.reason.startswith("accepted")
    assert rig.upstream.calls == 1
    assert rig.limiter.granted == 1
    assert rig.limiter.leases == set()


class RefusingLimiter:
    """A limiter that always refuses; counts how often it was asked."""

    def __init__(self, wait: Wait) -> None:
        self.wait = wait
        self.asked = 0

    def acquire(self, *, hold: str | None = None, **_: str) -> Go | Wait:
        self.asked += 1
        return self.wait

    def release(self, lease: str, *, answered_ok: bool = False) -> None:
        raise AssertionError("nothing was granted, nothing may be released")

    def pause(self, seconds: float) -> float:
        raise AssertionError("no call was made, nothing may pause the key")


@pytest.mark.parametrize("reason", ["paused", "rate", "in_flight"])
def test_given_the_limiter_never_grants_then_the_deadline_fails_the_model_with_no_call(
    rig: Rig, reason: str
) -> None:
    reloader = rig.build([], deadline_seconds=100.0)
    refusing = RefusingLimiter(Wait(seconds=30.0, reason=reason))
    reloader.limiter = refusing  # type: ignore[assignment]

    final, laters = rig.run("model-a")

    assert final.outcome.state == "failed"
    assert final.outcome.reason == f"deadline exceeded (last: limiter: {reason})"
    assert final.outcome.upstream_calls == 0
    assert refusing.asked == len(laters)
    assert all(later.stage == "waiting" for later in laters)
