"""Behaviour: a model that waits says what its next step will ask of the limiter
(``Later.needs``), so that the pump takes that grant before it publishes the task; the task
then picks the grant up and calls at once."""

from __future__ import annotations

from tests.unit.support.reload_rig import Rig, error, success
from worker.limiter import Go
from worker.reload.admission import Needs, admit
from worker.reload.reloader import Final, Later
from worker.settings import Rate


def later(step: Final | Later) -> Later:
    assert isinstance(step, Later), step
    return step


def test_a_first_call_that_waits_for_the_rate_needs_a_first_calls_grant(rig: Rig) -> None:
    rig.build([success()], rate=Rate(1, 60.0))
    assert isinstance(rig.limiter.acquire(), Go)  # another call took the only grant

    step = later(rig.advance("model-a", "task-a"))

    assert step.reason == "limiter: rate"
    assert step.needs == Needs(confirming=False, hold="")


def test_an_accepted_reload_needs_a_confirmations_grant(rig: Rig) -> None:
    rig.build([success()])

    step = later(rig.advance("model-a", "task-a"))

    assert step.reason.startswith("accepted")
    assert step.needs == Needs(confirming=True, hold="")


def test_a_loading_model_that_keeps_its_slot_needs_the_rate_only_for_that_slot(rig: Rig) -> None:
    rig.build([success()], max_in_flight=1, loading_holds_slot=True)

    step = later(rig.advance("model-a", "task-a"))

    assert step.needs is not None and step.needs.confirming
    # The slot it holds is the lease the limiter has live.
    assert rig.redis.zscore(rig.limiter.leases_key, step.needs.hold) is not None
    assert rig.limiter.in_flight() == 1


def test_a_step_that_makes_no_call_needs_no_grant(rig: Rig) -> None:
    # The timer policy's end is "warm" without a call: the task is published when due.
    rig.build([success()], warm_policy="timer")

    step = later(rig.advance("model-a", "task-a"))

    assert step.needs is None


def test_a_wait_the_breaker_decides_needs_no_grant(rig: Rig) -> None:
    # The breaker, not the limiter, says when the key may be called again: the task asks it.
    oops = error(500, "Internal server error. Please try again.")
    rig.build([oops, oops, oops], breaker=True, max_retries=5)
    for model in ("m1", "m2", "m3"):
        rig.advance(model, f"task-{model}")

    step = later(rig.advance("m4", "task-m4"))

    assert "circuit breaker" in step.reason
    assert step.needs is None


def test_given_the_pump_took_the_grant_ahead_then_the_task_calls_and_a_newcomer_waits(
    rig: Rig,
) -> None:
    rig.build([success()], rate=Rate(1, 60.0))
    limiter = rig.limiter

    # The pump, for task-a's job (a first call), when it is due:
    assert admit(limiter, "task-a", "normal", Needs().to_admission()) == 0.0
    newcomer = later(rig.advance("model-b", "task-b"))
    step = later(rig.advance("model-a", "task-a"))

    assert newcomer.reason == "limiter: rate"  # the grant is task-a's
    assert step.reason.startswith("accepted")
    assert rig.upstream.calls_for("model-a") == 1
    assert admit(limiter, "task-c", "normal", Needs().to_admission()) > 0  # no more grants


def test_needs_survive_the_parked_jobs_json() -> None:
    needs = Needs(confirming=True, hold="w1|abc")

    assert Needs.from_admission(needs.to_admission()) == needs
    assert Needs.from_admission({}) == Needs()
