"""Reloading one model: the state machine behind ``reload_model``.

``Reloader.advance()`` runs each time a ``reload_model`` task does: it attaches the task to
the model's flight (``worker.reload.flight``) and, when the flight's next action is due and
no other task is taking it, takes one step (the steps are drawn on ``Reloader``). It returns
``Later`` (the task parks itself in Redis that long) or ``Final`` (the outcome).
Why: docs/decisions/0001-waits-are-parked-in-redis.md, 0003-one-clock.md, docs/design.md
rules 2 to 4.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from worker.constants import BUSY_RETRY_SECONDS
from worker.limiter import Go, Limiter, Wait
from worker.limiter.breaker import Breaker
from worker.monitoring import Monitor, record
from worker.reload import backoff
from worker.reload.admission import Needs
from worker.reload.flight import FlightStore, Outcome
from worker.settings import Settings
from worker.upstream import (
    Accepted,
    Forbidden,
    InvalidKey,
    Loading,
    NoCredits,
    PermanentError,
    RateLimited,
    TransientError,
    UpstreamClient,
    UpstreamError,
)

__all__ = ["ACCOUNT_ERRORS", "Final", "Later", "Reloader", "Stage"]

logger = logging.getLogger(__name__)

# Permanent errors that are the key's, not a model's: they stop the key at once.
ACCOUNT_ERRORS = (InvalidKey, NoCredits, Forbidden)

Stage = Literal["waiting", "reloading"]


@dataclass(frozen=True)
class Later:
    """Come back in ``seconds`` (the flight's next step); ``reason`` is shown in Flower as
    the retry's cause; ``needs``: what that step will ask of the limiter, so that the pump
    asks for it before it publishes the task (``None``: the task goes when due)."""

    seconds: float
    reason: str
    stage: Stage
    needs: Needs | None = None


@dataclass(frozen=True)
class Final:
    """The flight is over: the task returns ``outcome``."""

    outcome: Outcome
    how: str  # "created", "joined", "attached" or "fresh": how the task found its flight


class Reloader:
    """Advances flights; one per worker process, shared by its tasks.

    One step of a flight, taken when it is due::

        acquire the limiter ── Wait ──────────────▶ later (limiter's delay)
              │ Go
              ▼
        call the upstream ─── Accepted (first) ──▶ later (RELOAD_WARM_SECONDS), or
              │                                    warm after it, no call (timer policy)
              ├── Accepted after Accepted/Loading ▶ warm
              ├── Loading(eta) ──────────────────▶ later (eta, clamped, or growing)
              ├── RateLimited ───────────────────▶ pause the key; later (retry_after)
              ├── other transient ───────────────▶ later (backoff), failed past the budget
              └── permanent ─────────────────────▶ failed with the upstream's reason
        past RELOAD_DEADLINE_SECONDS ────────────▶ failed "deadline exceeded"

    Waiting for a load never spends the error budget, and neither do 429s: they pause
    the whole key, and the deadline bounds them.
    """

    def __init__(
        self,
        settings: Settings,
        flights: FlightStore,
        limiter: Limiter,
        upstream: UpstreamClient,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        breaker: Breaker | None = None,
        on_key_stopped: Callable[[], None] = lambda: None,
        on_slot_freed: Callable[[str], None] = lambda task_id: None,
        monitor: Monitor | None = None,
    ) -> None:
        """``breaker``: the key's circuit breaker (none: every model on its own);
        ``on_key_stopped`` is called when it opens for a permanent error (a bad key), so
        that the key's waiting models wake and fail at once; ``on_slot_freed(task_id)``
        wakes the task the limiter names when a release frees a slot it waits for;
        ``monitor`` counts each upstream answer by kind (``worker.monitoring``; none: not
        counted)."""
        self.settings = settings
        self.flights = flights
        self.limiter = limiter
        self.upstream = upstream
        self.clock = clock
        self.rng = rng or random.Random()
        self.breaker = breaker
        self.on_key_stopped = on_key_stopped
        self.on_slot_freed = on_slot_freed
        self.monitor = monitor

    def advance(self, model_id: str, task_id: str, *, priority: str = "normal") -> Final | Later:
        """Attach the task to the model's flight and take its next step if it is due.

        Parameters:
            model_id: the model to reload.
            task_id: the calling task's id, attached to the flight.
            priority: ``"high"`` goes first in the limiter (the account's limits still hold).

        Returns:
            ``Final`` when the flight has an outcome, else ``Later`` (when to run again).
        """
        now = self.clock()
        attachment = self.flights.attach(
            model_id,
            task_id,
            new_id=uuid.uuid4().hex,
            now=now,
            deadline=now + self.settings.deadline_seconds,
            lock_if_due=True,
        )
        if attachment.fresh is not None:  # confirmed warm moments ago: no call needed
            return Final(replace(attachment.fresh, upstream_calls=0, finished_at=now), "fresh")
        flight = attachment.flight
        if flight is None:  # the flight ended (its outcome is stored) or was lost
            outcome = self.flights.outcome(attachment.flight_id)
            if outcome is not None:
                return Final(outcome, attachment.how)
            return self._lost(model_id, task_id)
        if not attachment.locked:  # ATTACH takes the lock exactly when the step is due
            due_in = float(flight["next_at"]) - now
            if due_in > 0:
                reason = flight["reason"] or "waiting for its next step"
                return self._later(due_in, reason, flight)
            reason = "another task is advancing this model"
            return self._later(BUSY_RETRY_SECONDS, reason, flight)
        try:
            return self._step(flight, model_id, task_id, attachment.how, priority)
        finally:
            self.flights.unlock(model_id, task_id)

    def _lost(self, model_id: str, task_id: str) -> Later:
        """The flight vanished without an outcome (its TTL ran out, or Redis lost it):
        start a new one on the next run rather than wait forever."""
        self.flights.detach(task_id, model_id)
        return Later(0.0, "flight lost; starting a new one", "waiting", Needs())

    def _later(
        self, seconds: float, reason: str, flight: dict[str, str], *, admitted: bool = True
    ) -> Later:
        """Come back in ``seconds``; ``admitted``: the pump takes the limiter's grant for the
        next step first (never for a step that makes no call: the timer policy's end)."""
        needs = None
        if admitted and flight.get("timer") != "1":
            hold = flight.get("lease", "") if self.settings.loading_holds_slot else ""
            needs = Needs(confirming=_upstream_has_it(flight), hold=hold)
        return Later(seconds, reason, _stage(flight), needs)

    def _step(
        self, flight: dict[str, str], model_id: str, task_id: str, how: str, priority: str
    ) -> Final | Later:
        """One step of the flight, whose fields were read under its step lock."""
        now = self.clock()
        calls = int(flight["calls"])
        if now >= float(flight["deadline"]):
            last = f" (last: {flight['reason']})" if flight["reason"] else ""
            return self._finish(flight, model_id, "failed", f"deadline exceeded{last}", calls, how)
        if flight["timer"] == "1":
            return self._finish(flight, model_id, "warm", None, calls, how)

        breaker_clean = True  # no failure counted, so no open breaker for its answer to close
        if self.breaker is not None:
            verdict = self.breaker.check(task_id)
            breaker_clean = verdict.clean
            if verdict.action == "fail":
                return self._finish(flight, model_id, "failed", verdict.reason, calls, how)
            if verdict.action == "wait":
                # The breaker decides when the next call may go, not the limiter: the task is
                # published when due and asks the breaker again.
                delay = backoff.limiter_delay(verdict.seconds, self.rng)
                reason = f"key paused by the circuit breaker after: {verdict.reason}"
                return self._schedule(flight, model_id, now, delay, reason, admitted=False)

        held = flight.get("lease") or None if self.settings.loading_holds_slot else None
        decision = self.limiter.acquire(
            hold=held, priority=priority, caller=task_id, confirming=_upstream_has_it(flight)
        )
        if isinstance(decision, Wait):
            # The flight's step stays due (its next_at is not moved): the task may be woken
            # early, by the release that frees its slot or by a stopped key, and goes on.
            # The wait is the limiter's turn for this task, to the moment: the pump asks for
            # the grant then (Later.needs), so no jitter is added.
            delay = min(decision.seconds, max(0.0, float(flight["deadline"]) - now))
            reason = f"limiter: {decision.reason}"
            if flight["reason"] != reason:  # kept for a deadline's message; once per change
                self.flights.update(model_id, reason=reason)
            return self._later(delay, reason, flight)

        send_at = time.monotonic() + decision.hold_back
        calls = self.flights.count_call(model_id)
        flight = {**flight, "calls": str(calls)}
        if (early := send_at - time.monotonic()) > 0:
            time.sleep(early)  # a grant taken ahead, picked up before the moment it counts from
        try:
            result, answered = self._call(
                flight, model_id, now, calls, how, decision, task_id, breaker_clean
            )
        except BaseException:
            self._release(decision.lease)  # a bug or a lost Redis must not keep the slot
            raise
        loading = answered or _upstream_has_it(flight)
        if self.settings.loading_holds_slot and loading and isinstance(result, Later):
            # The upstream counts a loading model against the account's queue: keep its
            # slot until the next check (and the call it makes) is over.
            seconds = result.seconds + self.settings.call_seconds
            self.limiter.renew(decision.lease, seconds, answered_ok=answered)
            self.flights.update(model_id, lease=decision.lease)
            if result.needs is not None:
                result = replace(result, needs=replace(result.needs, hold=decision.lease))
        else:
            self._release(decision.lease, answered_ok=answered)
        return result

    def _release(self, lease: str, *, answered_ok: bool = False) -> None:
        """Free the lease's slot and wake the task first in line for one (if any); an answered
        call ends the breaker's streak of failures in the same round trip."""
        waiter = self.limiter.release(lease, answered_ok=answered_ok)
        if waiter:
            try:
                self.on_slot_freed(waiter)
            except Exception:  # it wakes at its backstop instead (SLOT_WAIT_SECONDS)
                logger.warning("could not wake %s for a freed slot", waiter, exc_info=True)

    def _call(
        self,
        flight: dict[str, str],
        model_id: str,
        now: float,
        calls: int,
        how: str,
        go: Go,
        task_id: str,
        breaker_clean: bool,
    ) -> tuple[Final | Later, bool]:
        """Make the call and decide; the flag says whether the upstream accepted or is loading.

        An answer raises a cap lowered by 429s and closes an open breaker; each is skipped
        when there was nothing to raise (``Go.cap_lowered``) or no failure counted
        (``Verdict.clean``) as the call was granted: two Redis round trips saved per call.
        Any answer also ends the breaker's streak of failures, in the release or renewal of
        the call's slot that follows (``_step``): no round trip of its own.
        """
        try:
            answer = self._ask(go, model_id)
        except PermanentError as exc:
            self._count("permanent", now)
            if isinstance(exc, ACCOUNT_ERRORS):
                self._key_failed(exc, model_id, task_id, permanent=True)
            return self._finish(flight, model_id, "failed", exc.reason, calls, how), False
        except RateLimited as exc:
            self._count("rate_limited", now)
            _, streak = self.limiter.shrink()
            # Without retry_after, each 429 in a row pauses the key twice as long (capped).
            pause = exc.retry_after or backoff.rate_limited_pause(
                streak,
                base=self.settings.backoff_base_seconds,
                cap=self.settings.backoff_max_seconds,
            )
            self.limiter.pause(pause)
            delay = backoff.error_delay(
                1,
                base=self.settings.backoff_base_seconds,
                cap=self.settings.backoff_max_seconds,
                retry_after=pause,
                rng=self.rng,
            )
            reason = f"rate limited: {exc.reason}"
            return self._schedule(flight, model_id, now, delay, reason), False
        except TransientError as exc:
            self._count("transient", now)
            self._key_failed(exc, model_id, task_id, permanent=False)
            errors = int(flight["errors"]) + 1
            if errors > self.settings.max_retries:
                reason = f"gave up after {errors} failed attempts: {exc.reason}"
                return self._finish(flight, model_id, "failed", reason, calls, how), False
            delay = backoff.error_delay(
                errors,
                base=self.settings.backoff_base_seconds,
                cap=self.settings.backoff_max_seconds,
                retry_after=exc.retry_after,
                rng=self.rng,
            )
            if exc.retry_after is not None:
                self.limiter.pause(exc.retry_after)
            reason = f"error {errors}/{self.settings.max_retries}: {exc.reason}"
            return self._schedule(flight, model_id, now, delay, reason, errors=errors), False
        self._count(_answer_kind(answer, flight), now)
        if go.cap_lowered:
            self.limiter.grow()
        if not breaker_clean and self.breaker is not None and self.breaker.succeeded():
            logger.warning("circuit breaker closed: the upstream answered %s", model_id)
        return self._on_answer(flight, model_id, now, answer, calls, how), True

    def _ask(self, go: Go, model_id: str) -> Accepted | Loading:
        """The upstream call granted by ``go``; the moment its answer (or error) came is noted
        at once, and the rate counts the call from it (``Limiter.answered``)."""
        self.limiter.started(go.grant)
        try:
            return self.upstream.reload(model_id)
        finally:
            self.limiter.answered(go.lease)

    def _count(self, answer: str, now: float) -> None:
        monitor = self.monitor
        if monitor is not None:
            record(f"a {answer} answer", lambda: monitor.answered(answer, now=now))

    def _key_failed(
        self, exc: UpstreamError, model_id: str, task_id: str, *, permanent: bool
    ) -> None:
        """Tell the breaker; if it opens for a permanent error, wake the key's waiters."""
        if self.breaker is None:
            return
        signature = f"{type(exc).__name__}:{exc.http_status}:{exc.reason.replace(model_id, '*')}"
        what, seconds = self.breaker.failed(
            model_id=model_id,
            caller=task_id,
            signature=signature,
            reason=exc.reason,
            permanent=permanent,
            account=permanent,
        )
        if what in ("opened", "reopened"):
            logger.warning(
                "circuit breaker %s for %.0f s (%s error for the key): %s",
                what,
                seconds,
                "permanent" if permanent else "transient",
                exc.reason,
            )
            if permanent:
                self.on_key_stopped()

    def _on_answer(
        self,
        flight: dict[str, str],
        model_id: str,
        now: float,
        answer: Accepted | Loading,
        calls: int,
        how: str,
    ) -> Final | Later:
        warm_seconds = self.settings.warm_seconds
        if isinstance(answer, Loading):
            polls = int(flight["polls"]) + 1
            overdue = flight["accepted"] == "1"  # checked at its expected end: still loading
            delay = backoff.poll_delay(
                answer.eta, polls, warm_seconds=warm_seconds, overdue=overdue
            )
            eta = "" if answer.eta is None else f", eta {answer.eta:g}s"
            return self._schedule(
                flight, model_id, now, delay, f"loading{eta}", polls=polls, loading_seen=1, errors=0
            )
        if _upstream_has_it(flight):
            return self._finish(flight, model_id, "warm", None, calls, how)
        if answer.ready:  # "already loaded": confirm in seconds, not after a reload time
            if self.settings.warm_policy == "timer":
                return self._finish(flight, model_id, "warm", None, calls, how)
            delay = backoff.after_ready(warm_seconds)
            reason = "already loaded; confirming"
            return self._schedule(flight, model_id, now, delay, reason, accepted=1, errors=0)
        delay = backoff.after_accept(warm_seconds)
        if self.settings.warm_policy == "timer":
            return self._schedule(
                flight, model_id, now, delay, "accepted; warm when the timer ends",
                accepted=1, timer=1, errors=0,
            )  # fmt: skip
        return self._schedule(
            flight, model_id, now, delay, "accepted; confirming", accepted=1, errors=0
        )

    def _schedule(
        self,
        flight: dict[str, str],
        model_id: str,
        now: float,
        delay: float,
        reason: str,
        *,
        admitted: bool = True,
        **fields: int,
    ) -> Later:
        next_at = min(now + delay, float(flight["deadline"]))
        self.flights.update(model_id, next_at=repr(next_at), reason=reason, **fields)
        flight = {**flight, **{k: str(v) for k, v in fields.items()}}
        return self._later(next_at - now, reason, flight, admitted=admitted)

    def _finish(
        self,
        flight: dict[str, str],
        model_id: str,
        state: Literal["warm", "failed"],
        reason: str | None,
        calls: int,
        how: str,
    ) -> Final:
        outcome = Outcome(
            model_id=model_id,
            state=state,
            reason=reason,
            upstream_calls=calls,
            flight_id=flight["id"],
            finished_at=self.clock(),
        )
        self.flights.finish(outcome, fresh_seconds=self.settings.fresh_seconds)
        if flight.get("lease"):  # a slot kept while the model loaded (RELOAD_LOADING_HOLDS_SLOT)
            self._release(flight["lease"])
        return Final(outcome, how)


def _answer_kind(answer: Accepted | Loading, flight: dict[str, str]) -> str:
    """How a successful answer counts (``worker.monitoring.ANSWERS``): ``warm`` when it
    confirms a reload (or says the model is loaded already), else accepted or loading."""
    if isinstance(answer, Loading):
        return "loading"
    if answer.ready or _upstream_has_it(flight):
        return "warm"
    return "accepted"


def _upstream_has_it(flight: dict[str, str]) -> bool:
    """Whether the upstream already accepted this flight's reload or reported it loading:
    its next answer confirms the model warm, and it counts against the account's queue."""
    return flight["accepted"] == "1" or flight["loading_seen"] == "1"


def _stage(flight: dict[str, str]) -> Stage:
    return "reloading" if int(flight.get("calls", "0")) > 0 else "waiting"
