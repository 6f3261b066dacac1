"""The account's circuit breaker: an error that is the key's, not a model's, stops the key once.

``Breaker.check()`` before a call answers go, probe, wait or fail; ``failed()`` and
``succeeded()`` after it move the breaker (closed, open, half-open), whose state is in
Redis so every worker sees it at once (scripts ``BREAKER_*`` in :mod:`worker.limiter.scripts`).
Every answered call also ends a streak of failures, in the limiter's round trip that follows
each call (``Limiter.release``, ``renew``), so that only failures with no answer between them
count "in a row".

Why: docs/decisions/0008-the-account-breaker.md
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import redis

from worker.limiter import scripts

__all__ = ["Breaker", "Verdict", "breaker_key", "streak_key"]

# Different models failing alike, in a row, that open the breaker.
THRESHOLD = 3
# Open intervals: transient errors from 5 s doubling to 5 minutes; permanent ones
# (a bad key, no credits) from 60 s doubling to an hour, between probes.
TRANSIENT_OPEN = (5.0, 300.0)
PERMANENT_OPEN = (60.0, 3600.0)


def breaker_key(scope: str, prefix: str = "reload:") -> str:
    """The Redis hash of the key's breaker (the limiter reads whether it is open)."""
    return f"{prefix}breaker:{scope}"


def streak_key(key: str) -> str:
    """The set of models that failed alike in a row, beside the breaker's hash ``key``.

    The limiter ends the streak when a call is answered (``Limiter.release``, ``renew``).
    """
    return f"{key}:streak"


@dataclass(frozen=True)
class Verdict:
    """The breaker's answer to one caller.

    Parameters:
        action: ``go`` (closed), ``probe`` (half-open: this call is the one probe),
            ``wait`` or ``fail`` (open).
        seconds: for ``wait`` and ``fail``, the time until the next probe may go.
        reason: the error that opened the breaker (for ``probe``, ``wait``, ``fail``).
        clean: for ``go``, no failure was counted since the last success, so ``succeeded``
            (which closes an open breaker) is skipped for this call's answer: a breaker that
            opens while it is out is closed by the answer of a call checked after the first
            failure, or by its probe. Any answer ends a streak still counting, in the
            limiter's round trip after the call (``Limiter.release``, ``renew``).
    """

    action: Literal["go", "probe", "wait", "fail"]
    seconds: float = 0.0
    reason: str = ""
    clean: bool = False


class Breaker:
    """One key's breaker, shared through Redis.

    Parameters:
        client: the Redis of the shared state.
        scope: the key's opaque id (``worker.runtime.key_scope``), as the limiter's.
        probe_seconds: how long one probe call may take before another may go (the longest
            call).
        prefix: the prefix of the breaker's Redis keys.
    """

    def __init__(
        self, client: redis.Redis, scope: str, *, probe_seconds: float, prefix: str = "reload:"
    ) -> None:
        key = breaker_key(scope, prefix)
        self.keys = [key, streak_key(key)]
        self.probe_seconds = probe_seconds
        self._check = client.register_script(scripts.BREAKER_CHECK)
        self._failed = client.register_script(scripts.BREAKER_FAILED)
        self._succeeded = client.register_script(scripts.BREAKER_SUCCEEDED)

    def check(self, caller: str) -> Verdict:
        """May ``caller`` call the upstream now?

        Parameters:
            caller: the caller's id (its task id), so a probe is handed to one caller only.

        Returns:
            The ``Verdict``.
        """
        reply = self._check(keys=self.keys, args=[caller, repr(self.probe_seconds)])
        action = _text(reply[0])
        if action == "go":
            return Verdict("go", clean=int(reply[1]) == 0)
        if action == "probe":
            return Verdict("probe", reason=_text(reply[1]))
        return Verdict(action, float(_text(reply[1])), _text(reply[2]))  # type: ignore[arg-type]

    def failed(
        self,
        *,
        model_id: str,
        caller: str,
        signature: str,
        reason: str,
        permanent: bool,
        account: bool,
    ) -> tuple[str, float]:
        """Count a failed call.

        Parameters:
            model_id: the model the call was for.
            caller: the caller's id, as given to ``check``.
            signature: which failures are "the same error" (the model id left out).
            reason: the upstream's reason, told to the models the breaker fails or holds.
            permanent: the error is permanent (the longer open intervals, models fail).
            account: the error is the key's by its nature (it opens the breaker at once).

        Returns:
            What happened: ``("opened" | "reopened", seconds open)``, ``("closed", streak)``
            or ``("open", 0)``.
        """
        first, cap = PERMANENT_OPEN if permanent else TRANSIENT_OPEN
        args: list[Any] = [
            model_id,
            caller,
            signature,
            reason,
            "permanent" if permanent else "transient",
            int(account),
            THRESHOLD,
            repr(first),
            repr(cap),
        ]
        reply = self._failed(keys=self.keys, args=args)
        return _text(reply[0]), float(_text(reply[1]))

    def succeeded(self) -> bool:
        """A call was answered: close the breaker.

        Returns:
            True if it was open.
        """
        return int(self._succeeded(keys=self.keys)) == 1


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
