"""ParkingTask on a real Celery app: apply_async parks, wait() parks a retry, finish_once.

The broker is kombu's in-memory transport: anything published would be counted in the
test's own queue. Each task's ``lot_factory`` returns a ParkingLot on the test client.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import redis.backoff
import redis.retry
from celery import Celery, chord, group
from celery.exceptions import Reject, Retry

from tests.unit.messaging.conftest import LotFactory, ids, redis_now
from worker import constants as c
from worker.messaging.parking import Job, ParkingLot
from worker.messaging.task import ParkingTask


@dataclass
class Harness:
    app: Any  # Celery[ParkingTask]; Any: celery-types wants Celery[Task] in group/chord
    add: Any  # the task ``t.add(x)``, parking on ``lot``
    total: Any  # the chord callback ``t.total(xs)``
    lot: ParkingLot
    queue: str
    publishes: list[Any]

    def queued(self) -> int:
        """Messages waiting in the test's queue of the in-memory broker."""
        with self.app.connection_for_write() as conn:
            channel: Any = conn.default_channel
            return int(channel.queue_declare(self.queue).message_count)

    def take_all(self) -> list[Job]:
        jobs, broken, _ = self.lot.take_due(limit=1000, unreceived=1000)
        assert broken == []
        return jobs


def make_app(queue: str) -> Celery[ParkingTask]:
    app = Celery(
        "t",
        broker="memory://",
        backend="cache+memory://",
        task_cls=ParkingTask,
        set_as_current=False,
    )
    app.conf.task_default_queue = queue
    return app


def task_on(app: Celery[ParkingTask], lot_: ParkingLot, name: str) -> Any:
    """A ParkingTask subclass parking on ``lot_``, and the task ``name`` defined with it."""

    class OnTestLot(ParkingTask):
        abstract = True
        lot_factory = staticmethod(lambda: lot_)

    def run(*args: Any) -> Any:
        return args

    run.__name__ = name.replace(".", "_")
    return app.task(base=OnTestLot, name=name, shared=False)(run)


@pytest.fixture
def harness(lot: LotFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    queue = f"parking-test-{uuid.uuid4().hex[:8]}"
    app = make_app(queue)
    parking = lot("w1")
    publishes: list[Any] = []

    def spy(real: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            publishes.append((args, kwargs))
            return real(*args, **kwargs)

        return record

    monkeypatch.setattr(app, "send_task", spy(app.send_task))
    monkeypatch.setattr(app.amqp, "send_task_message", spy(app.amqp.send_task_message))
    add, total = task_on(app, parking, "t.add"), task_on(app, parking, "t.total")
    h = Harness(app, add, total, parking, queue, publishes)
    assert h.queued() == 0
    yield h
    app.close()


# ---- apply_async parks ---------------------------------------------------------------


def test_given_a_countdown_when_applied_then_the_task_is_parked_due_then_and_nothing_published(
    client: redis.Redis, harness: Harness
) -> None:
    before = redis_now(client)

    result = harness.add.apply_async((1,), countdown=5)

    due = client.zscore(c.DUE_KEY, result.id)
    assert due is not None and before + 5 <= due <= redis_now(client) + 5
    assert harness.take_all() == []  # not due now
    assert harness.publishes == []
    assert harness.queued() == 0


def test_given_delay_when_called_then_the_task_is_due_now_with_its_args(
    harness: Harness,
) -> None:
    result = harness.add.delay(1)

    (job,) = harness.take_all()
    assert (job.name, job.args, job.kwargs, job.task_id) == ("t.add", [1], {}, result.id)
    assert harness.publishes == []
    assert harness.queued() == 0


def test_given_a_group_of_4_when_applied_then_4_jobs_are_parked_with_one_group_id(
    harness: Harness,
) -> None:
    result: Any = group([harness.add.s(i) for i in range(4)], app=harness.app).apply_async()

    jobs = sorted(harness.take_all(), key=lambda j: j.args)
    assert [j.args for j in jobs] == [[0], [1], [2], [3]]
    assert {j.options["group_id"] for j in jobs} == {result.id}
    assert sorted(ids(jobs)) == sorted(r.id for r in result.results)
    assert harness.publishes == []
    assert harness.queued() == 0


def test_given_a_chord_of_4_when_applied_then_4_jobs_carry_one_group_and_the_callback(
    harness: Harness,
) -> None:
    callback = chord([harness.add.s(i) for i in range(4)], app=harness.app)(harness.total.s())

    jobs = harness.take_all()
    assert len(jobs) == 4
    assert len({j.options["group_id"] for j in jobs}) == 1
    assert sorted(j.options["group_index"] for j in jobs) == [0, 1, 2, 3]
    for job in jobs:
        assert job.options["chord"]["task"] == "t.total"
        assert job.options["chord"]["options"]["task_id"] == callback.id
    assert harness.publishes == []  # the callback waits in the backend, not the broker
    assert harness.queued() == 0


# ---- wait ------------------------------------------------------------------------------


def test_given_an_execution_when_it_waits_3_s_then_a_retry_is_returned_and_the_job_parked(
    client: redis.Redis, harness: Harness
) -> None:
    add = harness.add
    add.push_request(
        id="abc",
        args=[1],
        kwargs={},
        retries=0,
        delivery_info={"exchange": "", "routing_key": harness.queue, "redelivered": False},
        called_directly=False,
    )
    try:
        before = redis_now(client)
        retry = add.wait(ValueError("x"), 3)
    finally:
        add.pop_request()

    assert isinstance(retry, Retry)
    assert retry.when == 3
    assert isinstance(retry.exc, ValueError)
    due = client.zscore(c.DUE_KEY, "abc")
    assert due is not None and before + 3 <= due <= redis_now(client) + 3
    assert harness.publishes == []
    client.zadd(c.DUE_KEY, {"abc": 0}, xx=True)  # skip the 3 s to read the parked job
    (job,) = harness.take_all()
    assert (job.name, job.args, job.task_id) == ("t.add", [1], "abc")
    assert job.options["retries"] == 1
    assert job.options["queue"] == harness.queue  # back to the queue it came from


def test_given_a_direct_call_when_it_waits_then_the_reason_is_raised_and_nothing_parked(
    harness: Harness,
) -> None:
    with pytest.raises(ValueError, match="direct"):
        harness.add.wait(ValueError("direct"), 3)
    assert harness.lot.counts()["due"] == 0


# ---- finish_once ------------------------------------------------------------------------


def test_given_two_executions_of_one_task_id_then_only_the_first_finishes_while_it_beats(
    harness: Harness, lot: LotFactory
) -> None:
    other_lot = lot("w2")
    other = task_on(harness.app, other_lot, "t.add2")
    harness.lot.heartbeat()

    harness.add.push_request(id="once", called_directly=False)
    try:
        first = harness.add.finish_once()
    finally:
        harness.add.pop_request()
    other.push_request(id="once", called_directly=False)
    try:
        second = other.finish_once()
    finally:
        other.pop_request()

    assert first is True
    assert second is False


def test_given_a_finisher_that_died_before_storing_the_result_then_another_finishes(
    client: redis.Redis, harness: Harness, lot: LotFactory
) -> None:
    other = task_on(harness.app, lot("w2", dead_after=1.0), "t.add2")
    harness.add.push_request(id="orphan", called_directly=False)
    try:
        assert harness.add.finish_once() is True
    finally:
        harness.add.pop_request()
    client.zadd(c.WORKERS_KEY, {"w1": f"{redis_now(client) - 10:.6f}"})  # w1 died

    other.push_request(id="orphan", called_directly=False)
    try:
        assert other.finish_once() is True  # no result stored: it is replaced
    finally:
        other.pop_request()
    assert client.get(c.done_key("orphan")).startswith(b"w2|")


def test_given_a_dead_finisher_when_two_copies_finish_at_once_then_only_one_returns(
    client: redis.Redis, harness: Harness, lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lot2, lot3 = lot("w2", dead_after=1.0), lot("w3", dead_after=1.0)
    copy2 = task_on(harness.app, lot2, "t.copy2")
    copy3 = task_on(harness.app, lot3, "t.copy3")
    harness.add.push_request(id="raced", called_directly=False)
    try:
        assert harness.add.finish_once() is True
    finally:
        harness.add.pop_request()
    client.zadd(c.WORKERS_KEY, {"w1": f"{redis_now(client) - 10:.6f}"})  # w1 died
    lot2.heartbeat()
    lot3.heartbeat()
    results: dict[str, bool] = {}
    real_finish = lot2.finish

    def finish_then_let_w3_run(task_id: str) -> tuple[bool, str, bool]:
        seen = real_finish(task_id)  # w2 read "w1 finished, and is dead"...
        copy3.push_request(id="raced", called_directly=False)
        try:  # ...and before w2 reclaims, w3 goes through finish_once entirely
            results["w3"] = copy3.finish_once()
        finally:
            copy3.pop_request()
        return seen

    monkeypatch.setattr(lot2, "finish", finish_then_let_w3_run)
    copy2.push_request(id="raced", called_directly=False)
    try:
        results["w2"] = copy2.finish_once()
    finally:
        copy2.pop_request()

    assert sorted(results.values()) == [False, True], results


def test_given_expires_as_a_datetime_when_applied_then_the_task_is_parked(
    harness: Harness,
) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)

    result = harness.add.apply_async((1,), expires=expires)

    (job,) = harness.take_all()
    assert job.task_id == result.id


def test_given_redis_unreachable_when_a_task_waits_then_its_message_is_handed_back_not_failed(
    harness: Harness,
) -> None:
    # Given a task whose parking lot's Redis cannot be reached (a closed port, no retries)...
    dead = redis.Redis(
        port=_closed_port(),
        socket_connect_timeout=0.2,
        retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
    )
    unreachable = ParkingLot(dead, "w1")

    class OnDeadLot(ParkingTask):
        abstract = True
        lot_factory = staticmethod(lambda: unreachable)

    def waits(self: ParkingTask, x: int) -> None:
        raise self.wait(ValueError("waiting"), 1.0)

    task = harness.app.task(base=OnDeadLot, name="t.waits", bind=True, shared=False)(waits)
    task.push_request(id="outage-1", args=[1], kwargs={}, retries=0, called_directly=False)
    try:
        # ...when it runs and must park, then Celery is told to requeue its message
        # (Reject, requeue=True): neither a failure nor a lost message.
        with pytest.raises(Reject) as raised:
            task(1)
    finally:
        task.pop_request()
        dead.close()
    assert raised.value.requeue is True
    assert "Redis unreachable" in str(raised.value.reason)


def test_given_a_wait_deep_in_a_task_then_celery_gets_a_retry_with_a_one_frame_traceback(
    harness: Harness,
) -> None:
    # Celery formats the traceback of every retry it is given (billiard's ExceptionInfo),
    # a wait's too: the shorter it is, the less CPU each wait costs.
    class OnTestLot(ParkingTask):
        abstract = True
        lot_factory = staticmethod(lambda: harness.lot)

    def deeper(task: ParkingTask, depth: int) -> None:
        if depth == 0:
            raise task.wait(ValueError("waiting"), 0.0)
        deeper(task, depth - 1)

    def waits(self: ParkingTask) -> None:
        deeper(self, 5)

    task = harness.app.task(base=OnTestLot, name="t.deep", bind=True, shared=False)(waits)
    task.push_request(id="deep-1", args=[], kwargs={}, retries=0, called_directly=False)
    try:
        with pytest.raises(Retry) as raised:
            task()
    finally:
        task.pop_request()

    # The traceback runs from this test down to ParkingTask.__call__, and no deeper.
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert frames[-1] == "__call__" and "waits" not in frames and "deeper" not in frames
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert ids(harness.take_all()) == ["deep-1"]  # parked all the same


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
