"""ParkingLot: parked jobs move due -> sending -> sent -> held, one atomic step at a time.

Every test runs on the embedded redis-server and on fakeredis (the ``client`` fixture).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.unit.messaging.conftest import LotFactory, Store, beat_at, ids, make_job, redis_now
from worker import constants as c
from worker.messaging.parking import Job, ParkingLot

CHORD: dict[str, Any] = {
    "task": "t.total",
    "args": [],
    "kwargs": {},
    "options": {"task_id": "callback-1", "group_id": "g-1"},
    "subtask_type": None,
    "immutable": False,
}


def full_job(task_id: str, index: int = 0) -> Job:
    """A job with the options of a chord member, as Celery gives them."""
    return Job(
        "t.add",
        [index, "x"],
        {"k": [1, 2]},
        {
            "task_id": task_id,
            "group_id": "g-1",
            "group_index": index,
            "chord": CHORD,
            "root_id": "root-1",
            "parent_id": "parent-1",
            "retries": 2,
            "queue": "celery",
        },
    )


def park_due(parking: ParkingLot, count: int, prefix: str = "t") -> list[str]:
    """Park ``count`` jobs due now; returns their ids."""
    task_ids = [f"{prefix}{i}" for i in range(count)]
    for task_id in task_ids:
        parking.park(make_job(task_id), 0)
    return task_ids


# ---- park and take_due ---------------------------------------------------------------


def test_given_a_job_parked_with_delay_0_when_taking_due_then_it_comes_back_identical(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    job = full_job("task-1", index=3)

    due = parking.park(job, 0)
    jobs, broken, next_due = parking.take_due(limit=10, unreceived=10)

    assert due is not None
    assert jobs == [job]  # name, args, kwargs and every option, chord dict included
    assert broken == []
    assert next_due is None  # nothing else parked


def test_given_a_job_parked_with_delay_5_when_taking_due_now_then_it_is_not_taken(
    client: redis.Redis, lot: LotFactory
) -> None:
    parking = lot("w1")
    before = redis_now(client)

    due = parking.park(make_job("later"), 5)
    jobs, _, next_due = parking.take_due(limit=10, unreceived=10)

    assert jobs == []
    assert due is not None and before + 4.9 <= due <= redis_now(client) + 5.0
    assert next_due is not None and 4.5 < next_due <= 5.0
    assert parking.counts()["due"] == 1


def test_given_50_jobs_of_one_chord_when_parked_then_one_template_is_stored_and_each_decodes(
    client: redis.Redis, lot: LotFactory
) -> None:
    parking = lot("w1")
    jobs = [full_job(f"member-{i}", index=i) for i in range(50)]

    for job in jobs:
        parking.park(job, 0)

    assert len(list(client.scan_iter(match=f"{c.KEY_PREFIX}tpl:*"))) == 1
    # Read back by another lot (no template cached in memory): each has its own options.
    taken, broken, _ = lot("w2").take_due(limit=100, unreceived=100)
    assert broken == []
    assert sorted(taken, key=lambda j: j.options["group_index"]) == jobs


# ---- flow control ----------------------------------------------------------------------


def test_given_10_due_jobs_when_4_may_wait_unreceived_then_4_are_taken_until_workers_hold_them(
    lot: LotFactory,
) -> None:
    pump = lot("pump")
    worker = lot("worker")
    park_due(pump, 10)

    first, _, _ = pump.take_due(limit=10, unreceived=4)
    assert len(first) == 4

    pump.sent(ids(first))
    blocked, _, _ = pump.take_due(limit=10, unreceived=4)
    assert blocked == []  # 4 published, none received yet

    for job in first[:2]:  # a worker receives two of the messages
        assert worker.hold(job.task_id, lambda: pytest.fail("the job is stored"))
    more, _, _ = pump.take_due(limit=10, unreceived=4)
    assert len(more) == 2
    assert not set(ids(more)) & set(ids(first))


# ---- concurrency ------------------------------------------------------------------------


def test_given_200_due_jobs_when_two_workers_take_alternately_then_each_is_taken_once(
    lot: LotFactory, connect: Callable[[], redis.Redis]
) -> None:
    a = lot("a")
    b = lot("b", client=connect())
    expected = set(park_due(a, 200))

    taken: list[str] = []
    for turn in range(100):
        jobs, _, _ = (a if turn % 2 == 0 else b).take_due(limit=7, unreceived=10_000)
        taken += ids(jobs)
        if not jobs and turn > 60:
            break

    assert len(taken) == len(set(taken)), "an id was taken twice"
    assert set(taken) == expected


def test_given_200_due_jobs_when_four_threads_take_concurrently_then_each_is_taken_once(
    store: Store, lot: LotFactory, connect: Callable[[], redis.Redis]
) -> None:
    if store.kind != "redis":
        pytest.skip("fakeredis: concurrent clients need a real server")
    expected = set(park_due(lot("producer"), 200))
    lots = [lot(f"w{i}", client=connect()) for i in range(4)]
    taken: list[list[str]] = [[] for _ in lots]
    start = threading.Barrier(len(lots))

    def run(i: int) -> None:
        start.wait()
        while True:
            jobs, _, _ = lots[i].take_due(limit=3, unreceived=10_000)
            if not jobs:
                return
            taken[i] += ids(jobs)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(lots))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    flat = [task_id for part in taken for task_id in part]
    assert len(flat) == len(set(flat)), "an id was taken twice"
    assert set(flat) == expected


# ---- failures while publishing ---------------------------------------------------------


def test_given_a_pump_that_died_mid_publish_when_its_claim_lapses_then_the_jobs_are_due_again(
    lot: LotFactory, connect: Callable[[], redis.Redis]
) -> None:
    dead = lot("dead", sending_lease=0.2)
    expected = set(park_due(dead, 5))
    claimed, _, _ = dead.take_due(limit=10, unreceived=10)  # ...and never calls sent()
    assert set(ids(claimed)) == expected

    other = lot("other", sending_lease=0.2, client=connect())
    assert other.take_due(limit=10, unreceived=10)[0] == []  # the claim still holds
    time.sleep(0.25)
    again, broken, _ = other.take_due(limit=10, unreceived=10)

    assert set(ids(again)) == expected  # none lost
    assert broken == []


def test_given_a_failed_publish_when_unsent_for_0_2_s_then_due_again_after_it_not_before(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    park_due(parking, 1)
    (job,), _, _ = parking.take_due(limit=10, unreceived=10)

    parking.unsend(job.task_id, 0.2)
    early, _, next_due = parking.take_due(limit=10, unreceived=10)
    assert early == []
    assert next_due is not None and 0.1 < next_due <= 0.2
    time.sleep(0.22)
    late, _, _ = parking.take_due(limit=10, unreceived=10)

    assert ids(late) == [job.task_id]


# ---- hold ------------------------------------------------------------------------------


def test_given_a_stored_job_when_a_worker_holds_it_then_true_without_building(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    parking.park(make_job("t1"), 0)
    calls: list[int] = []

    held = parking.hold("t1", lambda: calls.append(1))

    assert held is True
    assert calls == []
    assert parking.held() == {"t1"}
    assert parking.counts()["due"] == 0  # held, so no longer due


def test_given_no_stored_job_when_held_then_build_is_called_once_and_a_takeover_finds_the_job(
    client: redis.Redis, lot: LotFactory
) -> None:
    a = lot("a", dead_after=1.0)
    job = full_job("outside-1", index=1)  # sent by an outside producer: never parked
    built: list[Job] = []

    def build() -> Job:
        built.append(job)
        return job

    assert a.hold("outside-1", build) is True
    assert len(built) == 1
    assert a.held() == {"outside-1"}

    beat_at(client, "a", age=10)  # worker a died
    b = lot("b", dead_after=1.0)
    b.heartbeat()
    b.take_over()
    jobs, broken, _ = b.take_due(limit=10, unreceived=10)

    assert jobs == [job]
    assert broken == []


def test_given_no_stored_job_when_build_returns_none_then_hold_is_false(
    lot: LotFactory,
) -> None:
    parking = lot("w1")

    assert parking.hold("unreadable", lambda: None) is False
    assert parking.held() == set()
    assert parking.counts()["jobs"] == 0


# ---- finish ----------------------------------------------------------------------------


def test_given_a_first_execution_finishing_then_it_claims_and_another_worker_sees_it_alive(
    lot: LotFactory,
) -> None:
    first = lot("w1", dead_after=5.0)
    second = lot("w2", dead_after=5.0)
    first.heartbeat()
    first.park(make_job("t1"), 0)

    claimed, execution, alive = first.finish("t1")
    assert (claimed, execution.partition("|")[0], alive) == (True, "w1", True)
    assert _owned(second.finish("t1")) == (False, "w1", True)


def test_given_the_finisher_stopped_heartbeating_then_another_worker_sees_it_dead(
    client: redis.Redis, lot: LotFactory
) -> None:
    first = lot("w1", dead_after=5.0)
    second = lot("w2", dead_after=5.0)
    assert first.finish("t1")[0] is True

    beat_at(client, "w1", age=2)  # within dead_after: alive
    assert _owned(second.finish("t1")) == (False, "w1", True)
    beat_at(client, "w1", age=6)  # older than dead_after: dead
    assert _owned(second.finish("t1")) == (False, "w1", False)


def test_given_a_finished_task_when_parked_again_then_nothing_is_parked(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    parking.park(make_job("t1"), 0)
    parking.finish("t1")

    assert parking.park(make_job("t1"), 0) is None
    assert parking.take_due(limit=10, unreceived=10)[0] == []
    assert parking.counts() == {"due": 0, "high": 0, "sending": 0, "sent": 0, "jobs": 0}


# ---- workers: take_over, regrasp, leave ------------------------------------------------


def test_given_a_dead_worker_holding_3_tasks_when_taken_over_then_they_are_due_now_once(
    client: redis.Redis, lot: LotFactory
) -> None:
    a = lot("a", dead_after=1.0)
    for task_id in park_due(a, 3):
        assert a.hold(task_id, lambda: None)
    beat_at(client, "a", age=5)
    b = lot("b", dead_after=1.0)
    b.heartbeat()
    assert b.take_due(limit=10, unreceived=10)[0] == []  # held: not due

    (taken,) = b.take_over()

    assert (taken.worker, taken.tasks) == ("a", 3)
    assert 4.5 <= taken.silent_for < 10
    assert b.take_over() == []  # taken over once
    jobs, _, _ = b.take_due(limit=10, unreceived=10)
    assert sorted(ids(jobs)) == ["t0", "t1", "t2"]
    assert a.held() == set()


def test_given_a_live_worker_holding_tasks_when_another_takes_over_then_nothing_is_taken(
    client: redis.Redis, lot: LotFactory
) -> None:
    a = lot("a", dead_after=1.0)
    for task_id in park_due(a, 3):
        a.hold(task_id, lambda: None)
    a.heartbeat()
    b = lot("b", dead_after=1.0)
    b.heartbeat()

    assert b.take_over() == []
    assert a.held() == {"t0", "t1", "t2"}
    assert b.take_due(limit=10, unreceived=10)[0] == []


def test_given_held_ids_when_regrasped_then_they_are_due_now_and_unheld_ids_are_ignored(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    for task_id in park_due(parking, 3):
        parking.hold(task_id, lambda: None)
    other = lot("w2")
    other.park(make_job("theirs"), 3600)

    made_due = parking.regrasp(["t0", "t2", "never-held", "theirs"])

    assert made_due == 2
    assert parking.held() == {"t1"}
    jobs, _, _ = parking.take_due(limit=10, unreceived=10)
    assert sorted(ids(jobs)) == ["t0", "t2"]


def test_given_a_worker_that_leaves_then_its_holds_and_heartbeat_are_gone(
    client: redis.Redis, lot: LotFactory
) -> None:
    parking = lot("w1")
    parking.heartbeat()
    for task_id in park_due(parking, 2):
        parking.hold(task_id, lambda: None)

    parking.leave()

    assert parking.held() == set()
    assert client.exists(c.held_key("w1")) == 0
    assert client.zscore(c.WORKERS_KEY, "w1") is None


def _owned(reply: tuple[bool, str, bool]) -> tuple[bool, str, bool]:
    """A finish reply with the execution named by its worker only."""
    claimed, execution, alive = reply
    return claimed, execution.partition("|")[0], alive


def test_given_normal_jobs_due_first_when_a_high_one_is_due_then_it_is_taken_first(
    lot: LotFactory,
) -> None:
    # Given a backlog of normal jobs due before it...
    parking = lot("w1")
    for i in range(5):
        parking.park(make_job(f"n{i}"), 0)
    high = Job("t.add", [], {"priority": "high"}, {"task_id": "h1"})
    parking.park(high, 0)

    # ...when a pump has room for two, then the high one goes first.
    jobs, _, _ = parking.take_due(limit=2, unreceived=10)

    assert ids(jobs) == ["h1", "n0"]


def test_given_a_high_job_taken_over_from_a_dead_worker_then_it_stays_in_the_high_lane(
    client: redis.Redis, lot: LotFactory
) -> None:
    dead, alive = lot("dead", dead_after=1.0), lot("alive", dead_after=1.0)
    high = Job("t.add", [], {"priority": "high"}, {"task_id": "h1"})
    dead.park(high, 0)
    dead.park(make_job("n1"), 0)
    jobs, _, _ = dead.take_due(limit=10, unreceived=10)
    for job in jobs:
        dead.hold(job.task_id, lambda: None)
    beat_at(client, "dead", age=5)
    alive.heartbeat()

    alive.take_over()

    assert client.zscore(c.DUE_HIGH_KEY, "h1") is not None
    assert client.zscore(c.DUE_KEY, "n1") is not None
    assert ids(alive.take_due(limit=1, unreceived=10)[0]) == ["h1"]
