"""Given the broker URL, the worker picks the Redis transport with its fixes, or AMQP untouched."""

from __future__ import annotations

import json
from queue import Empty
from typing import Any

import pytest
from kombu import Connection

from worker.broker import Channel, Transport
from worker.celery import celery_config
from worker.settings import Settings


def test_a_redis_broker_uses_the_fixed_transport_and_amqp_keeps_its_own() -> None:
    redis_config = celery_config(Settings(broker_url="redis://127.0.0.1:6379/0"))
    amqp_config = celery_config(Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//"))

    assert redis_config["broker_transport"] == "worker.broker:Transport"
    assert amqp_config["broker_transport"] is None
    conn = Connection("redis://127.0.0.1:6379/0", transport=redis_config["broker_transport"])
    assert conn.transport_cls == "worker.broker:Transport"
    assert Transport.Channel is Channel


def test_a_collected_connection_raises_a_connection_error_not_attribute_error() -> None:
    import redis

    channel = Channel.__new__(Channel)
    channel.connection = type("Collected", (), {"client": None})()
    with pytest.raises(redis.ConnectionError):
        channel._connparams()


@pytest.mark.parametrize("raw", [b"not json", json.dumps([1, 2, 3]).encode(), b"\xff\x00"])
def test_a_malformed_message_is_dropped_not_raised(raw: bytes) -> None:
    channel = Channel.__new__(Channel)

    def read(**_: Any) -> bool:
        payload = json.loads(raw)
        return bool(payload["properties"])

    channel._brpop_read = read
    with pytest.raises(Empty):
        channel._brpop_read_or_drop()
