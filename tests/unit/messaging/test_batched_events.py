"""A worker's task events go out as one ``task.multi`` message per ``FLUSH_SECONDS``.

Celery publishes a worker's buffered task events at the next turn of its loop: two or three
Redis round trips per task on a busy worker. The events dispatcher (Celery's public
``events`` class) holds them ``FLUSH_SECONDS`` from the first. The messages are read here as
a monitor's queue receives them, through kombu's in-memory transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from kombu import Connection, Exchange, Queue
from kombu.asynchronous import get_event_loop, set_event_loop

from worker.messaging.events import FLUSH_SECONDS, OVERDUE_SECONDS, FlushEventsStep


class FakeLoop:
    """The worker's event loop, as far as timers go: ``fire()`` runs what is due."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Callable[..., Any], tuple[Any, ...]]] = []

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        self.timers.append((delay, callback, args))

    def fire(self) -> None:
        timers, self.timers = self.timers, []
        for _, callback, args in timers:
            callback(*args)


@pytest.fixture
def loop() -> Iterator[FakeLoop]:
    before = get_event_loop()
    fake = FakeLoop()
    set_event_loop(fake)  # type: ignore[arg-type]
    try:
        yield fake
    finally:
        set_event_loop(before)


@pytest.fixture
def connection() -> Iterator[Connection]:
    with Connection("memory://") as conn:
        yield conn


@pytest.fixture
def monitor(connection: Connection) -> Queue:
    """A monitor's queue, bound to Celery's event exchange before anything is sent."""
    queue = Queue(
        "monitor", exchange=Exchange("celeryev", type="topic"), routing_key="#", durable=False
    )(connection.default_channel)
    queue.declare()
    queue.purge()
    return queue


def _received(queue: Queue) -> list[tuple[str, list[str]]]:
    """Each message in the queue: its routing key and the types of the events it carries."""
    messages = []
    while (message := queue.get(no_ack=True)) is not None:
        body = message.payload
        events = body if isinstance(body, list) else [body]
        messages.append((message.delivery_info["routing_key"], [e["type"] for e in events]))
    return messages


def _worker_dispatcher(connection: Connection, on_send_buffered: Callable[[], None]) -> Any:
    """The dispatcher a prefork worker builds (``celery.worker.consumer.events``)."""
    app = Celery("events", broker="memory://", events="worker.messaging.events:Events")
    return app.events.Dispatcher(
        connection,
        hostname="worker@host",
        enabled=True,
        buffer_group=["task"],
        on_send_buffered=on_send_buffered,
    )


def _task_events(dispatcher: Any, task_id: str) -> None:
    for kind in ("task-received", "task-started", "task-succeeded"):
        dispatcher.send(kind, uuid=task_id)


def test_given_events_sent_within_the_flush_period_then_one_message_carries_them_all(
    loop: FakeLoop, connection: Connection, monitor: Queue
) -> None:
    asked: list[int] = []

    def next_turn() -> None:  # the worker publishes the buffer at its loop's next turn
        asked.append(1)
        dispatcher.flush()

    dispatcher = _worker_dispatcher(connection, next_turn)
    _task_events(dispatcher, "t1")
    _task_events(dispatcher, "t2")

    assert _received(monitor) == []  # held: Celery's own dispatcher would have sent six
    assert [delay for delay, _, _ in loop.timers] == [FLUSH_SECONDS]

    loop.fire()

    assert asked == [1]
    assert _received(monitor) == [("task.multi", ["task-received", "task-started",
                                                  "task-succeeded"] * 2)]  # fmt: skip

    _task_events(dispatcher, "t3")  # the next events start a new period
    assert len(loop.timers) == 1
    loop.fire()
    assert _received(monitor) == [
        ("task.multi", ["task-received", "task-started", "task-succeeded"])
    ]


def test_without_an_event_loop_each_event_asks_for_a_publish_as_celery_does(
    connection: Connection, monitor: Queue
) -> None:
    before = get_event_loop()
    set_event_loop(None)
    asked: list[int] = []
    try:
        dispatcher = _worker_dispatcher(connection, lambda: asked.append(1))
        _task_events(dispatcher, "t1")
    finally:
        set_event_loop(before)

    assert asked == [1, 1, 1]


def test_closing_the_dispatcher_publishes_what_it_holds(
    loop: FakeLoop, connection: Connection, monitor: Queue
) -> None:
    dispatcher = _worker_dispatcher(connection, lambda: None)
    dispatcher.send("task-received", uuid="t1")
    dispatcher.send("task-started", uuid="t1")

    dispatcher.close()

    assert _received(monitor) == [("task.multi", ["task-received", "task-started"])]


def test_when_the_worker_stops_the_held_events_are_published(
    loop: FakeLoop, connection: Connection, monitor: Queue
) -> None:
    dispatcher = _worker_dispatcher(connection, lambda: None)
    dispatcher.send("task-succeeded", uuid="t1")
    consumer = SimpleNamespace(event_dispatcher=dispatcher)

    FlushEventsStep(consumer).stop(consumer)

    assert _received(monitor) == [("task.multi", ["task-succeeded"])]
    FlushEventsStep(consumer).stop(SimpleNamespace(event_dispatcher=None))  # no dispatcher


def test_a_publish_whose_timer_was_lost_is_asked_for_again(
    loop: FakeLoop, connection: Connection, monitor: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = _worker_dispatcher(connection, lambda: dispatcher.flush())
    dispatcher.send("task-received", uuid="t1")
    loop.timers.clear()  # the loop restarted: its timers are gone
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + OVERDUE_SECONDS + 0.1)

    dispatcher.send("task-started", uuid="t1")

    assert len(loop.timers) == 1
    loop.fire()
    assert _received(monitor) == [("task.multi", ["task-received", "task-started"])]
