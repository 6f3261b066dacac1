"""Behaviour: one reload of a model at a time, whoever asks (design rule 5, docs/design.md).

Given a flight in progress for a model, when another task (another batch,
another producer) asks for the same model, then it makes no call of its own
and returns the same outcome once the flight ends. Given a model confirmed warm
less than ``RELOAD_FRESH_SECONDS`` ago, a new task returns warm with no call;
once the memo is gone, a new flight is started.

Behaviour: a flight that vanished without an outcome is started again, not waited for.

Given a task attached to a flight that Redis lost (its TTL ran out, or Redis
restarted without it), when the task comes back, then it is told to come back
at once, and on that run it starts a new flight and calls the upstream.
"""

from __future__ import annotations

import pytest

from tests.unit.support.reload_rig import Rig, error, success
from worker import constants as c
from worker.reload.reloader import Final, Later

WARM = 120.0


def test_given_a_flight_in_progress_when_a_second_task_asks_then_no_call_and_the_same_outcome(
    rig: Rig,
) -> None:
    rig.build([success(), success()], warm_seconds=WARM)
    rig.advance("model-a", "task-1")

    waiting = rig.advance("model-a", "task-2")
    assert isinstance(waiting, Later)
    assert rig.upstream.calls == 1

    first, _ = rig.run("model-a", "task-1")
    second = rig.advance("model-a", "task-2")

    assert isinstance(second, Final)
    assert second.outcome == first.outcome
    assert second.outcome.state == "warm"
    assert second.how == "attached"
    assert rig.upstream.calls == 2


def test_given_the_first_task_is_away_when_the_second_finds_the_step_due_then_it_takes_it_once(
    rig: Rig,
) -> None:
    # Any attached task may take the flight's due step; the flight, not the task, counts calls.
    rig.build([success(), success()], warm_seconds=WARM)
    started = rig.advance("model-a", "task-1")
    assert isinstance(started, Later)
    rig.clock.advance(10)
    rig.advance("model-a", "task-2")  # attaches while the flight waits
    rig.clock.advance(started.seconds + 5)

    by_second = rig.advance("model-a", "task-2")
    by_first = rig.advance("model-a", "task-1")

    assert isinstance(by_second, Final)
    assert isinstance(by_first, Final)
    assert by_first.outcome == by_second.outcome
    assert by_second.outcome.upstream_calls == 2
    assert rig.upstream.calls == 2


def test_given_many_tasks_for_one_model_then_they_make_the_calls_of_one(rig: Rig) -> None:
    rig.build([success(), success()], warm_seconds=WARM)
    tasks = [f"task-{n}" for n in range(20)]

    outcomes = {}
    for _ in range(10):
        for task in tasks:
            if task not in outcomes:
                step = rig.advance("model-a", task)
                if isinstance(step, Final):
                    outcomes[task] = step.outcome
        rig.clock.advance(WARM / 4)

    assert set(outcomes) == set(tasks)
    assert len(set(outcomes.values())) == 1
    assert rig.upstream.calls == 2


def test_given_a_model_confirmed_warm_within_fresh_seconds_then_a_new_task_is_warm_with_no_call(
    rig: Rig,
) -> None:
    rig.build([success(), success()], warm_seconds=WARM, fresh_seconds=600.0)
    first, _ = rig.run("model-a", "task-1")
    rig.clock.advance(60)

    step = rig.advance("model-a", "task-2")

    assert isinstance(step, Final)
    assert step.how == "fresh"
    assert step.outcome.state == "warm"
    assert step.outcome.upstream_calls == 0
    assert step.outcome.finished_at == rig.clock.now
    assert step.outcome.flight_id == first.outcome.flight_id
    assert rig.upstream.calls == 2
    # The memo lives exactly fresh_seconds (on Redis's clock).
    assert rig.redis.ttl(c.last_warm_key("model-a")) == pytest.approx(600, abs=1)


def test_given_the_fresh_memo_has_expired_then_a_new_flight_calls_the_upstream(rig: Rig) -> None:
    rig.build([success(), success(), success(), success()], warm_seconds=WARM)
    first, _ = rig.run("model-a", "task-1")
    # Redis's TTL runs on Redis's clock, not the injected one: stand in for
    # fresh_seconds passing by doing what Redis does when the TTL ends.
    rig.clock.advance(601)
    rig.redis.delete(c.last_warm_key("model-a"))

    second, _ = rig.run("model-a", "task-2")

    assert second.outcome.state == "warm"
    assert second.outcome.upstream_calls == 2
    assert second.outcome.flight_id != first.outcome.flight_id
    assert rig.upstream.calls == 4


def test_given_fresh_seconds_zero_then_every_new_task_starts_a_new_flight(rig: Rig) -> None:
    rig.build([success(), success(), success(), success()], warm_seconds=WARM, fresh_seconds=0)
    rig.run("model-a", "task-1")

    assert not rig.redis.exists(c.last_warm_key("model-a"))
    second, _ = rig.run("model-a", "task-2")

    assert second.outcome.upstream_calls == 2
    assert rig.upstream.calls == 4


def test_given_a_failed_model_then_no_fresh_memo_and_a_new_task_tries_again(rig: Rig) -> None:
    rig.build([error(404, "Model not found"), success(), success()], warm_seconds=WARM)
    failed, _ = rig.run("model-a", "task-1")

    retried, _ = rig.run("model-a", "task-2")

    assert failed.outcome.state == "failed"
    assert retried.outcome.state == "warm"
    assert retried.how != "fresh"
    assert rig.upstream.calls == 3


def test_given_two_models_then_their_flights_are_independent(rig: Rig) -> None:
    rig.build([success(), success(), success(), success()], warm_seconds=WARM)

    a = rig.advance("model-a", "task-a")
    b = rig.advance("model-b", "task-b")

    assert isinstance(a, Later)
    assert isinstance(b, Later)
    assert rig.upstream.calls_for("model-a") == 1
    assert rig.upstream.calls_for("model-b") == 1


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
