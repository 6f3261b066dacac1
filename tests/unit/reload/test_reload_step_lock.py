"""Behaviour: only the holder of a model's step lock may take the flight's next step.

Given another task holds the model's step lock, when a task finds the step due,
then it makes no call and comes back shortly; once the lock is free, the step
is taken; after a step, the taker's lock is gone.

Behaviour: an unexpected exception during a step leaves no slot or lock behind.

Given the call fails in a way the upstream client does not map (a bug in a
transport, a library error), when a model's task advances, then the exception
reaches the task (which fails the model as an internal error), and the model's
step lock and its limiter lease are both given back at once, not only when their
TTLs run out.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.support.reload_rig import Rig, success
from worker import constants as c
from worker.constants import BUSY_RETRY_SECONDS
from worker.reload.reloader import Final, Later


def test_given_the_step_lock_is_held_by_another_when_the_step_is_due_then_later_without_a_call(
    rig: Rig,
) -> None:
    rig.build([success()])
    assert rig.flights is not None
    assert rig.flights.lock("model-a", "someone-else")

    step = rig.advance("model-a", "task-1")

    assert isinstance(step, Later)
    assert step.seconds == BUSY_RETRY_SECONDS
    assert step.reason == "another task is advancing this model"
    assert step.stage == "waiting"
    assert rig.upstream.calls == 0
    # The other holder's lock is untouched.
    assert rig.redis.get(c.step_lock_key("model-a")) == b"|someone-else"


def test_given_the_lock_is_released_when_the_task_comes_back_then_it_takes_the_step(
    rig: Rig,
) -> None:
    rig.build([success()])
    assert rig.flights is not None
    rig.flights.lock("model-a", "someone-else")
    busy = rig.advance("model-a", "task-1")
    assert isinstance(busy, Later)

    rig.flights.unlock("model-a", "someone-else")
    rig.clock.advance(busy.seconds)
    step = rig.advance("model-a", "task-1")

    assert isinstance(step, Later)
    assert step.reason.startswith("accepted")
    assert rig.upstream.calls == 1


def test_given_a_step_was_taken_then_the_step_lock_is_free_again(rig: Rig) -> None:
    rig.build([success(), success()])

    first = rig.advance("model-a", "task-1")

    assert isinstance(first, Later)
    assert not rig.redis.exists(c.step_lock_key("model-a"))
    final, _ = rig.run("model-a", "task-1")
    assert isinstance(final, Final)
    assert not rig.redis.exists(c.step_lock_key("model-a"))


def test_given_a_holder_unlocks_then_it_cannot_free_a_lock_it_does_not_hold(rig: Rig) -> None:
    rig.build([])
    assert rig.flights is not None
    assert rig.flights.lock("model-a", "holder-1")

    rig.flights.unlock("model-a", "holder-2")

    assert rig.redis.get(c.step_lock_key("model-a")) == b"|holder-1"
    assert not rig.flights.lock("model-a", "holder-2")


def test_given_a_step_lock_then_it_expires_after_lock_seconds(rig: Rig) -> None:
    # A task killed mid-step must not block the model forever.
    rig.build([], lock_seconds=7.5)
    assert rig.flights is not None

    rig.flights.lock("model-a", "holder-1")

    assert 7000 <= rig.redis.pttl(c.step_lock_key("model-a")) <= 7500


def exploding(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("a bug below the upstream client")


def test_given_an_unexpected_exception_then_it_propagates_and_the_step_lock_is_freed(
    rig: Rig,
) -> None:
    rig.build([exploding])

    with pytest.raises(RuntimeError, match="a bug below"):
        rig.advance("model-a")

    assert rig.upstream.calls == 1
    assert not rig.redis.exists(c.step_lock_key("model-a"))


def test_given_an_unexpected_exception_then_the_limiter_lease_is_given_back(rig: Rig) -> None:
    rig.build([exploding], max_in_flight=2)

    with pytest.raises(RuntimeError):
        rig.advance("model-a")

    assert rig.limiter.in_flight() == 0
