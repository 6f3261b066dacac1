"""Pump.run_once: publish due jobs with flow control, never lose one, survive Redis outages.

The app is a fake whose ``send_task`` records each publish (or raises, like a broker
that cannot be reached); the lot is on the parametrised ``client``.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import redis
import redis.backoff
import redis.retry

from tests.unit.messaging.conftest import LotFactory, make_job, redis_now
from worker import constants as c
from worker.messaging import pump as pump_module
from worker.messaging.parking import ParkingLot
from worker.messaging.pump import UNRECEIVED_PER_SLOT, Pump


class FakeApp:
    """Records ``send_task`` calls; raises ``failures`` times first (broker unreachable)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[tuple[str, list[Any], dict[str, Any], dict[str, Any]]] = []

    def send_task(self, name: str, args: list[Any], kwargs: dict[str, Any], **options: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.calls.append((name, args, kwargs, options))

    @property
    def published(self) -> list[str]:
        return [options["task_id"] for _, _, _, options in self.calls]


def test_given_a_due_job_when_the_pump_runs_then_it_is_published_once_and_counted_as_sent(
    lot: LotFactory,
) -> None:
    parking = lot("w1")
    parking.park(make_job("t1", 7, queue="celery", group_id="g"), 0)
    app = FakeApp()
    pump = Pump(app, parking, slots=4)

    pump.run_once()
    pump.run_once()

    assert app.calls == [("t.add", [7], {}, {"task_id": "t1", "queue": "celery", "group_id": "g"})]
    assert parking.counts()["sent"] == 1
    # Flow control sees it waiting in the broker: with room for one, nothing more is taken.
    parking.park(make_job("t2"), 0)
    assert parking.take_due(limit=10, unreceived=1)[0] == []


def test_given_a_publish_that_fails_then_the_job_is_due_again_shortly_and_published_next(
    client: redis.Redis, lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pump_module, "REPUBLISH_SECONDS", 0.2)
    parking = lot("w1")
    parking.park(make_job("t1"), 0)
    app = FakeApp(failures=1)
    pump = Pump(app, parking, slots=4)

    pump.run_once()  # the broker is unreachable

    assert app.published == []
    due = client.zscore(c.DUE_KEY, "t1")
    assert due is not None and 0.1 < due - redis_now(client) <= 0.2
    assert parking.counts() == {"due": 1, "high": 0, "sending": 0, "sent": 0, "jobs": 1}
    pump.run_once()
    assert app.published == []  # not due yet
    time.sleep(0.22)
    pump.run_once()
    assert app.published == ["t1"]  # nothing lost
    assert parking.counts()["sent"] == 1


def test_given_two_slots_when_many_are_due_then_one_per_slot_waits_in_the_broker_until_held(
    lot: LotFactory,
) -> None:
    # One message per pool slot waits in the broker; the slot's other is the one in hand
    # (prefetch 1, acknowledged late): the queue plus the unacked ones stay <= 2 per slot.
    assert UNRECEIVED_PER_SLOT == 1
    parking = lot("pump")
    for i in range(6):
        parking.park(make_job(f"t{i}"), 0)
    app = FakeApp()
    pump = Pump(app, parking, slots=2)

    pump.run_once()
    pump.run_once()
    assert len(app.published) == 2

    worker = lot("worker")
    assert worker.hold(app.published[0], lambda: None)  # a worker received one
    pump.run_once()
    pump.run_once()

    assert len(app.published) == 3
    assert len(set(app.published)) == 3


def test_given_another_pump_publishing_then_its_claims_count_against_the_room(
    lot: LotFactory,
) -> None:
    first, second = lot("p1"), lot("p2")
    for i in range(6):
        first.park(make_job(f"t{i}"), 0)

    claimed, _, _ = first.take_due(limit=4, unreceived=4)  # still publishing them...
    assert len(claimed) == 4

    assert second.take_due(limit=4, unreceived=4)[0] == []  # ...so no room for another


def test_given_a_held_task_not_in_hand_then_it_is_due_again_after_two_checks_not_one(
    lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pump_module, "HOLD_CHECK_SECONDS", 0.0)
    parking = lot("w1")
    parking.park(make_job("lost"), 0)
    assert parking.hold("lost", lambda: None)  # received, then dropped by a reconnect
    app = FakeApp()
    pump = Pump(app, parking, slots=4, in_hand=set)

    pump.run_once()  # first check: missing once (it may be on its way in)
    assert app.published == []
    assert parking.held() == {"lost"}

    pump.run_once()  # second check: still missing: due now, and published
    assert parking.held() == set()
    assert app.published == ["lost"]


def test_given_a_task_in_hand_then_it_is_never_made_due_again(
    lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pump_module, "HOLD_CHECK_SECONDS", 0.0)
    parking = lot("w1")
    parking.park(make_job("mine"), 0)
    parking.hold("mine", lambda: None)
    app = FakeApp()
    pump = Pump(app, parking, slots=4, in_hand=lambda: {"mine"})

    for _ in range(3):
        pump.run_once()

    assert parking.held() == {"mine"}
    assert app.published == []


def test_given_redis_unreachable_when_the_pump_runs_then_it_returns_a_pause_without_raising() -> (
    None
):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = redis.Redis(
        port=port,
        socket_connect_timeout=0.2,
        retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
    )
    app = FakeApp()
    pump = Pump(app, ParkingLot(client, "w1"), slots=1)
    try:
        pause = pump.run_once()
        assert pause > 0
        assert pump.run_once() > 0  # and again: the pump keeps going
    finally:
        client.close()
    assert app.calls == []


def test_given_a_heartbeat_that_rode_out_an_outage_then_no_live_worker_is_taken_over_at_once(
    client: redis.Redis, lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two workers beating, then Redis unreachable for longer than dead_after while
    # the client retried inside one heartbeat call (no RedisError reached the pump)...
    monkeypatch.setattr(c, "WORKER_HEARTBEAT_SECONDS", 0.0)
    mine, other = lot("mine", dead_after=0.3), lot("other", dead_after=0.3)
    other.park(make_job("t1"), 0)
    other.take_due(limit=1, unreceived=1)
    other.hold("t1", lambda: None)
    other.heartbeat()
    pump = Pump(FakeApp(), mine, slots=1)
    pump.run_once()
    real = mine.heartbeat

    def slow_heartbeat(slots: int = 0) -> int:
        time.sleep(0.4)  # the outage, inside the client's retries
        return real(slots)

    monkeypatch.setattr(mine, "heartbeat", slow_heartbeat)

    # ...when the pump beats again, then it does not take over the other (whose heartbeat
    # is as old as the outage) before it has had time to beat again.
    pump.run_once()

    assert client.sismember(c.held_key("other"), "t1")
    assert client.zscore(c.DUE_KEY, "t1") is None


def test_a_workers_publishes_send_no_task_sent_event(
    lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pump's publishes are wake-ups Flower already knows: no ``task-sent`` event each."""
    from celery import Celery

    app = Celery("pump-events", broker="memory://", set_as_current=False)
    app.conf.task_send_sent_event = True  # as worker.celery configures it, for producers
    messages: list[Any] = []
    send = app.amqp.send_task_message
    monkeypatch.setattr(
        app.amqp, "send_task_message", lambda p, n, m, **o: (messages.append(m), send(p, n, m, **o))
    )
    app.send_task("t.add", [1], task_id="before")
    monkeypatch.setattr(pump_module, "current_lot", lambda: lot("w1"))

    worker = type("Worker", (), {"app": app, "concurrency": 1})()
    step = pump_module.PumpStep(worker)
    step.start(worker)
    try:
        app.send_task("t.add", [2], task_id="woken")
    finally:
        step.stop(worker)
        app.close()

    assert messages[0].sent_event is not None  # a producer's first send: Flower sees it sent
    assert messages[1].sent_event is None


def test_given_no_room_in_the_broker_then_the_pump_waits_for_a_receive_not_a_millisecond(
    lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With due jobs and the broker holding all the unreceived messages it may, the pump
    looked at the due set every millisecond (8 looks per model in the scale scenario, 247
    in 0.3 s here); it now waits until this worker receives a message, and then publishes
    the next at once."""
    from types import SimpleNamespace

    from celery import Celery

    from tasks.reload import reload_model

    monkeypatch.setattr(pump_module, "ROOM_WAIT_SECONDS", 5.0)  # only a receive wakes it
    app = Celery("pump-room", broker="memory://", set_as_current=False)
    published: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda n, a, k, **o: published.append(o["task_id"]))
    parking = lot("w1")
    for i in range(3):
        parking.park(make_job(f"t{i}"), 0)
    looks: list[float] = []
    take_due = parking.take_due

    def counted_take_due(**kwargs: Any) -> Any:
        looks.append(time.monotonic())
        return take_due(**kwargs)

    monkeypatch.setattr(parking, "take_due", counted_take_due)
    monkeypatch.setattr(pump_module, "current_lot", lambda: parking)
    monkeypatch.setattr(pump_module, "_build_admission", lambda: None)
    worker = type("Worker", (), {"app": app, "concurrency": 1})()
    step = pump_module.PumpStep(worker)
    step.start(worker)
    try:
        time.sleep(0.3)
        assert published == ["t0"]  # one pool slot: room for one unreceived message
        assert len(looks) <= 2

        received_at = time.monotonic()
        pump_module.on_task_received(request=SimpleNamespace(id="t0", task=reload_model))
        while len(published) < 2 and time.monotonic() - received_at < 2.0:
            time.sleep(0.005)
        assert published == ["t0", "t1"]
        assert looks[-1] - received_at < 1.0  # woken by the receive, not by the 5 s wait
    finally:
        step.stop(worker)
        app.close()
