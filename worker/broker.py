"""The Redis broker transport: kombu's, with a fix so that a worker stays up.

**A Redis restart.** With kombu 5.7 / Celery 5.7, when a worker loses its
Redis broker the consumer first ``collect()``s the connection (which drops
the transport's client) and then ``close()``s it. Closing the channel tries
to hand the worker's unacked messages back to the queue, needs the client's
host and port for that, and dies with ``AttributeError: 'NoneType' object
has no attribute 'hostname'``, which Celery treats as unrecoverable: the
worker exits instead of reconnecting. Here that case raises a Redis
``ConnectionError`` instead, which the close ignores like any other error on
a dead connection. The messages stay in the broker's unacked hash, and the
visibility sweep (see ``worker.celery``) puts them back on the queue.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

__all__ = ["Channel", "Transport"]


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # the connection was collected: nothing to reach
            raise redis.ConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
