"""The Redis broker transport: kombu 5.7's, with three narrow fixes. Messages stay kombu's
standard JSON envelopes (base64 bodies), readable by any Celery client, Flower or tool.

A Redis restart raises a reconnectable error instead of stopping the worker; an
unreadable message is kept in the dead-letter list (``worker.messaging.deadletter``); a
demoted master's ``READONLY`` is a lost connection (``worker.redis_url``).
``SentinelTransport`` is kombu's Sentinel transport with the same fixes.
Why, and the guard test: docs/decisions/0010-kombu-transport-overrides.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
    """kombu's Redis channel: a collected connection raises a reconnectable error, an item
    that is not JSON goes to the dead letters, and a demoted master is a lost connection."""

    connection_class: type[Any] = FailoverConnection
    connection_class_ssl: type[Any] = FailoverSSLConnection
    _sync_client: tuple[Any, Any] | None = None  # (pool, the client built on it)

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """The client for one operation: ``client`` if given, else one client per pool.

        kombu builds a new ``redis.Redis`` here for every publish, ack and event; redis-py 8
        copies its table of ~300 response callbacks into each, a fifth of a millisecond of
        CPU, several times per task execution. The client holds no state of its own (its
        connections come from the pool), so this channel builds it once per pool.
        """
        if client:
            yield client
            return
        pool = self.pool
        cached = self._sync_client
        if cached is None or cached[0] is not pool:
            cached = self._sync_client = (pool, self._create_client())  # type: ignore[attr-defined]
        yield cached[1]

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
    """kombu's Redis transport with ``Channel``'s fixes; an envelope kombu cannot make a
    message of goes to the dead letters."""

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
