"""Given a channel of the project's transport, when it publishes, consumes and acks messages,
then it builds one Redis client for all of them (stock kombu 5.7 builds one per operation)."""

from __future__ import annotations

from typing import Any

import redis
from kombu import Connection, Exchange, Queue

from tests.unit.messaging.test_broker_transport import TRANSPORT, connection

QUEUE = Queue("one-client", Exchange("one-client"), routing_key="one-client")


class CountingClient:
    """Wraps a channel's ``Client`` (kombu's public attribute) and counts what it builds."""

    def __init__(self, client_class: Any) -> None:
        self.client_class = client_class
        self.built = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.built += 1
        return self.client_class(**kwargs)


def round_trip(conn: Connection, messages: int) -> tuple[CountingClient, list[Any]]:
    """Publish ``messages`` messages, then consume and ack them, counting clients built."""
    channel: Any = conn.default_channel
    counter = CountingClient(channel.Client)
    channel.Client = counter
    producer = conn.Producer(channel)
    for i in range(messages):
        producer.publish({"n": i}, routing_key="one-client", exchange="one-client", declare=[QUEUE])
    received: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        received.append(body)
        message.ack()

    with conn.Consumer(QUEUE, channel=channel, callbacks=[on_message]):
        while len(received) < messages:
            conn.drain_events(timeout=5)
    return counter, received


def test_the_transport_builds_one_client_for_many_operations(real_redis: redis.Redis) -> None:
    with connection(real_redis, TRANSPORT) as conn:
        counter, received = round_trip(conn, 20)

    assert received == [{"n": i} for i in range(20)]
    # At most the consumer's own (kombu caches that one) and one for every other operation.
    assert counter.built <= 2


def test_stock_kombu_still_builds_a_client_per_operation(real_redis: redis.Redis) -> None:
    """When this fails, kombu reuses its clients: worker/messaging/broker.py's
    ``conn_or_acquire`` can go (docs/decisions/0017-one-redis-client-per-broker-channel.md)."""
    with connection(real_redis) as conn:
        counter, _ = round_trip(conn, 20)

    assert counter.built >= 40  # a publish and an ack each, at least
