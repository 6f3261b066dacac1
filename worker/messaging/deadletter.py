"""Broker messages no worker can read are kept aside in Redis with their reason, never dropped.

``reload:deadletter`` holds the newest ``DEADLETTER_MAX_ENTRIES`` records, one JSON per
message (``at``, ``reason``, ``raw``: the first 10 KB, ``queue``), and
``reload:deadletter:count`` counts every one (``reloadctl status`` shows it; read them with
``redis-cli LRANGE reload:deadletter 0 9``). They come from the Redis transport
(``worker.messaging.broker``: items kombu cannot read) and from ``Consumer`` below (the
``worker_consumer`` setting: envelopes Celery cannot decode or run). If Redis cannot take
a record, the message is logged and the worker carries on.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import redis
from celery.exceptions import InvalidTaskError
from celery.worker.consumer import Consumer as CeleryConsumer
from vine import promise

from worker import constants as c
from worker.redis_url import SentinelOptions, connect

__all__ = ["Consumer", "DeadLetters", "keep_aside", "raw_of", "task_body_problem"]

logger = logging.getLogger(__name__)

# Seconds the dead-letter writer waits for Redis: the consumer must not hang on it.
TIMEOUT_SECONDS = 2.0

_clients: dict[int, redis.Redis] = {}


class DeadLetters:
    """The dead-letter list and its counter in one Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def add(self, raw: str, reason: str, queue: str | None, *, now: float | None = None) -> None:
        """Keep one message aside (the list keeps the newest ``DEADLETTER_MAX_ENTRIES``).

        Parameters:
            raw: the message as read; its first ``DEADLETTER_RAW_CHARS`` are kept.
            reason: why no worker can read it.
            queue: the queue it came from, if known.
            now: the record's time (``None``: this machine's clock).

        Raises:
            redis.RedisError: Redis could not take the record.
        """
        record = {
            "at": time.time() if now is None else now,
            "reason": reason,
            "raw": raw[: c.DEADLETTER_RAW_CHARS],
            "queue": queue,
        }
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(c.DEADLETTER_KEY, json.dumps(record))
        pipe.ltrim(c.DEADLETTER_KEY, 0, c.DEADLETTER_MAX_ENTRIES - 1)
        pipe.incr(c.DEADLETTER_COUNT_KEY)
        pipe.execute()

    def count(self) -> int:
        """How many messages were ever kept aside."""
        return int(self._redis.get(c.DEADLETTER_COUNT_KEY) or 0)

    def latest(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest ``limit`` records, newest first."""
        return [json.loads(item) for item in self._redis.lrange(c.DEADLETTER_KEY, 0, limit - 1)]


_url: str | None = None
_sentinel: SentinelOptions | None = None


def configure(redis_url: str, sentinel: SentinelOptions | None = None) -> None:
    """Keep dead letters in the Redis at ``redis_url``; called by the wiring.

    Parameters:
        redis_url: ``REDIS_URL``.
        sentinel: the master's name and the sentinels' password, for a ``sentinel://`` URL.
    """
    global _url, _sentinel
    _url, _sentinel = redis_url, sentinel
    _clients.clear()


def _client() -> redis.Redis:
    """This process's dead-letter client on ``REDIS_URL`` (built after a fork, never before)."""
    if os.getpid() not in _clients:
        if _url is None:
            raise redis.ConnectionError("no Redis for dead letters: worker.producer not configured")
        _clients.clear()
        _clients[os.getpid()] = connect(
            _url,
            _sentinel,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
        )
    return _clients[os.getpid()]


def keep_aside(raw: str, reason: str, queue: str | None) -> None:
    """Record an unreadable message in the dead-letter list and log it.

    Parameters:
        raw: the message as read; its first ``DEADLETTER_RAW_CHARS`` are kept.
        reason: why no worker can read it.
        queue: the queue it came from (or the queues being read, comma-separated), if known.

    A Redis error is logged with the message's start, never raised: the worker carries on.
    """
    try:
        DeadLetters(_client()).add(raw, reason, queue)
    except redis.RedisError as exc:
        logger.error(
            "could not keep an unreadable broker message aside in %s (Redis: %s); "
            "it is lost: %s; it starts %.200r",
            c.DEADLETTER_KEY, exc, reason, raw,
        )  # fmt: skip
        return
    logger.error(
        "kept an unreadable broker message from queue %s aside in %s: %s",
        queue, c.DEADLETTER_KEY, reason,
    )  # fmt: skip


def raw_of(message: Any) -> str:
    """A received kombu message as text: its envelope as read (Redis) or its parts (AMQP)."""
    envelope = getattr(message, "_raw", None)
    if not isinstance(envelope, dict):
        body = message.body
        envelope = {
            "body": body.decode(errors="replace") if isinstance(body, bytes) else body,
            "content-type": message.content_type,
            "content-encoding": message.content_encoding,
            "headers": message.headers,
            "properties": message.properties,
        }
    return json.dumps(envelope, default=str)


def _queue_of(message: Any) -> str | None:
    routing_key = (message.delivery_info or {}).get("routing_key")
    return str(routing_key) if routing_key is not None else None


def task_body_problem(message: Any) -> str | None:
    """Why a task message's decoded body cannot be run, or None (also when it cannot be decoded:
    Celery reports that itself).

    Celery 5.7 expects ``[args, kwargs, embed]`` (or a dict with ``args``) and
    stops the worker on anything else instead of calling ``on_invalid_task``.
    """
    try:
        body = message.payload  # decoded once: Celery reads the same cached value
    except Exception:  # Celery's own path reports an undecodable body
        return None
    if isinstance(body, dict) and "args" in body:
        return None
    if not isinstance(body, list | tuple) or len(body) != 3:
        return "the body is not [args, kwargs, embed]"
    args, kwargs, embed = body
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        return "the body is not [args, kwargs, embed] with a list and an object"
    if embed is not None and not isinstance(embed, dict):
        return "the body's embed (third item) is not an object"
    return None


class Consumer(CeleryConsumer):
    """Celery's consumer, keeping every message it cannot decode or run aside first."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """Keep a message whose body cannot be decoded aside, then let Celery handle it."""
        keep_aside(raw_of(message), f"cannot decode: {exc}", _queue_of(message))
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        """Keep a message that names no task aside, then let Celery handle it."""
        keep_aside(raw_of(message), "not a task message: no task name", _queue_of(message))
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        """Keep a message for a task no worker has aside; reject it if Celery cannot."""
        keep_aside(raw_of(message), f"unknown task: {exc}", _queue_of(message))
        try:
            super().on_unknown_task(body, message, exc)
        except (KeyError, TypeError):  # Celery 5.7 needs the task id to record the failure
            logger.error("an unknown task's message names no task id: rejected, no failure stored")
            if not message.acknowledged:
                message.reject_log_error(logger, self.connection_errors)  # type: ignore[attr-defined]

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """Keep an invalid task message aside, then let Celery handle it."""
        keep_aside(raw_of(message), f"invalid task message: {exc}", _queue_of(message))
        super().on_invalid_task(body, message, exc)

    def create_task_handler(self, promise: type[promise] = promise) -> Callable[..., Any]:
        """Celery's task handler, checking first that a known task's body can be run.

        A body that cannot (``task_body_problem``) goes to ``on_invalid_task`` instead of
        stopping the worker.
        """
        handle = super().create_task_handler(promise)

        def on_task_received(message: Any) -> Any:
            headers = message.headers
            if isinstance(headers, dict) and headers.get("task") in self.strategies:  # type: ignore[attr-defined]
                problem = task_body_problem(message)
                if problem is not None:
                    return self.on_invalid_task(None, message, InvalidTaskError(problem))
            return handle(message)

        return on_task_received
