"""The webhook outbox: a batch's webhook is a durable record until it is delivered.

``Ledger.complete`` writes the record (``reload:outbox``, ``webhook=pending``); the delivery
task counts failed attempts and closes it (``delivered: HTTP <code>`` or ``failed: ...``); the
sweep sends the task again for a record whose time has passed. Delivered at least once.

Why: docs/decisions/0007-reconciler-and-webhook-outbox.md
"""

from __future__ import annotations

import random
import uuid

import redis

from worker import constants as c

__all__ = ["Outbox", "backoff_seconds"]

# One delivery at a time per batch: a lock longer than a POST can take.
_LOCK_SECONDS = c.WEBHOOK_TIMEOUT_SECONDS + 5.0


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Full jitter: a uniform wait in [0, min(cap, base * 2**(attempt - 1))].

    Parameters:
        attempt: failed POSTs so far (1, 2, ...).
        rng: the random source (tests pass a seeded one).
    """
    ceiling = min(
        c.WEBHOOK_BACKOFF_MAX_SECONDS, c.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1)
    )
    return (rng or random).uniform(0, ceiling)


def _lock_key(batch_id: str) -> str:
    return f"{c.KEY_PREFIX}outbox:lock:{batch_id}"


class Outbox:
    """The Redis side of webhook deliveries (records are written by ``Ledger.complete``).

    Parameters:
        client: the Redis of the shared state.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def pending(self, batch_id: str) -> bool:
        """Whether the batch's webhook record is still open."""
        return self.redis.zscore(c.OUTBOX_KEY, batch_id) is not None

    def due(self, *, now: float, again_in: float, limit: int = 100) -> list[str]:
        """Records whose delivery task looks lost; each is pushed ``again_in`` seconds on.

        Parameters:
            now: the Redis time.
            again_in: seconds until such a record is due again.
            limit: the most records returned.

        Returns:
            Their batch ids: the caller sends their delivery task again.
        """
        raw = self.redis.zrangebyscore(c.OUTBOX_KEY, "-inf", repr(now), start=0, num=limit)
        ids = [_text(m) for m in raw if isinstance(m, bytes | str)]
        if ids:
            self.redis.zadd(c.OUTBOX_KEY, dict.fromkeys(ids, now + again_in), xx=True)
        return ids

    def lock(self, batch_id: str) -> str | None:
        """Take the batch's delivery lock, for longer than a POST can take.

        Returns:
            Its token (for ``unlock``), or None if a delivery is under way.
        """
        token = uuid.uuid4().hex
        got = self.redis.set(_lock_key(batch_id), token, nx=True, px=int(_LOCK_SECONDS * 1000))
        return token if got else None

    def unlock(self, batch_id: str, token: str) -> None:
        """Release the batch's delivery lock if ``token`` still holds it."""
        key = _lock_key(batch_id)
        if _text(self.redis.get(key) or b"") == token:
            self.redis.delete(key)

    def attempt_failed(self, batch_id: str, *, retry_at: float, reason: str) -> int:
        """Count a failed POST; the record is due for the sweep after ``retry_at``.

        Parameters:
            batch_id: the batch.
            retry_at: the Redis time after which the sweep sends the delivery task again.
            reason: why it failed, shown as ``pending: <reason>``.

        Returns:
            The attempts so far.
        """
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(c.batch_key(batch_id), "webhook_attempts", 1)
        pipe.hset(c.batch_key(batch_id), "webhook", f"pending: {reason}")
        pipe.zadd(c.OUTBOX_KEY, {batch_id: retry_at}, xx=True)
        attempts, _, _ = pipe.execute()
        return int(attempts)

    def close(self, batch_id: str, status: str) -> None:
        """The record ends with ``status``: ``delivered: ...`` or ``failed: ...``."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(c.OUTBOX_KEY, batch_id)
        pipe.hset(c.batch_key(batch_id), "webhook", status)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
