"""The Redis broker transport: kombu 5.7's, with one fix and a dead-letter net. Messages are
kombu's standard JSON envelopes (base64 bodies), readable by any Celery client, Flower or tool.

1. **A Redis restart.** With kombu 5.7 / Celery 5.7, when a worker loses its
   Redis broker the consumer first ``collect()``s the connection (which drops
   the transport's client) and then ``close()``s it. Closing the channel tries
   to hand the worker's unacked messages back to the queue, needs the client's
   host and port for that, and dies with ``AttributeError: 'NoneType' object
   has no attribute 'hostname'``, which Celery treats as unrecoverable: the
   worker exits instead of reconnecting. Here that case raises a Redis
   ``ConnectionError`` instead, which the close ignores like any other error on
   a dead connection. The messages stay in the broker's unacked hash, and the
   visibility sweep (see ``worker.celery``) puts them back on the queue.
   ``tests/unit/test_broker_transport.py`` fails once kombu fixes it.
2. **An unreadable message** on the queue's list (already popped by ``BRPOP``)
   would stop the worker ("Unrecoverable error") or be lost: an item that is
   not JSON, or JSON that kombu cannot make a message of. Both are kept aside
   in the dead-letter list (``worker.messaging.deadletter``) and the worker carries on.
   Envelopes kombu can read but Celery cannot run go to Celery's consumer,
   whose handlers ``worker.messaging.deadletter.Consumer`` extends.
3. **A failover.** The connections are ``worker.redis_url``'s ``Failover*`` classes (kombu's
   ``connection_class`` attributes): a demoted master's ``READONLY`` is a lost connection,
   which the consumer and the publisher reconnect from, never an "Unrecoverable error"
   (celery#7946). ``SentinelTransport`` (a ``sentinel://`` broker URL, ``master_name`` in the
   transport options) is kombu's Sentinel transport with the same fixes: each new
   connection asks the sentinels for the master.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from worker.messaging.deadletter import keep_aside
from worker.redis_url import (
    FailoverConnection,
    FailoverSentinelConnection,
    FailoverSentinelSSLConnection,
    FailoverSSLConnection,
)

__all__ = ["Channel", "SentinelChannel", "SentinelTransport", "Transport", "envelope_problem"]


class Channel(kombu_redis.Channel):
    connection_class: type[Any] = FailoverConnection
    connection_class_ssl: type[Any] = FailoverSSLConnection

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # the connection was collected: nothing to reach
            raise redis.ConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[misc]
        except json.JSONDecodeError as exc:  # kombu's ``loads`` of the item just popped
            keep_aside(exc.doc, f"not JSON: {exc}", ",".join(self.active_queues))
            raise Empty() from None


class Transport(kombu_redis.Transport):
    Channel = Channel

    def _deliver(self, message: Any, queue: str | None) -> None:
        """Every message read from Redis arrives here, decoded from JSON, before kombu reads it."""
        problem = envelope_problem(message, self.Channel.codecs)
        if problem is not None:
            keep_aside(json.dumps(message, default=str), problem, queue)
            raise Empty()
        super()._deliver(message, queue)


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel (the master from ``master_name``) with ``Channel``'s fixes."""

    connection_class = FailoverSentinelConnection
    connection_class_ssl = FailoverSentinelSSLConnection


class SentinelTransport(Transport):
    """kombu's ``SentinelTransport`` (a ``sentinel://`` broker URL) with ``Transport``'s fixes."""

    Channel = SentinelChannel
    default_port = kombu_redis.SentinelTransport.default_port


def envelope_problem(payload: Any, codecs: Mapping[str, Any]) -> str | None:
    """Why kombu 5.7 could not make a message of ``payload``, or None if it can.

    Each case below makes kombu's ``Message`` or its unacked bookkeeping raise
    in the consumer, which stops the worker or drops the message.
    """
    if not isinstance(payload, dict):
        return f"not a kombu message: JSON {type(payload).__name__}, not an object"
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        return "not a kombu message: no 'properties' object"
    if not isinstance(properties.get("delivery_tag"), str):
        return "not a kombu message: no string 'delivery_tag' in its properties"
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or not {"exchange", "routing_key"} <= info.keys():
        return "not a kombu message: no 'delivery_info' with 'exchange' and 'routing_key'"
    headers = payload.get("headers")
    if headers and not isinstance(headers, dict):
        return "not a kombu message: 'headers' is not an object"
    body, encoding = payload.get("body"), properties.get("body_encoding")
    if body is not None and not isinstance(body, str):
        return "not a kombu message: 'body' is not a string"
    if body and encoding and str(encoding).lower() != "utf-8":
        if not isinstance(encoding, str) or encoding not in codecs:
            return f"unknown body encoding {encoding!r}"
        try:
            codecs[encoding].decode(body)
        except ValueError as exc:  # binascii.Error: not base64
            return f"body is not valid {encoding}: {exc}"
    return None
