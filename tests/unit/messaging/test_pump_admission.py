"""The pump asks a due job's admission before it publishes it: admitted, it goes; refused, it
stays parked until the turn it was given, and no task execution is spent on being told so.
A wake rings the pumps' bell, so a waiting pump publishes at once."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import redis

from tests.unit.messaging.conftest import LotFactory, make_job, redis_now
from tests.unit.messaging.test_pump import FakeApp
from worker import constants as c
from worker.messaging.parking import Job
from worker.messaging.pump import Bell, Pump


class Gate:
    """An admission check that admits the first ``room`` jobs, then says "in ``wait`` s";
    ``handing`` are the task ids its next ``free_slots`` hands a slot to."""

    def __init__(self, room: int, wait: float) -> None:
        self.room = room
        self.wait = wait
        self.asked: list[tuple[str, dict[str, Any] | None]] = []
        self.handing: list[str] = []

    def admit(self, job: Job) -> float:
        self.asked.append((job.task_id, job.admission))
        if self.room > 0:
            self.room -= 1
            return 0.0
        return self.wait

    def free_slots(self) -> list[str]:
        handed, self.handing = self.handing, []
        return handed


def needing(task_id: str, **admission: Any) -> Job:
    return replace(make_job(task_id), admission=admission or {"confirming": False, "hold": ""})


def test_given_due_jobs_with_an_admission_then_only_the_admitted_are_published(
    client: redis.Redis, lot: LotFactory
) -> None:
    parking = lot("w1")
    for i in range(3):
        parking.park(needing(f"t{i}", confirming=i == 2, hold="h"), 0)
    app, gate = FakeApp(), Gate(room=1, wait=0.5)
    pump = Pump(app, parking, slots=4, admission=gate)

    pump.run_once()

    assert len(app.published) == 1
    # The check was given each job's admission, as the task parked it.
    assert sorted(gate.asked) == [
        ("t0", {"confirming": False, "hold": "h"}),
        ("t1", {"confirming": False, "hold": "h"}),
        ("t2", {"confirming": True, "hold": "h"}),
    ]
    # The two refused are parked again, due at the turn they were given.
    refused = {f"t{i}" for i in range(3)} - set(app.published)
    now = redis_now(client)
    for task_id in refused:
        due = client.zscore(c.DUE_KEY, task_id)
        assert due is not None and 0.4 < due - now <= 0.5
    assert parking.counts()["sending"] == 0


def test_given_a_refused_job_when_its_turn_comes_then_it_is_asked_again_and_published(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    parking.park(needing("t1"), 0)
    app, gate = FakeApp(), Gate(room=0, wait=0.2)
    pump = Pump(app, parking, slots=4, admission=gate)

    pump.run_once()
    assert app.published == []
    gate.room = 1
    pump.run_once()
    assert app.published == []  # not its turn yet: not even asked
    assert len(gate.asked) == 1
    time.sleep(0.22)
    pump.run_once()

    assert app.published == ["t1"]
    assert len(gate.asked) == 2


def test_a_job_without_admission_is_published_without_asking(lot: LotFactory) -> None:
    parking = lot("w1")
    parking.park(make_job("plain"), 0)
    gate = Gate(room=0, wait=5.0)
    app = FakeApp()

    Pump(app, parking, slots=4, admission=gate).run_once()

    assert app.published == ["plain"]
    assert gate.asked == []


def test_given_a_failing_admission_check_then_the_job_is_published_all_the_same(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    parking.park(needing("t1"), 0)

    class Broken(Gate):
        def admit(self, job: Job) -> float:
            raise RuntimeError("a bug")

    app = FakeApp()
    Pump(app, parking, slots=4, admission=Broken(room=0, wait=1.0)).run_once()

    assert app.published == ["t1"]  # its task asks the limiter itself


def test_given_a_failing_slot_hand_off_then_the_look_still_publishes_due_jobs(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    parking.park(needing("t1"), 0)

    class Broken(Gate):
        def free_slots(self) -> list[str]:
            raise redis.ResponseError("a bug in the hand-off script")

    app = FakeApp()
    assert Pump(app, parking, slots=4, admission=Broken(room=1, wait=1.0)).run_once() >= 0

    assert app.published == ["t1"]


def test_given_a_cancelled_batch_its_woken_tasks_are_published_without_admission(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    parking.park(needing("cancelled"), 60)
    parking.park(needing("slot-waiter"), 60)
    gate = Gate(room=0, wait=5.0)
    app = FakeApp()

    assert parking.wake(["cancelled"], admitted=False) == 1
    assert parking.wake(["slot-waiter"]) == 1
    Pump(app, parking, slots=4, admission=gate).run_once()

    # The cancelled task ends without a call: no grant is taken for it. The task a freed
    # slot waits for still asks for its grant.
    assert app.published == ["cancelled"]
    assert [task_id for task_id, _ in gate.asked] == ["slot-waiter"]


def test_given_a_stopped_key_every_waiting_task_is_published_without_admission(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    for i in range(3):
        parking.park(needing(f"t{i}"), 60)
    gate = Gate(room=0, wait=5.0)
    app = FakeApp()

    assert parking.wake_all() == 3
    Pump(app, parking, slots=4, admission=gate).run_once()

    assert sorted(app.published) == ["t0", "t1", "t2"]
    assert gate.asked == []


def test_a_finished_task_leaves_no_admission_behind(client: redis.Redis, lot: LotFactory) -> None:
    parking = lot("w1")
    parking.park(needing("t1"), 0)
    parking.park(needing("t2"), 0)

    assert parking.finish("t1")[0] is True
    parking.release("t2")

    assert client.hlen(c.ADMISSIONS_KEY) == 0


def test_given_a_waiting_pump_when_a_wake_rings_the_bell_then_it_stops_waiting_at_once(
    client: redis.Redis, lot: LotFactory
) -> None:
    parking = lot("w1")
    parking.park(make_job("t1"), 60)
    bell = Bell(client)
    bell.wait(0.01)  # subscribed
    rung: list[float] = []

    def ring() -> None:
        time.sleep(0.2)
        rung.append(time.monotonic())
        parking.wake(["t1"])

    ringer = threading.Thread(target=ring)
    started = time.monotonic()
    ringer.start()
    try:
        assert bell.wait(5.0) is True
        woke = time.monotonic()
    finally:
        ringer.join()
        bell.close()

    assert woke - started < 2.0  # not the 5 s it would have slept
    assert woke >= rung[0]


def test_given_no_ring_the_bell_waits_the_time_it_was_given(client: redis.Redis) -> None:
    bell = Bell(client)
    try:
        started = time.monotonic()
        assert bell.wait(0.15) is True
        assert 0.14 <= time.monotonic() - started < 1.0
    finally:
        bell.close()


def test_given_a_job_parked_again_for_its_turn_then_the_pump_looks_again_at_that_turn(
    lot: LotFactory,
) -> None:
    # The due set's earliest job was 5 s away when the pump looked; the job it parked again
    # is due in 0.05 s: the next look is then, not at the due set's earliest or in 0.1 s.
    parking = lot("w1")
    parking.park(needing("now"), 0)
    parking.park(make_job("later"), 5)
    pump = Pump(FakeApp(), parking, slots=4, admission=Gate(room=0, wait=0.05))

    pause = pump.run_once()

    assert 0.03 <= pause <= 0.05


def test_given_a_slot_handed_to_a_waiting_task_then_the_pump_wakes_and_publishes_it(
    lot: LotFactory,
) -> None:
    # Its job waits for its backstop turn, a minute away; the limiter hands it a free slot.
    parking = lot("w1")
    parking.park(needing("in-line"), 60)
    gate = Gate(room=1, wait=60.0)
    gate.handing = ["in-line"]
    app = FakeApp()

    Pump(app, parking, slots=4, admission=gate).run_once()

    assert app.published == ["in-line"]
