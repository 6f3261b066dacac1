"""The Redis broker transport: kombu's, with two fixes so that a worker stays up.

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
2. **A malformed message.** Anything pushed onto the queue's list that is not
   a kombu envelope (not JSON, JSON that is not an object, ...) makes the read
   raise, and Celery stops the worker ("Unrecoverable error"). Here such a
   message, already popped by ``BRPOP``, is logged (its start only) and
   dropped; the worker carries on.
"""

from __future__ import annotations

import logging
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

__all__ = ["Channel", "Transport"]

logger = logging.getLogger(__name__)


class Channel(kombu_redis.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handlers = {**self.handlers, "BRPOP": self._brpop_read_or_drop}

    def _brpop_read_or_drop(self, **options: Any) -> Any:
        try:
            return self._brpop_read(**options)  # type: ignore[attr-defined]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.error(
                "dropped a malformed message from the broker (%s: %.200s)", type(exc).__name__, exc
            )
            raise Empty() from None

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # the connection was collected: nothing to reach
            raise redis.ConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
