"""Given the broker URL, the worker picks the Redis transport with its fix, or AMQP untouched;
the fix is still needed on the pinned kombu; what kombu cannot read is kept aside, not raised."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import kombu
import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from worker.celery import celery_config
from worker.messaging import deadletter
from worker.messaging.broker import Channel, Transport, envelope_problem
from worker.messaging.deadletter import DeadLetters
from worker.settings import Settings

TRANSPORT = "worker.messaging.broker:Transport"
PINNED_KOMBU = "5.7.0"


def test_a_redis_broker_uses_the_fixed_transport_and_amqp_keeps_its_own() -> None:
    redis_config = celery_config(Settings(broker_url="redis://127.0.0.1:6379/0"))
    amqp_config = celery_config(Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//"))

    assert redis_config["broker_transport"] == TRANSPORT
    assert amqp_config["broker_transport"] is None
    conn = Connection("redis://127.0.0.1:6379/0", transport=redis_config["broker_transport"])
    assert conn.transport_cls == TRANSPORT
    assert Transport.Channel is Channel


def test_messages_are_kombus_standard_envelopes_and_the_consumer_keeps_bad_ones() -> None:
    config = celery_config(Settings(broker_url="redis://127.0.0.1:6379/0"))

    assert "body_encoding" not in config["broker_transport_options"]  # kombu's base64 default
    assert config["worker_consumer"] == "worker.messaging.deadletter:Consumer"


def test_kombu_is_the_pinned_version() -> None:
    assert kombu.__version__ == PINNED_KOMBU, (
        f"kombu is {kombu.__version__}, the project pins {PINNED_KOMBU}: check whether the "
        "Redis-restart bug that worker/messaging/broker.py works around is still there "
        "(test_stock_kombu_still_has_the_restart_bug) and what envelope_problem must catch, "
        "then update the pin and this test"
    )


def collected_channel(cls: type[kombu_redis.Channel]) -> Any:
    """A channel whose connection was collected, as after a worker lost Redis."""
    channel = cls.__new__(cls)
    channel.connection = SimpleNamespace(client=None)
    return channel


def test_stock_kombu_still_has_the_restart_bug() -> None:
    try:
        kombu_redis.Channel._connparams(collected_channel(kombu_redis.Channel))
    except AttributeError as exc:
        assert "hostname" in str(exc)
    except Exception as exc:
        pytest.fail(
            f"kombu fixed the restart bug: remove worker/messaging/broker.py's override ({exc!r})"
        )
    else:
        pytest.fail("kombu fixed the restart bug: remove worker/messaging/broker.py's override")


def test_a_collected_connection_raises_a_connection_error_not_attribute_error() -> None:
    with pytest.raises(redis.ConnectionError):
        collected_channel(Channel)._connparams()


def envelope(**changes: Any) -> dict[str, Any]:
    """A message as kombu 5.7 stores it on a Redis list (``reload_model('m1')``)."""
    body = base64.b64encode(json.dumps([["m1"], {}, {}]).encode()).decode()
    message: dict[str, Any] = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "py", "task": "reload_model", "id": "t-1"},
        "properties": {
            "correlation_id": "t-1",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "reload"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": "d-1",
        },
    }
    message.update(changes)
    return message


def test_a_standard_envelope_has_no_problem() -> None:
    assert envelope_problem(envelope(), Channel.codecs) is None
    plain = envelope(body='[["m1"], {}, {}]')
    plain["properties"] = {**plain["properties"], "body_encoding": None}
    assert envelope_problem(plain, Channel.codecs) is None


def with_properties(**changes: Any) -> dict[str, Any]:
    message = envelope()
    message["properties"] = {**message["properties"], **changes}
    return message


# What kombu 5.7's consumer raises on them (KeyError and redis errors: it reconnects, the
# message is lost; the others: Celery stops the worker).
KNOWN_FAILURES = (KeyError, TypeError, ValueError, AttributeError, redis.RedisError)

PROBLEMS: list[tuple[Any, str]] = [
    (None, "JSON NoneType, not an object"),
    ([1, 2, 3], "JSON list, not an object"),
    ("z1:abc", "JSON str, not an object"),
    ({"body": "bm9wZQ==", "headers": {}}, "no 'properties' object"),
    (envelope(properties=[1]), "no 'properties' object"),
    (with_properties(delivery_tag=None), "no string 'delivery_tag'"),
    (with_properties(delivery_tag=[1]), "no string 'delivery_tag'"),
    (with_properties(delivery_info=None), "no 'delivery_info' with 'exchange'"),
    (with_properties(delivery_info={"exchange": ""}), "no 'delivery_info' with 'exchange'"),
    (envelope(headers=[1]), "'headers' is not an object"),
    (envelope(body=5), "'body' is not a string"),
    (with_properties(body_encoding="rot13"), "unknown body encoding 'rot13'"),
    (with_properties(body_encoding=["x"]), "unknown body encoding ['x']"),
    (envelope(body="abcde"), "body is not valid base64"),
]


@pytest.mark.parametrize(("payload", "reason"), PROBLEMS)
def test_what_kombu_cannot_make_a_message_of_is_named_and_does_stop_stock_kombu(
    payload: Any, reason: str, real_redis: redis.Redis
) -> None:
    problem = envelope_problem(payload, Channel.codecs)

    assert problem is not None and reason in problem
    # No stricter than kombu: stock kombu's consumer does raise on this message.
    real_redis.lpush("reload", json.dumps(payload))
    with connection(real_redis) as conn, pytest.raises(KNOWN_FAILURES):
        drain(conn, [])


def connection(client: redis.Redis, transport: str | None = None) -> Connection:
    """A kombu connection to ``client``'s database (stock kombu unless ``transport``)."""
    kwargs = client.connection_pool.connection_kwargs
    return Connection(f"redis://127.0.0.1:{kwargs['port']}/{kwargs['db']}", transport=transport)


@pytest.fixture
def broker(real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    """A kombu connection with this transport on the test database; dead letters go there too."""
    monkeypatch.setattr(deadletter, "_client", lambda: real_redis)
    with connection(real_redis, TRANSPORT) as conn:
        yield conn


QUEUE = Queue("reload", Exchange("reload"), routing_key="reload")


def drain(conn: Connection, received: list[Any]) -> None:
    """Consume from ``reload`` until nothing arrives for 0.3 s."""
    with conn.Consumer(QUEUE, callbacks=[lambda body, message: received.append(body)]):
        while True:
            try:
                conn.drain_events(timeout=0.3)
            except TimeoutError:
                return


def test_garbage_on_the_queue_is_kept_aside_and_good_messages_still_arrive(
    broker: Connection, real_redis: redis.Redis
) -> None:
    received: list[Any] = []
    real_redis.lpush("reload", b"not json at all")
    real_redis.lpush("reload", json.dumps([1, 2, 3]))
    broker.Producer().publish({"ok": 1}, routing_key="reload", exchange="reload", declare=[QUEUE])

    drain(broker, received)

    assert received == [{"ok": 1}]
    records = DeadLetters(real_redis).latest()
    assert [r["raw"] for r in records] == ["[1, 2, 3]", "not json at all"]
    assert records[0]["reason"] == "not a kombu message: JSON list, not an object"
    assert records[1]["reason"].startswith("not JSON: Expecting value")
    assert {r["queue"] for r in records} == {"reload"}
    assert DeadLetters(real_redis).count() == 2


def test_stock_kombu_stops_on_the_same_garbage(real_redis: redis.Redis) -> None:
    """What the transport guards against: kombu alone raises out of the consumer's loop."""
    real_redis.lpush("reload", b"not json at all")
    with connection(real_redis) as conn, pytest.raises(json.JSONDecodeError):
        drain(conn, [])
