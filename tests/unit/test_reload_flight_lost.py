"""Behaviour: a flight that vanished without an outcome is started again, not waited for.

Given a task attached to a flight that Redis lost (its TTL ran out, or Redis
restarted without it), when the task comes back, then it is told to come back
at once, and on that run it starts a new flight and calls the upstream.
"""

from __future__ import annotations

from tests.unit.reload_harness import Rig, rig_fixture, success  # noqa: F401
from worker import constants as c
from worker.reload.reloader import Later


def test_given_the_flight_vanished_when_the_task_comes_back_then_a_new_flight_is_started(
    rig: Rig,
) -> None:
    rig.build([success(), success(), success()])
    first = rig.advance("model-a", "task-1")
    assert isinstance(first, Later)
    old_id = rig.redis.hget(c.flight_key("model-a"), "id")
    rig.redis.delete(c.flight_key("model-a"))  # lost with no outcome written
    rig.clock.advance(first.seconds)

    lost = rig.advance("model-a", "task-1")
    restarted = rig.advance("model-a", "task-1")

    assert isinstance(lost, Later)
    assert lost.seconds == 0.0
    assert lost.reason.startswith("flight lost")
    assert rig.upstream.calls == 2
    assert isinstance(restarted, Later)
    assert rig.redis.hget(c.flight_key("model-a"), "id") not in (None, old_id)


def test_given_the_flight_vanished_then_the_model_still_ends_warm(rig: Rig) -> None:
    rig.build([success(), success(), success()])
    rig.advance("model-a", "task-1")
    rig.redis.delete(c.flight_key("model-a"))

    final, _ = rig.run("model-a", "task-1")

    assert final.outcome.state == "warm"
    assert final.outcome.upstream_calls == 2  # the new flight's own calls
    assert rig.upstream.calls == 3
