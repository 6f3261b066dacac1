"""The account's limiter and circuit breaker, live: read with their own keys.

The dashboard has no API key: it finds each key scope (an opaque hash) and its
limits in what the workers published (``worker.monitoring.Monitor.accounts``),
then reads the limiter's and the breaker's keys as ``worker.limiter`` names
them (``Limiter``'s key attributes), at one Redis time. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.dashboard.sources import Sources
from worker.limiter import Limiter
from worker.limiter.breaker import breaker_key
from worker.monitoring import RATE_LIMITED_WINDOW_SECONDS, Account

__all__ = ["AccountView", "account_views"]


@dataclass(frozen=True)
class AccountView:
    """One key scope's limiter and breaker, live, as the dashboard shows them."""

    scope: str
    calls_in_window: int
    rate_count: int
    window: float
    in_flight: int
    cap: int  # the in-flight cap in force (lowered by 429s, up to max_in_flight)
    max_in_flight: int
    paused_for: float
    rate_limited_last_minute: int
    breaker: str  # closed | open | half-open
    breaker_kind: str  # permanent | transient ('' when closed)
    breaker_reason: str
    breaker_probe_in: float

    @property
    def breaker_open(self) -> bool:
        """Whether the breaker is open or half-open."""
        return self.breaker != "closed"

    def to_json(self) -> dict[str, Any]:
        """The view as JSON-ready data (``/api/overview``)."""
        return {
            "scope": self.scope,
            "calls_in_window": self.calls_in_window,
            "rate_count": self.rate_count,
            "window": self.window,
            "in_flight": self.in_flight,
            "cap": self.cap,
            "max_in_flight": self.max_in_flight,
            "paused_for": round(self.paused_for, 3),
            "rate_limited_last_minute": self.rate_limited_last_minute,
            "breaker": self.breaker,
            "breaker_kind": self.breaker_kind,
            "breaker_reason": self.breaker_reason,
            "breaker_probe_in": round(self.breaker_probe_in, 3),
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def account_view(sources: Sources, account: Account, *, now: float) -> AccountView:
    """Read one key scope's limiter and breaker from Redis.

    Parameters:
        sources: what the dashboard reads.
        account: the limits the workers published for the scope.
        now: the Redis clock's time.
    """
    client = sources.client
    limiter = Limiter(
        client,
        account.scope,
        rate_count=account.rate_count,
        rate_period=account.rate_period,
        max_in_flight=account.max_in_flight,
        lease_seconds=1.0,  # unused: the dashboard never acquires
    )
    raw = {_text(k): _text(v) for k, v in client.hgetall(breaker_key(account.scope)).items()}
    probe_in = max(0.0, float(raw.get("until") or 0.0) - now)
    state = "closed"
    if raw.get("state") == "open":
        state = "open" if probe_in > 0 else "half-open"
    lowered = client.get(limiter.cap_key)
    pause_end = float(_text(client.get(limiter.pause_key) or 0.0))
    return AccountView(
        scope=account.scope,
        calls_in_window=int(client.zcount(limiter.calls_key, f"({now - account.window!r}", "+inf")),
        rate_count=account.rate_count,
        window=account.window,
        in_flight=int(client.zcount(limiter.leases_key, f"({now!r}", "+inf")),
        cap=min(account.max_in_flight, int(lowered)) if lowered else account.max_in_flight,
        max_in_flight=account.max_in_flight,
        paused_for=max(0.0, pause_end - now),
        rate_limited_last_minute=sources.monitor.rate_limited_since(
            now - RATE_LIMITED_WINDOW_SECONDS
        ),
        breaker=state,
        breaker_kind=raw.get("kind", "") if state != "closed" else "",
        breaker_reason=raw.get("reason", "") if state != "closed" else "",
        breaker_probe_in=probe_in if state != "closed" else 0.0,
    )


def account_views(sources: Sources, *, now: float) -> list[AccountView]:
    """Every key scope the workers published, live.

    Parameters:
        sources: what the dashboard reads.
        now: the Redis clock's time.
    """
    return [account_view(sources, account, now=now) for account in sources.monitor.accounts()]
