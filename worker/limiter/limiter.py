"""One account-wide limiter: pause, concurrency cap and sliding-window rate in one Lua call.

Every worker process on every machine builds a ``Limiter`` on the same Redis and
the same ``scope`` (a hash of the API key). ``acquire()`` runs one script that,
atomically and with the clock of Redis ``TIME``:

1. drops expired leases (a dead holder's slot comes back after ``lease_seconds``)
   and grants older than the window;
2. checks the pause, the in-flight cap and the rate; if any blocks, answers
   ``Wait`` with the longest of the blocking waits and its reason;
3. otherwise records the grant time in the rate set and the lease in the lease
   set, sets PEXPIREs on both, and answers ``Go``.

The caller never sleeps on a ``Wait``: it reschedules the task with
``countdown=wait.seconds`` (design rule 2, docs/design.md). A 429 calls ``pause()`` (rule 3).
Keys and scripts are described in :mod:`worker.limiter.scripts`.

Why hand-written and not the ``limits`` library
-----------------------------------------------
``limits`` (read: limits 5.8.0 from PyPI, ``limits/storage/redis.py``,
``limits/strategies.py`` and ``limits/resources/redis/lua_scripts/``) offers a
``MovingWindowRateLimiter`` whose Redis storage keeps a LIST of timestamps per
key: ``acquire_moving_window.lua`` does ``LINDEX key (limit - amount)``, refuses
when that entry is newer than ``timestamp - expiry``, else ``LPUSH`` + ``LTRIM``
+ ``EXPIRE``. That is a correct sliding window for one rate, but:

* the timestamp is the client's: ``RedisStorage.acquire_entry`` passes
  ``time.time()`` as ``ARGV[1]``, so workers with skewed clocks disagree, and a
  lagging clock pushes an out-of-order entry at the head of the list;
* the period is whole seconds (``RateLimitItem.get_expiry() -> int``, ``EXPIRE``
  in seconds): no ``rate_period + skew`` window;
* ``hit()`` answers only a bool; how long to wait needs a second, separate call
  (``get_window_stats`` -> ``moving_window.lua``), which is not atomic with the hit;
* there is no concurrency cap, no lease with an expiry for a dead holder, no
  renew/release, and no shared pause.

Stacking a ``limits`` hit with a separate lease set and pause key would take
several round trips: a grant could be charged to the rate and then refused by
the cap (or the reverse), and a pause set between the steps would be missed. No
library we found decides rate + lease + pause in one atomic step, so this module
does it in ~60 lines of Lua, following the sorted-set-of-grants pattern.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

import redis

from worker.limiter import scripts

__all__ = ["Go", "Limiter", "Wait"]

# When the in-flight cap is reached, a slot usually frees as soon as a request
# returns, so the suggested retry is short (the earliest lease expiry if sooner).
IN_FLIGHT_RETRY_SECONDS = 0.25
# How long an in-flight cap lowered by 429s is remembered without news (seconds).
CAP_MEMORY = 600.0


@dataclass(frozen=True)
class Go:
    """Granted: make the upstream call, then ``release(lease)``."""

    lease: str  # lease id to release/renew
    at: float  # Redis TIME (seconds) when the call was granted
    grant: str = ""  # the grant's id in the rate window, for ``started``


@dataclass(frozen=True)
class Wait:
    """Not now: try again after ``seconds`` (> 0)."""

    seconds: float
    reason: str  # "paused" | "rate" | "in_flight" | "priority"


def _text(value: Any) -> str:
    """A script reply as ``str``, whether the client decodes responses or not."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


class Limiter:
    """The rate, concurrency and pause limits of one scope, shared through Redis."""

    def __init__(
        self,
        redis: redis.Redis,
        scope: str,
        *,
        rate_count: int,
        rate_period: float,
        max_in_flight: int,
        lease_seconds: float,
        skew: float = 0.05,
        prefix: str = "reload:",
        owner: str = "",
        workers_key: str = "",
        dead_after: float = 0.0,
    ) -> None:
        if not scope:
            raise ValueError("scope must be a non-empty string")
        if rate_count < 1:
            raise ValueError(f"rate_count must be >= 1, got {rate_count}")
        if rate_period <= 0:
            raise ValueError(f"rate_period must be > 0, got {rate_period}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")
        if skew < 0:
            raise ValueError(f"skew must be >= 0, got {skew}")
        self.redis = redis
        self.scope = scope
        self.rate_count = rate_count
        self.rate_period = rate_period
        self.max_in_flight = max_in_flight
        self.lease_seconds = lease_seconds
        self.skew = skew
        # Leases are "<owner>|<id>": the slot of an owner whose heartbeat (a score in
        # ``workers_key``) is older than ``dead_after`` comes back at once.
        self.owner = owner
        self.workers_key = workers_key
        self.dead_after = dead_after if workers_key else 0.0
        base = f"{prefix}limiter:{scope}"
        self.calls_key = f"{base}:calls"
        self.leases_key = f"{base}:leases"
        self.pause_key = f"{base}:pause"
        self.turns_key = f"{base}:turns"
        self.cap_key = f"{base}:cap"
        self.cap_ok_key = f"{base}:cap:ok"
        self.rate_limited_key = f"{base}:429s"
        self.high_key = f"{base}:high"
        self.high_turns_key = f"{base}:hturns"
        # redis-py's Script runs EVALSHA and, on NOSCRIPT (e.g. after a Redis
        # restart or SCRIPT FLUSH), loads the script again and retries.
        self._acquire = redis.register_script(scripts.ACQUIRE)
        self._renew = redis.register_script(scripts.RENEW)
        self._pause = redis.register_script(scripts.PAUSE)
        self._in_flight = redis.register_script(scripts.IN_FLIGHT)
        self._started = redis.register_script(scripts.STARTED)
        self._paused_for = redis.register_script(scripts.PAUSED_FOR)
        self._shrink = redis.register_script(scripts.SHRINK)
        self._grow = redis.register_script(scripts.GROW)

    @property
    def window(self) -> float:
        """The sliding window the rate is enforced over: ``rate_period + skew``."""
        return self.rate_period + self.skew

    def acquire(
        self, *, hold: str | None = None, priority: str = "normal", caller: str = ""
    ) -> Go | Wait:
        """Take a rate slot and a concurrency lease, or say how long to wait.

        ``hold``: a lease the caller already holds (a loading model that keeps its
        slot until warm). While it is live, only the rate applies and the same
        lease comes back, extended; once it has expired, this is a plain acquire.
        ``priority="high"`` with a ``caller`` id: while that caller waits for its turn,
        no normal caller takes the grant it waits for (reason ``"priority"``).
        """
        lease = f"{self.owner}|{uuid.uuid4().hex}" if self.owner else uuid.uuid4().hex
        reply = cast(
            "list[Any]",
            self._acquire(
                keys=[
                    self.calls_key,
                    self.leases_key,
                    self.pause_key,
                    self.turns_key,
                    self.workers_key or self.calls_key,
                    self.cap_key,
                    self.high_key,
                    self.high_turns_key,
                ],
                args=[
                    self.rate_count,
                    repr(self.window),
                    self.max_in_flight,
                    repr(self.lease_seconds),
                    lease,
                    repr(IN_FLIGHT_RETRY_SECONDS),
                    hold or "",
                    repr(self.dead_after),
                    priority,
                    caller,
                ],
            ),
        )
        if int(reply[0]) == 1:
            return Go(lease=_text(reply[2]), at=float(_text(reply[1])), grant=_text(reply[3]))
        return Wait(seconds=float(_text(reply[1])), reason=_text(reply[2]))

    def started(self, grant: str) -> None:
        """Count the grant from now, when its request is really sent (see ``STARTED``)."""
        if grant:
            self._started(keys=[self.calls_key], args=[grant, repr(self.window)])

    def release(self, lease: str) -> None:
        """Free the lease's concurrency slot; releasing twice (or a gone lease) is harmless.

        The grant stays in the rate window: a call that was made still counts.
        """
        self.redis.zrem(self.leases_key, lease)

    def renew(self, lease: str, seconds: float) -> bool:
        """Extend a live lease to expire at now + ``seconds`` (never earlier than it was).

        Returns False if the lease is gone (expired or released): the slot may
        already belong to another worker.
        """
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        reply = self._renew(keys=[self.leases_key], args=[lease, repr(float(seconds))])
        return int(cast("int", reply)) == 1

    def pause(self, seconds: float) -> float:
        """Pause the scope for every worker until now + ``seconds``; returns the pause end.

        An existing later pause is kept (a pause is never shortened).
        """
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        reply = self._pause(keys=[self.pause_key], args=[repr(float(seconds))])
        return float(_text(reply))

    def shrink(self) -> tuple[int, int]:
        """A 429 said the account's limit is lower than the cap: lower it by one (not
        below 1) for every worker. Returns the new cap and the number of 429s in a row
        (both are reset by answers: ``grow``)."""
        keys = [self.cap_key, self.cap_ok_key, self.leases_key, self.rate_limited_key]
        reply = self._shrink(keys=keys, args=[self.max_in_flight, CAP_MEMORY])
        return int(reply[0]), int(reply[1])

    def grow(self) -> int:
        """A call was answered without a 429: after as many as the cap, raise it by one
        (never above ``max_in_flight``); returns the cap in force."""
        keys = [self.cap_key, self.cap_ok_key, self.rate_limited_key]
        return int(cast("int", self._grow(keys=keys, args=[self.max_in_flight, CAP_MEMORY])))

    def in_flight(self) -> int:
        """The number of live (unexpired) leases."""
        return int(cast("int", self._in_flight(keys=[self.leases_key])))

    def paused_for(self) -> float:
        """Seconds of pause left, 0.0 if none."""
        return float(_text(self._paused_for(keys=[self.pause_key])))
