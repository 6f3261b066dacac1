"""The Redis broker transport: kombu's, with two fixes that keep a worker up and messages packed.

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

And one saving: **messages are stored packed** (``worker.packed``, ~1.4 KB ->
~0.3 KB). A waiting task's message sits in Redis for its whole countdown, on
the queue's list and then in the ``unacked`` hash while a worker holds it, so
with thousands of models in flight these copies are most of Redis's memory.
The channel packs what it puts on a queue and what it keeps unacked, and
expands what it reads; plain messages (from producers that do not pack) are
read as they are. Every hook below wraps kombu's own method except
``QoS.append``, which is kombu 5.7's with the entry packed. A message put
back on the queue after a worker died goes back plain (kombu's restore path);
the next retry packs it again.
"""

from __future__ import annotations

import logging
import time
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps

from worker.packed import Packed, expand, pack, packed_form

__all__ = ["Channel", "QoS", "Transport"]

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        delivery = message.delivery_info
        # The message as just read: its packed string is stored again, not packed anew.
        entry = [packed_form(message._raw), delivery["exchange"], delivery["routing_key"]]
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time.time()}).hset(
                self.unacked_key, delivery_tag, dumps(entry)
            ).execute()
            virtual.QoS.append(self, message, delivery_tag)


class Channel(kombu_redis.Channel):
    QoS = QoS

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

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        super()._put(queue, pack(message), **kwargs)

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        return expand(super()._get(queue))

    def _get_message_priority(self, message: Any, reverse: bool = False) -> int:
        message = message.message if isinstance(message, Packed) else message
        return super()._get_message_priority(message, reverse=reverse)

    def _do_restore_message(self, payload: Any, *args: Any, **kwargs: Any) -> None:
        super()._do_restore_message(expand(payload), *args, **kwargs)  # type: ignore[misc]

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # the connection was collected: nothing to reach
            raise redis.ConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel

    def _deliver(self, message: Any, queue: str | None) -> None:
        """Every message read from a queue (``BRPOP``) arrives here: expand it first."""
        super()._deliver(expand(message), queue)
