"""The upstream's answers as the peers read them: one reading, shared by both peers.

``read_answer`` returns ``("success", None)`` or ``("processing", eta)``, or raises
``Permanent`` (400/401/402/403/404), ``RateLimited`` (429, with its ``retry_after``)
or ``Transient`` (5xx, a bad body, an HTTP-200 error).
"""

from __future__ import annotations

import httpx

__all__ = ["MAX_RETRIES", "Permanent", "RateLimited", "Transient", "number", "read_answer"]

PERMANENT = {400, 401, 402, 403, 404}
MAX_RETRIES = 8


class Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RateLimited(Transient):
    """A 429: ``retry_after`` is the pause every call must take (1 s if none was given)."""


class Permanent(Exception):
    pass


def number(value: object) -> float | None:
    """A non-negative number, or None."""
    try:
        parsed = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return parsed if parsed >= 0 else None


def read_answer(response: httpx.Response) -> tuple[str, float | None]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 429:
        after = number(body.get("retry_after")) if isinstance(body, dict) else None
        after = after if after is not None else number(response.headers.get("retry-after"))
        raise RateLimited("429", after or 1.0)
    if response.status_code in PERMANENT:
        raise Permanent(str(response.status_code))
    if response.status_code >= 300 or not isinstance(body, dict):
        raise Transient(f"HTTP {response.status_code}")
    status = body.get("status")
    if status == "success":
        return "success", None
    if status == "processing":
        return "processing", number(body.get("eta"))
    raise Transient(f"status {status!r}")
