"""Given an unreadable broker message, it is kept in the dead-letter list with its reason and
counted; a Redis error while keeping it is logged, never raised into the consumer."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest
from celery.worker.consumer import Consumer as CeleryConsumer

from worker import constants
from worker.messaging import deadletter
from worker.messaging.deadletter import Consumer, DeadLetters, keep_aside, raw_of, task_body_problem


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def store(client: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch) -> DeadLetters:
    """The dead-letter store, and every writer in this process pointed at it."""
    monkeypatch.setattr(deadletter, "_client", lambda: client)
    return DeadLetters(client)


def test_a_record_holds_when_why_what_and_where_newest_first(store: DeadLetters) -> None:
    store.add("first", "not JSON", "reload", now=100.0)
    store.add("second", "unknown task: 'x'", None, now=101.5)

    assert store.latest() == [
        {"at": 101.5, "reason": "unknown task: 'x'", "raw": "second", "queue": None},
        {"at": 100.0, "reason": "not JSON", "raw": "first", "queue": "reload"},
    ]
    assert store.count() == 2


def test_the_raw_message_is_cut_at_10_kb(store: DeadLetters) -> None:
    store.add("x" * 50_000, "too big to keep whole", "reload")

    assert store.latest()[0]["raw"] == "x" * 10 * 1024


def test_the_list_keeps_the_latest_entries_and_the_counter_counts_all(
    store: DeadLetters, client: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "DEADLETTER_MAX_ENTRIES", 3)
    for i in range(5):
        store.add(f"m{i}", "bad", "reload")

    assert [r["raw"] for r in store.latest(10)] == ["m4", "m3", "m2"]
    assert client.llen(constants.DEADLETTER_KEY) == 3
    assert store.count() == 5
    assert constants.DEADLETTER_KEY == "reload:deadletter"
    assert constants.DEADLETTER_COUNT_KEY == "reload:deadletter:count"


def test_no_record_counts_zero(store: DeadLetters) -> None:
    assert store.count() == 0
    assert store.latest() == []


def test_keeping_aside_logs_an_error_naming_the_key(
    store: DeadLetters, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="worker.messaging.deadletter"):
        keep_aside("garbage", "not JSON: Expecting value", "reload")

    assert store.latest()[0]["reason"] == "not JSON: Expecting value"
    assert "aside in reload:deadletter: not JSON: Expecting value" in caplog.text


def test_redis_down_while_keeping_aside_is_logged_not_raised(
    client: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(deadletter, "_client", lambda: client)
    client.connection_pool.connection_kwargs["server"].connected = False

    with caplog.at_level(logging.ERROR, logger="worker.messaging.deadletter"):
        keep_aside("garbage", "not JSON", "reload")  # does not raise

    assert "could not keep an unreadable broker message aside in reload:deadletter" in caplog.text
    assert "'garbage'" in caplog.text


def test_the_writer_uses_its_own_short_timeout_client_on_redis_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadletter, "_clients", {})
    client = deadletter._client()
    kwargs = client.connection_pool.connection_kwargs

    from worker.celery import settings

    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 2.0
    assert f"{kwargs['host']}:{kwargs['port']}" in settings.redis_url
    assert deadletter._client() is client


def message(body: Any = None, **fields: Any) -> SimpleNamespace:
    """A received kombu message as the consumer sees it."""
    defaults: dict[str, Any] = {
        "body": b"",
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "headers": {"task": "reload_model", "id": "t-1"},
        "properties": {},
        "delivery_info": {"routing_key": "reload"},
        "payload": body,
        "acknowledged": False,
    }
    return SimpleNamespace(**{**defaults, **fields})


def test_the_raw_form_is_the_envelope_as_read_or_the_parts_of_an_amqp_message() -> None:
    redis_message = message(_raw={"body": "e30=", "properties": {"delivery_tag": "d"}})
    amqp_message = message(body=None)
    amqp_message.body = b"\xffnot json"

    assert json.loads(raw_of(redis_message)) == redis_message._raw
    parts = json.loads(raw_of(amqp_message))
    assert parts["body"] == "\ufffdnot json"
    assert parts["headers"] == {"task": "reload_model", "id": "t-1"}
    assert parts["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([["m1"], {}, {}], None),
        ([["m1"], {}, None], None),
        ({"args": ["m1"], "kwargs": {}}, None),  # a protocol 1 body: Celery converts it
        ([1], "the body is not [args, kwargs, embed]"),
        (5, "the body is not [args, kwargs, embed]"),
        ({"x": 1}, "the body is not [args, kwargs, embed]"),
        (["m1", {}, {}], "with a list and an object"),
        ([[], [], {}], "with a list and an object"),
        ([[], {}, 7], "embed (third item) is not an object"),
    ],
)
def test_a_task_body_celery_would_stop_on_is_named(body: Any, problem: str | None) -> None:
    found = task_body_problem(message(body))

    assert found == problem if problem is None else problem in str(found)


def test_an_undecodable_body_is_left_to_celery() -> None:
    class Undecodable(SimpleNamespace):
        @property
        def payload(self) -> Any:
            raise ValueError("not JSON")

    assert task_body_problem(Undecodable()) is None


@pytest.fixture
def celery_calls(monkeypatch: pytest.MonkeyPatch, store: DeadLetters) -> list[tuple[str, int]]:
    """Celery's own handlers replaced by recorders of (name, dead letters when called)."""
    calls: list[tuple[str, int]] = []
    for name in ("on_decode_error", "on_unknown_message", "on_unknown_task", "on_invalid_task"):

        def record(self: Any, *args: Any, _name: str = name) -> None:
            calls.append((_name, store.count()))

        monkeypatch.setattr(CeleryConsumer, name, record)
    return calls


def test_each_consumer_handler_keeps_the_message_aside_before_celery_handles_it(
    store: DeadLetters, celery_calls: list[tuple[str, int]]
) -> None:
    consumer = Consumer.__new__(Consumer)
    received = message(_raw={"body": "bm9wZQ==", "headers": {"task": "x"}})

    consumer.on_decode_error(received, ValueError("Expecting value"))
    consumer.on_unknown_message(None, received)
    consumer.on_unknown_task(None, received, KeyError("no_such_task"))
    consumer.on_invalid_task(None, received, ValueError("bad eta"))

    assert celery_calls == [
        ("on_decode_error", 1),
        ("on_unknown_message", 2),
        ("on_unknown_task", 3),
        ("on_invalid_task", 4),
    ]
    reasons = [r["reason"] for r in reversed(store.latest())]
    assert reasons == [
        "cannot decode: Expecting value",
        "not a task message: no task name",
        "unknown task: 'no_such_task'",
        "invalid task message: bad eta",
    ]
    assert {r["queue"] for r in store.latest()} == {"reload"}
    assert json.loads(store.latest()[0]["raw"]) == received._raw


def test_an_unknown_task_without_an_id_is_rejected_not_raised(store: DeadLetters) -> None:
    """Celery 5.7's own handler raises on it (and the worker would stop)."""
    consumer = Consumer.__new__(Consumer)
    consumer.connection_errors = ()
    rejected: list[bool] = []
    received = message(
        [[], {}, {}], headers={"task": "nope"}, reject_log_error=lambda *_: rejected.append(True)
    )

    consumer.on_unknown_task(None, received, KeyError("nope"))

    assert rejected == [True]
    assert store.latest()[0]["reason"] == "unknown task: 'nope'"


def test_a_registered_task_with_a_body_celery_cannot_run_is_an_invalid_task(
    celery_calls: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[Any] = []
    monkeypatch.setattr(CeleryConsumer, "create_task_handler", lambda self, p: handled.append)
    consumer = Consumer.__new__(Consumer)
    consumer.strategies = {"reload_model": object()}
    on_task_received = consumer.create_task_handler()

    good, bad = message([["m1"], {}, {}]), message([1])
    unknown = message([1], headers={"task": "not_registered"})  # Celery's unknown-task path
    for received in (good, bad, unknown):
        on_task_received(received)

    assert handled == [good, unknown]
    assert celery_calls == [("on_invalid_task", 1)]
