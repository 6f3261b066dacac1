"""What the workers record in Redis for monitoring, and how the dashboard reads it back.

Workers count as they go, so that any number of dashboards (and Prometheus through
``/metrics``) read one account-wide truth from Redis; ``Monitor`` lists the keys.
Monitoring never changes a model's course: a write that fails is logged and dropped
(``record``), the model carries on.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from worker import constants as c

__all__ = ["ANSWERS", "DURATION_BUCKETS", "Account", "Durations", "Monitor", "record"]

logger = logging.getLogger(__name__)

ANSWERS = ("accepted", "loading", "warm", "rate_limited", "transient", "permanent")
# Upper bounds (seconds) of the batch duration histogram; the last bucket is +Inf.
DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, math.inf)
RATE_LIMITED_WINDOW_SECONDS = 60.0

T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    """The limits the workers enforce for one key scope, as they published them."""

    scope: str
    rate_count: int
    rate_period: float
    window: float
    max_in_flight: int
    published_at: float


@dataclass(frozen=True)
class Durations:
    """The batch duration histogram: cumulative ``(bound, count)`` pairs, sum and count."""

    buckets: tuple[tuple[float, int], ...]
    total_seconds: float
    count: int


def _bucket_field(seconds: float) -> str:
    bound = next(b for b in DURATION_BUCKETS if seconds <= b)
    return f"le:{'+Inf' if math.isinf(bound) else repr(bound)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Monitor:
    """Writes (workers) and reads (the dashboard) the monitoring keys of one Redis.

    Keys (see ``worker.constants``):

    - ``reload:metrics:answers`` hash: upstream answer kind -> calls answered so
      (``ANSWERS``), counted where the reloader classifies each answer;
    - ``reload:metrics:429s`` sorted set: the 429s of the last minute, by Redis time;
    - ``reload:metrics:batches`` hash: batches completed, the sum of their durations
      and one field per duration bucket (``DURATION_BUCKETS``), counted once per
      batch by whoever completes it;
    - ``reload:batches:recent`` sorted set: the latest completed batches;
    - ``reload:accounts`` hash: key scope -> the limits enforced for it (never the key).

    Parameters:
        client: the Redis of the shared state.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # ---- written by the workers --------------------------------------------------------

    def answered(self, answer: str, *, now: float) -> None:
        """Count one upstream answer.

        Parameters:
            answer: its kind, one of ``ANSWERS``.
            now: the Redis clock's time (a 429's time is kept for a minute).

        Raises:
            ValueError: ``answer`` is not one of ``ANSWERS``.
        """
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer kind {answer!r}")
        if answer != "rate_limited":  # the hot path: one command, no transaction around it
            self.redis.hincrby(c.ANSWERS_KEY, answer, 1)
            return
        pipe = self.redis.pipeline(transaction=True)  # a 429: counted and kept for a minute
        pipe.hincrby(c.ANSWERS_KEY, answer, 1)
        pipe.zadd(c.RATE_LIMITED_TIMES_KEY, {uuid.uuid4().hex: now})
        pipe.zremrangebyscore(c.RATE_LIMITED_TIMES_KEY, "-inf", now - RATE_LIMITED_WINDOW_SECONDS)
        pipe.expire(c.RATE_LIMITED_TIMES_KEY, int(RATE_LIMITED_WINDOW_SECONDS * 2))
        pipe.execute()

    def batch_completed(self, batch_id: str, *, duration: float, now: float) -> None:
        """Count a completed batch (call once per batch: by the one that completed it).

        Parameters:
            batch_id: the batch; the latest ``RECENT_BATCHES_KEPT`` are kept as recent ones.
            duration: how long it ran, in seconds (a negative one counts as 0).
            now: the Redis time it completed (its score among the recent batches).
        """
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(c.BATCH_METRICS_KEY, "completed", 1)
        pipe.hincrbyfloat(c.BATCH_METRICS_KEY, "sum", max(0.0, duration))
        pipe.hincrby(c.BATCH_METRICS_KEY, _bucket_field(max(0.0, duration)), 1)
        pipe.zadd(c.RECENT_BATCHES_KEY, {batch_id: now})
        pipe.zremrangebyrank(c.RECENT_BATCHES_KEY, 0, -(c.RECENT_BATCHES_KEPT + 1))
        pipe.execute()

    def publish_account(
        self,
        scope: str,
        *,
        rate_count: int,
        rate_period: float,
        window: float,
        max_in_flight: int,
        now: float,
    ) -> None:
        """Say which limits this worker enforces for a key scope (never the key).

        Parameters:
            scope: the key's opaque id (``worker.runtime.key_scope``).
            rate_count: calls allowed per ``rate_period``.
            rate_period: the rate's period, in seconds.
            window: the limiter's sliding window, in seconds.
            max_in_flight: the account-wide cap on calls in flight.
            now: the Redis clock's time.
        """
        record = {
            "rate_count": rate_count,
            "rate_period": rate_period,
            "window": window,
            "max_in_flight": max_in_flight,
            "published_at": now,
        }
        self.redis.hset(c.ACCOUNTS_KEY, scope, json.dumps(record))

    # ---- read by the dashboard ---------------------------------------------------------

    def answers(self) -> dict[str, int]:
        """Calls answered so far, per kind (every kind present, 0 if none)."""
        raw = {_text(k): int(v) for k, v in self.redis.hgetall(c.ANSWERS_KEY).items()}
        return {kind: raw.get(kind, 0) for kind in ANSWERS}

    def rate_limited_since(self, since: float) -> int:
        """429s answered since Redis time ``since`` (at most a minute back is kept)."""
        return int(self.redis.zcount(c.RATE_LIMITED_TIMES_KEY, since, "+inf"))

    def batches_completed(self) -> int:
        """How many batches have completed so far."""
        return int(self.redis.hget(c.BATCH_METRICS_KEY, "completed") or 0)

    def durations(self) -> Durations:
        """The batch duration histogram, its buckets cumulative like Prometheus's."""
        raw = {_text(k): _text(v) for k, v in self.redis.hgetall(c.BATCH_METRICS_KEY).items()}
        running = 0
        buckets: list[tuple[float, int]] = []
        for bound in DURATION_BUCKETS:
            running += int(raw.get(_bucket_field(bound), 0))
            buckets.append((bound, running))
        return Durations(tuple(buckets), float(raw.get("sum", 0.0)), running)

    def recent_batches(self, limit: int = c.RECENT_BATCHES_KEPT) -> list[str]:
        """The latest completed batch ids, newest first."""
        return [_text(m) for m in self.redis.zrevrange(c.RECENT_BATCHES_KEY, 0, limit - 1)]

    def accounts(self) -> list[Account]:
        """Every key scope a worker published, in scope order."""
        found = []
        for scope, raw in sorted(self.redis.hgetall(c.ACCOUNTS_KEY).items()):
            record = json.loads(raw)
            found.append(
                Account(
                    scope=_text(scope),
                    rate_count=int(record["rate_count"]),
                    rate_period=float(record["rate_period"]),
                    window=float(record["window"]),
                    max_in_flight=int(record["max_in_flight"]),
                    published_at=float(record["published_at"]),
                )
            )
        return found


def record(what: str, write: Callable[[], T]) -> T | None:
    """Run a monitoring write; Redis trouble is logged and dropped (the model carries on).

    Parameters:
        what: what is recorded, for the log line.
        write: the write itself.

    Returns:
        What ``write`` returned, or ``None`` when Redis failed.
    """
    try:
        return write()
    except redis.RedisError as exc:
        logger.warning("monitoring: could not record %s: %s", what, exc)
        return None
