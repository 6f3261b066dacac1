"""One account-wide limiter: pause, concurrency cap and sliding-window rate in one Lua call.

Every worker builds a ``Limiter`` on the same Redis and ``scope`` (a hash of the API key).
``acquire()`` answers ``Go`` (a lease, released after the call) or ``Wait`` (seconds and a
reason); the caller parks its task instead of sleeping (design rule 2, docs/design.md).
A 429 calls ``pause()`` and ``shrink()`` (rule 3). Keys: :mod:`worker.limiter.scripts`.

Why: docs/decisions/0009-a-hand-written-limiter.md
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import redis

from worker.limiter import scripts
from worker.limiter.breaker import streak_key

__all__ = ["Go", "Limiter", "Wait"]

# When the in-flight cap is reached, a slot usually frees as soon as a request
# returns, so the suggested retry is short (the earliest lease expiry if sooner).
IN_FLIGHT_RETRY_SECONDS = 0.25
# A caller with an id waiting for a slot is woken by the release that frees it (see
# ``release``); without a wake (one that came before it parked, a holder that died) it
# looks again after this long at most, plus its place in the line of slot waiters times
# this long / ``max_in_flight``: the line looks about ``max_in_flight`` times in this long.
# These backstops take none of the turns the rate's waiters share.
SLOT_WAIT_SECONDS = 2.0
# How long an in-flight cap lowered by 429s is remembered without news (seconds).
CAP_MEMORY = 600.0
# The rate's window is rate_period + SKEW. A grant counts from its call's answer (an upper
# bound on when the request reached the upstream), so no delay of the request needs a
# margin; this one covers the microseconds lost to the "%.6f" times and a clock step.
SKEW_SECONDS = 0.002
# How long a grant taken ahead for a caller (the pump's, before it publishes the caller's
# task) waits to be picked up, at most (see ``Limiter.ahead_seconds``).
AHEAD_SECONDS = 2.0
# A grant taken ahead may count from a moment up to this long after it is taken, the moment
# the rate's window has room: the pump asks that much before a task's turn, and the time
# from its grant to the task's call (publish, consume, the pool's pickup) overlaps the
# previous call's last moments in the window instead of following them. A task that picks
# the grant up before that moment holds its call back until then (``Go.hold_back``).
AHEAD_LEAD_SECONDS = 0.02
# Grants whose answer this process has not reported yet, at most (a bound, never reached
# by a worker that releases or renews each lease it is given).
_PENDING_ANSWERS = 10_000
# An answer's time is measured on this process's monotonic clock from just before the
# grant (``answered``); Redis's clock may run faster by NTP's slew (at most 500 ppm) and
# this one slower by as much: the elapsed time is counted this much longer.
_CLOCK_RATE_MARGIN = 1.001


@dataclass
class _Pending:
    """A grant given to this process whose call's answer Redis has not been told of."""

    grant: str
    granted_at: float  # Redis TIME of the grant (``Go.at``)
    asked_at: float  # time.monotonic() just before the grant was asked for
    answered_at: float | None = None  # upper bound, Redis time, of the call's arrival


@dataclass(frozen=True)
class Go:
    """Granted: make the upstream call, then ``release(lease)``.

    Parameters:
        lease: the lease id to release or renew.
        at: the Redis time (seconds) when the call was granted.
        grant: the grant's id in the rate window, for ``started``.
        hold_back: seconds to wait before the call is sent: a grant taken ahead counts from
            a moment after it was taken (``AHEAD_LEAD_SECONDS``); picked up sooner, its call
            waits for that moment.
        cap_lowered: 429s had lowered the in-flight cap when the call was granted: its
            answer raises it (``grow``). Otherwise ``grow`` has nothing to do and is skipped
            (a 429 between the grant and the answer lowers the cap for the next answers to
            raise).
    """

    lease: str  # lease id to release/renew
    at: float  # Redis TIME (seconds) when the call was granted
    grant: str = ""  # the grant's id in the rate window, for ``started``
    hold_back: float = 0.0  # seconds before the call may be sent
    cap_lowered: bool = False  # 429s had lowered the in-flight cap at the grant


@dataclass(frozen=True)
class Wait:
    """Not now: try again after ``seconds`` (> 0).

    Parameters:
        seconds: how long to wait.
        reason: ``"paused"``, ``"rate"``, ``"in_flight"``, ``"priority"`` (a high caller
            goes first) or ``"queue"`` (a confirmation lets waiting first calls go first);
            for a grant asked ahead only, ``"breaker"`` with ``seconds`` 0: the key's breaker
            is open, so nothing is taken and the caller's task asks the breaker itself.
    """

    seconds: float
    reason: str  # "paused" | "rate" | "in_flight" | "priority" | "queue" | "breaker"


def _text(value: Any) -> str:
    """A script reply as ``str``, whether the client decodes responses or not."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


class Limiter:
    """The rate, concurrency and pause limits of one scope, shared through Redis.

    Parameters:
        redis: the Redis of the shared state.
        scope: the key's opaque id (``worker.runtime.key_scope``), non-empty.
        rate_count: calls allowed per ``rate_period`` (>= 1).
        rate_period: the rate's period in seconds (> 0).
        max_in_flight: live leases allowed (>= 1), the in-flight cap before any 429.
        lease_seconds: how long a lease lives unless renewed: the longest call (> 0).
        skew: seconds added to the rate's window as a safety margin (>= 0).
        prefix: the prefix of the limiter's Redis keys.
        owner: this worker's id; leases are ``"<owner>|<id>"``.
        workers_key: the zset of worker heartbeats (``""``: no take-over of dead leases).
        dead_after: seconds after which an owner's heartbeat is dead (its leases dropped).
        breaker_key: the key's circuit breaker (``worker.limiter.breaker.breaker_key``): while
            it is open, no grant is taken ahead and no slot handed over (``""``: none).

    Raises:
        ValueError: ``scope`` is empty or a number is out of range.
    """

    def __init__(
        self,
        redis: redis.Redis,
        scope: str,
        *,
        rate_count: int,
        rate_period: float,
        max_in_flight: int,
        lease_seconds: float,
        skew: float = SKEW_SECONDS,
        prefix: str = "reload:",
        owner: str = "",
        workers_key: str = "",
        dead_after: float = 0.0,
        breaker_key: str = "",
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
        base = self.base = f"{prefix}limiter:{scope}"
        self.calls_key = f"{base}:calls"
        self.unanswered_key = f"{base}:unanswered"
        self.leases_key = f"{base}:leases"
        self.pause_key = f"{base}:pause"
        self.turns_key = f"{base}:turns"
        self.cap_key = f"{base}:cap"
        self.cap_ok_key = f"{base}:cap:ok"
        self.rate_limited_key = f"{base}:429s"
        self.high_key = f"{base}:high"
        self.high_turns_key = f"{base}:hturns"
        self.slots_key = f"{base}:slots"
        self.firsts_key = f"{base}:firsts"
        self.low_turns_key = f"{base}:lturns"
        self.breaker_key = breaker_key or f"{base}:no-breaker"  # never written
        self.streak_key = streak_key(self.breaker_key)
        # redis-py's Script runs EVALSHA and, on NOSCRIPT (e.g. after a Redis
        # restart or SCRIPT FLUSH), loads the script again and retries.
        self._acquire = redis.register_script(scripts.ACQUIRE)
        self._renew = redis.register_script(scripts.RENEW)
        self._pause = redis.register_script(scripts.PAUSE)
        self._in_flight = redis.register_script(scripts.IN_FLIGHT)
        self._started = redis.register_script(scripts.STARTED)
        self._release = redis.register_script(scripts.RELEASE)
        self._hand_free_slots = redis.register_script(scripts.HAND_FREE_SLOTS)
        # lease -> the grant of the call made under it, until release() or renew() says the
        # call was answered (dict operations are atomic: safe for a threads pool too).
        self._unanswered: dict[str, _Pending] = {}
        self._paused_for = redis.register_script(scripts.PAUSED_FOR)
        self._shrink = redis.register_script(scripts.SHRINK)
        self._grow = redis.register_script(scripts.GROW)

    def ahead_key(self, caller: str) -> str:
        """The key of the grant taken ahead for ``caller`` (``acquire(ahead=...)``)."""
        return f"{self.base}:ahead:{caller}"

    @property
    def ahead_seconds(self) -> float:
        """How long a grant taken ahead waits for its caller: half the window, at most 2 s.

        Less than the window: a grant is picked up (and counted from then) before it could
        leave the window uncalled, so the rate holds whatever the delay in between.
        """
        return min(self.window / 2, AHEAD_SECONDS)

    @property
    def window(self) -> float:
        """The sliding window the rate is enforced over: ``rate_period + skew``."""
        return self.rate_period + self.skew

    def acquire(
        self,
        *,
        hold: str | None = None,
        priority: str = "normal",
        caller: str = "",
        confirming: bool = False,
        ahead: float = 0.0,
    ) -> Go | Wait:
        """Take a rate slot and a concurrency lease, or say how long to wait.

        A caller with an id first picks up the grant taken ahead for it, if there is one
        (see ``ahead``): its lease, and its grant counted from now, or from the moment it
        was taken for if that is later (``Go.hold_back`` says how long to wait for it).

        Parameters:
            hold: a lease the caller already holds (a loading model that keeps its slot
                until warm): while it is live, only the rate applies and the same lease
                comes back, extended; once expired, this is a plain acquire.
            priority: ``"high"`` or ``"normal"``; while a high ``caller`` waits for its
                turn, no normal caller takes the grant it waits for.
            caller: the caller's id (a task id), needed for ``priority="high"``; a caller
                with an id told to wait for a slot joins the line of those ``release``
                names to wake (its wait is a backstop, see ``SLOT_WAIT_SECONDS``).
            confirming: the call confirms a reload the upstream has (normal priority only):
                it does not take a grant a first call waiting for the rate has its turn
                for, and waits in turns behind them (``"queue"``).
            ahead: > 0: take the grant for ``caller``'s next execution instead of a call
                made now (the pump does, before it publishes the caller's task); the caller's
                ``acquire`` picks it up within that many seconds, or its lease lapses (its
                grant stays in the window, uncalled). Such a grant may count from a moment
                up to ``AHEAD_LEAD_SECONDS`` from now, when the window has room then.

        Returns:
            ``Go`` with the lease, or ``Wait`` with the longest blocking wait and its reason.
        """
        lease = f"{self.owner}|{uuid.uuid4().hex}" if self.owner else uuid.uuid4().hex
        asked_at = time.monotonic()
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
                    self.slots_key,
                    self.firsts_key,
                    self.low_turns_key,
                    self.ahead_key(caller) if caller else self.calls_key,
                    self.breaker_key,
                    self.unanswered_key,
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
                    "low" if confirming and priority == "normal" else priority,
                    caller,
                    repr(SLOT_WAIT_SECONDS),
                    repr(ahead) if ahead > 0 else "",
                    repr(AHEAD_LEAD_SECONDS) if ahead > 0 else "",
                ],
            ),
        )
        if int(reply[0]) == 1:
            go = Go(
                lease=_text(reply[2]),
                at=float(_text(reply[1])),
                grant=_text(reply[3]),
                hold_back=float(_text(reply[4])),
                cap_lowered=int(reply[5]) == 1,
            )
            if ahead > 0:
                return go  # the caller's execution makes the call, and reports its answer
            if len(self._unanswered) >= _PENDING_ANSWERS:
                self._unanswered.clear()
            self._unanswered[go.lease] = _Pending(go.grant, go.at, asked_at)
            return go
        return Wait(seconds=float(_text(reply[1])), reason=_text(reply[2]))

    def started(self, grant: str) -> None:
        """Count the grant from now, when its request is really sent (see ``STARTED``), and
        keep it in the rate's window until ``release`` or ``renew`` reports its answer (or
        ``lease_seconds`` pass: its holder died), however long the answer takes.

        Parameters:
            grant: ``Go.grant``; ``""`` does nothing.
        """
        if grant:
            self._started(
                keys=[self.calls_key, self.unanswered_key],
                args=[grant, repr(self.window), repr(self.lease_seconds)],
            )

    def answered(self, lease: str) -> None:
        """Note that the call made under ``lease`` has its answer (or error) now.

        No Redis call: the moment is measured on the monotonic clock from just before the
        grant, so it is an upper bound, in Redis time, on when the request reached the
        upstream, however long the caller takes before ``release`` or ``renew`` report it.

        Parameters:
            lease: ``Go.lease``; a lease this limiter did not grant does nothing.
        """
        pending = self._unanswered.get(lease)
        if pending is not None and pending.answered_at is None:
            elapsed = (time.monotonic() - pending.asked_at) * _CLOCK_RATE_MARGIN
            pending.answered_at = pending.granted_at + elapsed

    def _answer_of(self, lease: str) -> tuple[str, str]:
        """The grant of the call made under ``lease`` and when it was answered ('': now)."""
        pending = self._unanswered.pop(lease, None)
        if pending is None:
            return "", ""
        answered_at = "" if pending.answered_at is None else f"{pending.answered_at:.6f}"
        return pending.grant, answered_at

    def release(self, lease: str, *, answered_ok: bool = False) -> str:
        """Free the lease's concurrency slot; releasing twice (or a gone lease) is harmless.

        The call made under the lease is over: its grant stays in the rate window and
        counts from its answer (``answered``; now if it was not noted), since its request
        reached the upstream before its answer came back. The freed slot goes to the first
        caller in line for one, as a grant taken ahead for it (if the rate allows), so that
        nobody else takes it before that caller comes.

        Parameters:
            lease: ``Go.lease``.
            answered_ok: the call was answered, not an error: the key's breaker's streak of
                failures alike ends in the same round trip (an open breaker is left to
                ``Breaker.succeeded``, which closes it and is logged).

        Returns:
            The caller to wake for the slot (the first in line, now out of it: its grant is
            taken ahead unless the rate or a pause forbade it), or ``""``.
        """
        grant, answered_at = self._answer_of(lease)
        reply = self._release(
            keys=[*self._hand_off_keys(), self.streak_key],
            args=[
                lease,
                grant,
                repr(self.window),
                answered_at,
                self.rate_count,
                self.max_in_flight,
                repr(self.ahead_seconds),
                self.owner,
                self.ahead_key(""),
                int(answered_ok),
            ],
        )
        return _text(cast("list[Any]", reply)[1])

    def _hand_off_keys(self) -> list[str]:
        """The keys a free slot is handed over with (RELEASE, HAND_FREE_SLOTS)."""
        return [
            self.leases_key,
            self.calls_key,
            self.slots_key,
            self.pause_key,
            self.cap_key,
            self.breaker_key,
            self.unanswered_key,
        ]

    def hand_free_slots(self) -> list[str]:
        """Hand every free slot to the first caller in line for one, as a grant taken ahead.

        For the slots no release handed over: a lease that expired (a dead holder, a grant
        taken ahead that nobody picked up), a wake that found its task busy. The pumps call
        it on every heartbeat.

        Returns:
            The callers handed a slot (to wake); each finds its grant taken ahead.
        """
        reply = self._hand_free_slots(
            keys=self._hand_off_keys(),
            args=[
                self.max_in_flight,
                self.rate_count,
                repr(self.window),
                repr(self.ahead_seconds),
                self.owner,
                self.ahead_key(""),
            ],
        )
        return [_text(caller) for caller in cast("list[Any]", reply)]

    def renew(self, lease: str, seconds: float, *, answered_ok: bool = False) -> bool:
        """Extend a live lease to expire at now + ``seconds`` (never earlier than it was).

        Like ``release``, it says that the call made under the lease was answered.

        Parameters:
            lease: ``Go.lease``.
            seconds: the new lifetime from now (> 0).
            answered_ok: as for ``release``.

        Returns:
            False if the lease is gone (expired or released): the slot may already belong
            to another worker.

        Raises:
            ValueError: ``seconds`` is not > 0.
        """
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        grant, answered_at = self._answer_of(lease)  # its call is answered: see release
        reply = self._renew(
            keys=[
                self.leases_key,
                self.calls_key,
                self.breaker_key,
                self.streak_key,
                self.unanswered_key,
            ],
            args=[
                lease,
                repr(float(seconds)),
                grant,
                repr(self.window),
                answered_at,
                int(answered_ok),
            ],
        )
        return int(cast("int", reply)) == 1

    def pause(self, seconds: float) -> float:
        """Pause the scope for every worker until now + ``seconds``.

        An existing later pause is kept (a pause is never shortened).

        Parameters:
            seconds: the pause from now (>= 0).

        Returns:
            The pause's end, in Redis time (seconds).

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        reply = self._pause(keys=[self.pause_key], args=[repr(float(seconds))])
        return float(_text(reply))

    def shrink(self) -> tuple[int, int]:
        """A 429 said the account's limit is lower than the cap: lower it for every worker.

        The cap goes one below the leases in use or the cap, whichever is smaller (never
        below 1); answers raise it again (``grow``).

        Returns:
            The new cap and the number of 429s in a row.
        """
        keys = [self.cap_key, self.cap_ok_key, self.leases_key, self.rate_limited_key]
        reply = self._shrink(keys=keys, args=[self.max_in_flight, CAP_MEMORY])
        return int(reply[0]), int(reply[1])

    def grow(self) -> int:
        """A call was answered without a 429: after as many as the cap, raise it by one.

        The cap never goes above ``max_in_flight``; the run of 429s is reset.

        Returns:
            The cap in force.
        """
        keys = [self.cap_key, self.cap_ok_key, self.rate_limited_key]
        return int(cast("int", self._grow(keys=keys, args=[self.max_in_flight, CAP_MEMORY])))

    def in_flight(self) -> int:
        """The number of live (unexpired) leases."""
        return int(cast("int", self._in_flight(keys=[self.leases_key])))

    def paused_for(self) -> float:
        """Seconds of pause left, 0.0 if none."""
        return float(_text(self._paused_for(keys=[self.pause_key])))
