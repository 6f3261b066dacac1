"""The webhook outbox: a batch's webhook is a durable record until it is delivered.

The batch's completion (``Ledger.complete``, one Lua script) writes the record:
the batch id in ``reload:outbox`` (a sorted set) and ``webhook=pending`` in the
batch's hash. ``post_batch_webhook`` delivers it; a failed attempt waits (parked)
with full-jitter exponential backoff and pushes the record's score past its next
attempt. The sweep (``batch_backstop``) sends the delivery task again for a record
whose score has passed: its task was lost (a crash between the completion and the
task's first park). So the webhook is delivered at least once; each POST carries
``Idempotency-Key: <batch id>`` for the receiver to drop repeats.

The record ends when a POST succeeds (``delivered: HTTP <code>``), when the URL is
refused, or ``RELOAD_WEBHOOK_RETRY_SECONDS`` after the completion (``failed: ...``).
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
    """Full jitter: a uniform wait in [0, min(cap, base * 2**attempt)] after ``attempt``
    failed POSTs (1, 2, ...)."""
    ceiling = min(
        c.WEBHOOK_BACKOFF_MAX_SECONDS, c.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1)
    )
    return (rng or random).uniform(0, ceiling)


def _lock_key(batch_id: str) -> str:
    return f"{c.KEY_PREFIX}outbox:lock:{batch_id}"


class Outbox:
    """The Redis side of webhook deliveries (records are written by ``Ledger.complete``)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def pending(self, batch_id: str) -> bool:
        return self.redis.zscore(c.OUTBOX_KEY, batch_id) is not None

    def due(self, *, now: float, again_in: float, limit: int = 100) -> list[str]:
        """Records whose delivery task looks lost; each is pushed ``again_in`` seconds on
        (the caller sends their task again)."""
        raw = self.redis.zrangebyscore(c.OUTBOX_KEY, "-inf", repr(now), start=0, num=limit)
        ids = [_text(m) for m in raw if isinstance(m, bytes | str)]
        if ids:
            self.redis.zadd(c.OUTBOX_KEY, dict.fromkeys(ids, now + again_in), xx=True)
        return ids

    def lock(self, batch_id: str) -> str | None:
        """Take the batch's delivery lock; its token, or None if a delivery is under way."""
        token = uuid.uuid4().hex
        got = self.redis.set(_lock_key(batch_id), token, nx=True, px=int(_LOCK_SECONDS * 1000))
        return token if got else None

    def unlock(self, batch_id: str, token: str) -> None:
        key = _lock_key(batch_id)
        if _text(self.redis.get(key) or b"") == token:
            self.redis.delete(key)

    def attempt_failed(self, batch_id: str, *, retry_at: float, reason: str) -> int:
        """Count a failed POST; the record is due for the sweep after ``retry_at``.
        Returns the attempts so far."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(c.batch_key(batch_id), "webhook_attempts", 1)
        pipe.hset(c.batch_key(batch_id), "webhook", f"pending: {reason}")
        pipe.zadd(c.OUTBOX_KEY, {batch_id: retry_at}, xx=True)
        attempts, _, _ = pipe.execute()
        return int(attempts)

    def close(self, batch_id: str, status: str) -> None:
        """The record ends: ``delivered: ...`` or ``failed: ...``."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(c.OUTBOX_KEY, batch_id)
        pipe.hset(c.batch_key(batch_id), "webhook", status)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
