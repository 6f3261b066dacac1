"""One clock for every process: Redis ``TIME``, read now and then, interpolated between.

Every time one process writes to Redis and another compares is on this clock, so workers
whose own clocks disagree still agree. The Lua scripts read ``TIME`` themselves.

Why: docs/decisions/0003-one-clock.md
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

__all__ = ["Clock", "RedisClock"]

Clock = Callable[[], float]


class RedisClock:
    """``clock()`` returns Redis's time in seconds (a float), without a round trip each call.

    Parameters:
        client: the Redis whose ``TIME`` is the reference.
        resync_seconds: how long one reading is trusted before the next call reads ``TIME``
            again; the local monotonic time elapsed since is added in between.
    """

    def __init__(self, client: redis.Redis, *, resync_seconds: float = 10.0) -> None:
        self._redis = client
        self._resync = resync_seconds
        self._lock = threading.Lock()
        self._base: tuple[float, float] | None = None  # (redis time, monotonic) of the reading

    def __call__(self) -> float:
        """Redis's time now, in seconds.

        Raises:
            redis.RedisError: only when a reading is due and fails.
        """
        base = self._base
        if base is None or time.monotonic() - base[1] >= self._resync:
            base = self._read()
        return base[0] + (time.monotonic() - base[1])

    def _read(self) -> tuple[float, float]:
        with self._lock:
            before = time.monotonic()
            seconds, micros = self._redis.time()
            after = time.monotonic()
            # The server read its clock somewhere in the round trip: take the middle.
            base = (seconds + micros / 1_000_000, (before + after) / 2)
            self._base = base
            return base
