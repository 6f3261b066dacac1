"""Behaviour: the reloader tells the limiter which calls confirm a reload, so that they queue
behind waiting first calls (``Limiter.acquire(confirming=True)``); first calls never do."""

from __future__ import annotations

from tests.unit.support.reload_rig import Rig, processing, success
from worker.reload.reloader import Final


def test_the_first_call_is_not_confirming_and_the_confirmation_is(rig: Rig) -> None:
    rig.build([success(), success()], limiter="stub")

    step, _ = rig.run("model-a", "task-a")

    assert isinstance(step, Final) and step.outcome.state == "warm"
    assert rig.limiter.confirming == [False, True]  # type: ignore[union-attr]


def test_every_call_after_a_loading_answer_is_confirming(rig: Rig) -> None:
    rig.build([processing(eta=2), processing(eta=2), success()], limiter="stub")

    step, _ = rig.run("model-a", "task-a")

    assert isinstance(step, Final) and step.outcome.state == "warm"
    assert rig.limiter.confirming == [False, True, True]  # type: ignore[union-attr]
