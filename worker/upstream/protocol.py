"""Reading the upstream's answers: one `httpx.Response` in, an outcome or an exception out.

Pure functions, no I/O; the rules are docs/upstream.md's. An error HTTP status decides the
class; on a 2xx the body's `status` does ("error" is an error answer, never a success). The
message (`message`, else the legacy `messege`) is read for meaning only through the hint
table (`worker.upstream.hints`). `retry_after` is the larger valid value of the body's field
and the `Retry-After` header (seconds or an HTTP date).
"""

from __future__ import annotations

import email.utils
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from worker.upstream.errors import (
    BadRequest,
    BadResponse,
    Forbidden,
    InvalidKey,
    ModelNotFound,
    NoCredits,
    RateLimited,
    ServerError,
    UpstreamError,
    UpstreamTimeout,
)
from worker.upstream.hints import ERROR_KINDS, Hints

MAX_REASON_CHARS = 300
MAX_SECONDS = 3600.0
REDACTED = "***"

_PERMANENT_BY_STATUS: dict[int, type[UpstreamError]] = {
    400: BadRequest,
    401: InvalidKey,
    402: NoCredits,
    403: Forbidden,
    404: ModelNotFound,
}
_PERMANENT_BY_HINT: dict[str, type[UpstreamError]] = {
    "invalid": BadRequest,
    "key": InvalidKey,
    "credits": NoCredits,
    "plan": Forbidden,
    "model": ModelNotFound,
}
_HINTS = Hints.build()
_READY = frozenset({"ready"})
# 4xx statuses that say "not now" rather than "never".
_TRANSIENT_4XX = frozenset({408, 409, 425, 429})
_MAX_RENDER_DEPTH = 4
_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class Accepted:
    """The upstream answered "success": a reload started, or the model was already loaded.

    Parameters:
        message: the upstream's message, sanitized.
        eta: the seconds the upstream expects the load to take, if it said.
        ready: the message says the model is already loaded (a hint: confirm it soon).
    """

    message: str
    eta: float | None = None
    ready: bool = False


@dataclass(frozen=True)
class Loading:
    """The upstream answered "processing": the model is being loaded.

    Parameters:
        message: the upstream's message, sanitized.
        eta: the seconds the upstream expects the load to take, if it said.
    """

    message: str
    eta: float | None = None


def sanitize(text: str, secret: str, limit: int = MAX_REASON_CHARS) -> str:
    """Redact `secret`, fold whitespace (no log injection), and clip to `limit` characters.

    Parameters:
        text: any text bound for a log or a reason.
        secret: the API key to redact (`""`: nothing to redact).
        limit: the longest result, in characters, an ellipsis included.
    """
    if secret:
        text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


def format_seconds(seconds: float) -> str:
    """Seconds as a short text for a reason: ``30s``, ``0.5s``."""
    return f"{seconds:g}s"


def interpret(response: httpx.Response, secret: str, hints: Hints = _HINTS) -> Accepted | Loading:
    """Turn a response into `Accepted` or `Loading`, or raise an `UpstreamError` subclass.

    Parameters:
        response: the reload call's response, body read.
        secret: the API key, redacted from every reason.
        hints: the message-hint table (`worker.upstream.hints`).

    Returns:
        `Accepted` for "success", `Loading` for "processing".

    Raises:
        TransientError: a subclass, for a 429, 5xx, 408, 409, 425, an unreadable answer or
            an "error" on a 2xx.
        PermanentError: a subclass, for another 4xx or an error answer with an error hint.
    """
    code = response.status_code
    body, problem = _decode(response)
    retry_after = _retry_after(body, response.headers)
    if not 200 <= code < 300:
        if code >= 400:
            message = _message(body) or problem
            raise _error_answer(code, message, retry_after, secret, hints)
        location = response.headers.get("location")
        detail = "unexpected HTTP status" + (f" (Location: {location})" if location else "")
        raise BadResponse(_reason(code, detail, secret), http_status=code, retry_after=retry_after)
    if body is None:
        raise BadResponse(_reason(code, problem, secret), http_status=code, retry_after=retry_after)

    message = sanitize(_message(body), secret)
    raw_status = body.get("status")
    status = raw_status.strip().lower() if isinstance(raw_status, str) else raw_status
    if status == "success":
        ready = hints.kind(message, among=_READY) is not None
        return Accepted(message, _seconds(body.get("eta")), ready=ready)
    if status == "processing":
        return Loading(message, _seconds(body.get("eta")))
    if status == "error":
        raise _error_answer(code, message, retry_after, secret, hints)
    detail = "no status in body" if status is None else f"unexpected status {raw_status!r}"
    if message:
        detail = f"{detail}: {message}"
    raise BadResponse(_reason(code, detail, secret), http_status=code, retry_after=retry_after)


def _error_answer(
    code: int, message: str, retry_after: float | None, secret: str, hints: Hints
) -> UpstreamError:
    """Classify an error answer: an error HTTP status, or `"status": "error"` with a 2xx.

    A permanent 4xx keeps the class of its status; any other error answer whose message
    carries an error hint (a bad key, no credits, ...) is permanent like its 4xx twin.
    """
    detail = message or _default_detail(code)
    if 400 <= code < 500 and code not in _TRANSIENT_4XX:
        permanent = _PERMANENT_BY_STATUS.get(code, BadRequest)
        return permanent(_reason(code, detail, secret), http_status=code)
    kind = hints.kind(message, among=ERROR_KINDS) if message else None
    if kind is not None and code != 429:
        return _PERMANENT_BY_HINT[kind](_reason(code, detail, secret), http_status=code)
    reason = _reason(code, detail, secret, retry_after)
    if code == 429 or retry_after is not None:
        return RateLimited(reason, http_status=code, retry_after=retry_after)
    if code == 408:
        return UpstreamTimeout(reason, http_status=code, retry_after=None)
    return ServerError(reason, http_status=code, retry_after=None)


def _default_detail(code: int) -> str:
    if 200 <= code < 300:
        return "error status without a message"
    phrase = httpx.codes.get_reason_phrase(code)
    return f"{phrase} (no message)" if phrase else "no message"


def _reason(code: int, detail: str, secret: str, retry_after: float | None = None) -> str:
    # Clip the detail first so that the prefix and the retry hint always survive.
    text = f"HTTP {code}: {sanitize(detail, secret, limit=MAX_REASON_CHARS - 40)}"
    if retry_after is not None:
        text += f" (retry after {format_seconds(retry_after)})"
    return text


def _decode(response: httpx.Response) -> tuple[dict[str, Any] | None, str]:
    """The body as a JSON object, or None and a description of what it is instead."""
    content = response.content
    if not content.strip():
        return None, "empty body"
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):  # includes JSONDecodeError and UnicodeDecodeError
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        return None, f"non-JSON body ({content_type or 'no content-type'})"
    if isinstance(data, dict):
        return data, ""
    kind = _JSON_TYPE_NAMES.get(type(data), "null")
    text = _render(data)
    return None, f"JSON {kind} instead of an object" + (f": {text}" if text else "")


def _message(body: dict[str, Any] | None) -> str:
    if body is None:
        return ""
    for field in ("message", "messege"):
        text = _render(body.get(field))
        if text:
            return text
    return ""


def _render(value: object, depth: int = 0) -> str:
    """A readable one-line text from any JSON value: {"model_id": ["is required"]} and so on."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if depth >= _MAX_RENDER_DEPTH:
        return "..."
    if isinstance(value, list):
        return ", ".join(text for text in (_render(item, depth + 1) for item in value) if text)
    if isinstance(value, dict):
        parts = []
        for field, item in value.items():
            text = _render(item, depth + 1)
            parts.append(f"{field}: {text}" if text else str(field))
        return "; ".join(parts)
    return str(value)


def _seconds(value: object) -> float | None:
    """A number or numeric string of seconds, clamped to [0, MAX_SECONDS]; None if unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):  # may be too large for a float
        return None if value < 0 else float(min(value, int(MAX_SECONDS)))
    if isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if math.isnan(number) or number < 0:
        return None
    return min(number, MAX_SECONDS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _retry_after(body: dict[str, Any] | None, headers: httpx.Headers) -> float | None:
    """The longest valid wait asked for in the body or the `Retry-After` header, if any."""
    candidates = [
        seconds
        for seconds in (
            _seconds(body.get("retry_after")) if body is not None else None,
            _header_seconds(headers),
        )
        if seconds is not None
    ]
    return max(candidates) if candidates else None


def _header_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After: <seconds>` or `Retry-After: <HTTP date>` (measured from `Date` if sent)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _seconds(raw)
    if seconds is not None:
        return seconds
    when = _http_date(raw)
    if when is None:
        return None
    now = _http_date(headers.get("date", "")) or datetime.now(UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_SECONDS)


def _http_date(text: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
