"""Behaviour: the reconciler re-dispatches a batch's lost models and applies its deadline.

A model is lost when it is not final, its task has no job in ``reload:jobs`` (not
parked, sent, in the broker or held) and its record has not changed for the grace.
Given the batch's chord template, its header task is parked again in the chord;
otherwise a plain task with a new id goes, and the chord is marked broken (the
backstop completes the batch). Past the batch deadline what is left fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import fakeredis
import pytest

from worker import constants as c
from worker.batch.ledger import Ledger
from worker.batch.reconcile import DEADLINE_REASON, Reconciler
from worker.messaging.parking import Job, ParkingLot

NOW = 1_700_000_000.0
GRACE = 30.0
DEADLINE = 600.0
CHORD_OPTIONS = {"group_id": "g-1", "chord": {"task": "batch_finished"}, "queue": "reload"}


def header(batch_id: str, model_id: str) -> str:
    return f"h:{batch_id}:{model_id}"


def redo(batch_id: str, model_id: str, attempt: int) -> str:
    return f"r:{batch_id}:{model_id}:{attempt}"


@pytest.fixture
def client() -> Iterator[fakeredis.FakeRedis]:
    server = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield server
    server.close()


@pytest.fixture
def ledger(client: fakeredis.FakeRedis) -> Ledger:
    return Ledger(client)


@pytest.fixture
def lot(client: fakeredis.FakeRedis) -> ParkingLot:
    return ParkingLot(client, "w-test")


@pytest.fixture
def reconciler(ledger: Ledger, lot: ParkingLot) -> Reconciler:
    return Reconciler(
        ledger, lot, header_task_id=header, redo_task_id=redo, grace=GRACE, deadline=DEADLINE
    )


def start(ledger: Ledger, lot: ParkingLot, models: list[str], *, template: bool) -> None:
    """A launched batch whose header tasks were parked (as the chord parks them)."""
    ledger.create("b1", models, now=NOW, callback_url=None)
    digest = ""
    for i, m in enumerate(models):
        options = {**CHORD_OPTIONS, "task_id": header("b1", m), "group_index": i}
        lot.park(Job("reload_model", [m, "b1"], {}, options), 0)
        raw = ledger.client.hget(c.JOBS_KEY, header("b1", m))
        digest = json.loads(raw)["t"]
    ledger.mark_launched("b1", header_template=digest if template else "")


def lose(ledger: Ledger, *task_ids: str) -> None:
    """The jobs vanish (a lost Redis write, a bug): nothing will run these tasks."""
    ledger.client.hdel(c.JOBS_KEY, *task_ids)
    ledger.client.zrem(c.DUE_KEY, *task_ids)


def test_given_every_task_has_its_job_then_nothing_is_lost(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1", "m2"], template=True)

    done = reconciler.run("b1", now=NOW + DEADLINE / 2)

    assert done.redispatched == [] and done.chord_broken is False


def test_given_a_lost_task_within_the_grace_then_it_is_left_alone(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1", "m2"], template=True)
    lose(ledger, header("b1", "m1"))

    assert reconciler.run("b1", now=NOW + GRACE - 1).redispatched == []


def test_given_a_final_model_without_a_job_then_it_is_not_lost(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1", "m2"], template=True)
    ledger.set_state("b1", "m1", "warm", now=NOW + 5)
    lose(ledger, header("b1", "m1"))

    assert reconciler.run("b1", now=NOW + GRACE + 10).redispatched == []


def test_given_a_model_that_finishes_while_the_ledger_is_read_then_it_is_not_lost(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model waiting for its reload is quiet for longer than the grace; if it finishes
    (final record, then its job released) just after the reconciler read the records, its
    job is gone when the jobs are looked at. A 10,000-model bench run took 25 such models
    for lost and broke the chord of a healthy batch."""
    start(ledger, lot, ["m1", "m2"], template=True)
    read_models = ledger.models

    def read_then_m1_finishes(batch_id: str) -> dict[str, dict[str, object]]:
        records = read_models(batch_id)
        ledger.set_state("b1", "m1", "warm", now=NOW + GRACE + 1)  # as reload_model does,
        lot.release(header("b1", "m1"))  # then Celery's after_return
        return records

    monkeypatch.setattr(ledger, "models", read_then_m1_finishes)

    done = reconciler.run("b1", now=NOW + GRACE + 1)

    assert done.redispatched == [] and done.chord_broken is False
    assert not ledger.client.hexists(c.JOBS_KEY, redo("b1", "m1", 1))
    assert ledger.meta("b1").get("redispatches") is None


def test_given_a_lost_header_task_and_its_template_then_it_is_parked_again_in_its_chord(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1", "m2"], template=True)
    lose(ledger, header("b1", "m2"))

    done = reconciler.run("b1", now=NOW + GRACE + 1)

    assert done.redispatched == ["m2"] and done.chord_broken is False
    jobs, _, _ = lot.take_due(limit=10, unreceived=10)
    again = {j.task_id: j for j in jobs}[header("b1", "m2")]
    assert again.name == "reload_model" and again.args == ["m2", "b1"]
    assert again.options["group_id"] == "g-1" and again.options["group_index"] == 1
    assert again.options["chord"] == {"task": "batch_finished"}
    # Dispatched: not again within the grace.
    assert reconciler.run("b1", now=NOW + GRACE + 2).redispatched == []


def test_given_a_lost_task_and_no_template_then_a_plain_task_goes_and_the_chord_is_broken(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1", "m2"], template=False)
    lose(ledger, header("b1", "m1"))

    done = reconciler.run("b1", now=NOW + GRACE + 1)

    assert done.redispatched == ["m1"] and done.chord_broken is True
    jobs, _, _ = lot.take_due(limit=10, unreceived=10)
    plain = {j.task_id: j for j in jobs}[redo("b1", "m1", 1)]
    assert plain.args == ["m1", "b1"] and "chord" not in plain.options
    assert plain.options["queue"] == "reload"
    assert ledger.meta("b1")["task:m1"] == redo("b1", "m1", 1)
    # The plain task is lost too: after another grace a second one goes, with a new id.
    lose(ledger, redo("b1", "m1", 1))
    again = reconciler.run("b1", now=NOW + 2 * GRACE + 2)
    assert again.redispatched == ["m1"]
    assert ledger.meta("b1")["task:m1"] == redo("b1", "m1", 2)


def test_given_a_header_task_that_returned_already_then_a_plain_task_goes(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1"], template=True)
    lose(ledger, header("b1", "m1"))
    ledger.client.set(c.done_key(header("b1", "m1")), "w|x")  # it returned; its write was lost

    done = reconciler.run("b1", now=NOW + GRACE + 1)

    assert done.redispatched == ["m1"] and done.chord_broken is True
    assert ledger.client.hexists(c.JOBS_KEY, redo("b1", "m1", 1))


def test_given_the_batch_deadline_passed_then_what_is_left_fails_and_the_chord_is_broken(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1", "m2", "m3"], template=True)
    ledger.set_state("b1", "m1", "warm", now=NOW + 5)

    done = reconciler.run("b1", now=NOW + DEADLINE)

    assert done.deadline_failed == ["m2", "m3"] and done.chord_broken is True
    models = ledger.models("b1")
    assert models["m1"]["state"] == "warm"
    assert {models[m]["reason"] for m in ("m2", "m3")} == {DEADLINE_REASON}
    assert ledger.counts("b1")["failed"] == 2
    summary = ledger.build_summary("b1", completed_at=NOW + DEADLINE)
    assert summary["failed"] == {"m2": DEADLINE_REASON, "m3": DEADLINE_REASON}
    # A late task cannot undo it.
    assert ledger.set_state("b1", "m2", "warm", now=NOW + DEADLINE + 1) is False


def test_given_a_batch_not_open_then_nothing_is_done(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1"], template=True)
    ledger.client.hset(c.batch_key("b1"), "status", "done")
    lose(ledger, header("b1", "m1"))

    done = reconciler.run("b1", now=NOW + DEADLINE + 1)

    assert done.redispatched == [] and done.deadline_failed == []


def test_given_a_corrupt_ledger_then_the_error_reaches_the_caller(
    ledger: Ledger, lot: ParkingLot, reconciler: Reconciler
) -> None:
    start(ledger, lot, ["m1"], template=True)
    ledger.client.hset(c.batch_key("b1"), "ids", "not json")

    with pytest.raises(ValueError):
        reconciler.run("b1", now=NOW + 1)
