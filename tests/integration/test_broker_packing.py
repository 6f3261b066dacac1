"""Given a real Redis broker, the worker's transport stores messages packed and reads all back.

Packed on the queue's list and in the unacked hash; plain messages from other
producers read alike; a message handed back (requeue, as for a dead worker)
comes back whole and marked redelivered; priorities are kept.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from kombu import Connection
from kombu.simple import SimpleQueue

from worker import broker, packed
from worker.packed import expand

TRANSPORT = "worker.broker:Transport"
PAYLOAD = {"model_id": "m-1", "note": "ünïcode"}


@pytest.fixture
def queue_name() -> str:
    return f"packing-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _queue(conn: Connection, name: str) -> SimpleQueue:
    return conn.SimpleQueue(name, serializer="json")


def _take_whole(q: SimpleQueue) -> None:
    """Consume the next message, check it is the payload sent, ack it."""
    message = q.get(timeout=5)
    assert message.payload == PAYLOAD
    message.ack()


def test_a_published_message_waits_packed_and_is_read_back_whole(
    redis_url: str, client: redis.Redis, queue_name: str
) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn, _queue(conn, queue_name) as q:
        q.put(PAYLOAD)

        [stored] = client.lrange(queue_name, 0, -1)
        assert json.loads(stored).startswith("z1:")
        _take_whole(q)


def test_a_held_message_is_kept_packed_in_the_unacked_hash_as_it_was_read(
    redis_url: str, client: redis.Redis, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn, _queue(conn, queue_name) as q:
        q.put(PAYLOAD)
        [listed] = client.lrange(queue_name, 0, -1)
        packs: list[object] = []
        for module in (broker, packed):  # wherever the consumer could pack from
            monkeypatch.setattr(module, "pack", lambda message: packs.append(message))
        message = q.get(timeout=5)

        stored, _exchange, routing_key = json.loads(client.hget("unacked", message.delivery_tag))
        assert stored == json.loads(listed)  # the string read, stored again: not packed anew
        assert packs == []
        assert expand(stored)["headers"] == message.headers
        assert routing_key == queue_name
        message.ack()
        assert client.hget("unacked", message.delivery_tag) is None


def test_a_requeued_message_comes_back_whole_and_marked_redelivered(
    redis_url: str, queue_name: str
) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn, _queue(conn, queue_name) as q:
        q.put(PAYLOAD)
        first = q.get(timeout=5)
        first.requeue()  # the unacked entry goes back to the queue, as for a dead worker

        again = q.get(timeout=5)
        assert again.payload == PAYLOAD
        assert again.delivery_info.get("redelivered") is True
        again.ack()


def test_a_plain_message_from_another_producer_is_read_alike(
    redis_url: str, client: redis.Redis, queue_name: str
) -> None:
    with Connection(redis_url) as plain, _queue(plain, queue_name) as q:
        q.put(PAYLOAD)
    assert json.loads(client.lrange(queue_name, 0, -1)[0])["properties"]

    with Connection(redis_url, transport=TRANSPORT) as conn, _queue(conn, queue_name) as q:
        _take_whole(q)


def test_a_packed_message_keeps_its_priority(
    redis_url: str, client: redis.Redis, queue_name: str
) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn, _queue(conn, queue_name) as q:
        q.put(PAYLOAD, priority=9)

        sep = "\x06\x16"  # kombu's separator of a priority queue's name
        assert client.llen(f"{queue_name}{sep}9") == 1
        _take_whole(q)
