"""The account's circuit breaker: an error that is the key's, not a model's, stops the key once.

Like pybreaker and resilience4j, with the state in Redis so that every worker
sees it at once (scripts ``BREAKER_*`` in :mod:`worker.limiter.scripts`):

    closed ──(a bad key / no credits, or the same error for THRESHOLD different
      ▲       models in a row with no success between)──▶ open
      │                                                    │ after the open interval
      └────── the probe is answered ◀── half-open: one probe call ◀┘
                                             │ the probe fails
                                             ▼ open again, twice as long (capped)

While open for a *permanent* error (a bad key, no credits, a plan restriction),
every model of the key fails at once with the upstream's reason; for a
*transient* one (the same 5xx, timeout or bad body everywhere), models wait
without spending their error budget. Model-level errors (an unknown model, a bad
request) never open it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import redis

from worker.limiter import scripts

__all__ = ["Breaker", "Verdict"]

# Different models failing alike, in a row, that open the breaker.
THRESHOLD = 3
# Open intervals: transient errors from 5 s doubling to 5 minutes; permanent ones
# (a bad key, no credits) from 60 s doubling to an hour, between probes.
TRANSIENT_OPEN = (5.0, 300.0)
PERMANENT_OPEN = (60.0, 3600.0)


@dataclass(frozen=True)
class Verdict:
    """``go`` (closed), ``probe`` (half-open: this call is the one probe), ``wait`` or
    ``fail`` (open; ``seconds`` until the next probe may go, ``reason`` the error)."""

    action: Literal["go", "probe", "wait", "fail"]
    seconds: float = 0.0
    reason: str = ""


class Breaker:
    """One key's breaker, shared through Redis.

    Parameters
    ----------
    client:
        The Redis of the shared state.
    scope:
        The key's opaque id (``worker.runtime.key_scope``), as the limiter's.
    probe_seconds:
        How long one probe call may take before another may go (the longest call).
    """

    def __init__(
        self, client: redis.Redis, scope: str, *, probe_seconds: float, prefix: str = "reload:"
    ) -> None:
        self.keys = [f"{prefix}breaker:{scope}", f"{prefix}breaker:{scope}:streak"]
        self.probe_seconds = probe_seconds
        self._check = client.register_script(scripts.BREAKER_CHECK)
        self._failed = client.register_script(scripts.BREAKER_FAILED)
        self._succeeded = client.register_script(scripts.BREAKER_SUCCEEDED)

    def check(self, caller: str) -> Verdict:
        """May ``caller`` call the upstream now? See ``Verdict``."""
        reply = self._check(keys=self.keys, args=[caller, repr(self.probe_seconds)])
        action = _text(reply[0])
        if action == "go":
            return Verdict("go")
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
        """Count a failed call; returns what happened: ``("opened" | "reopened", seconds)``,
        ``("closed", streak)`` or ``("open", 0)``.

        ``signature`` says which failures are "the same error" (the model id left out);
        ``account``: the error is the key's by its nature (it opens the breaker at once).
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
        """A call was answered: close the breaker; True if it was open."""
        return int(self._succeeded(keys=self.keys)) == 1


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
