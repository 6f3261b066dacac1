"""The exceptions of the upstream client, each with a `reason` safe to log and to store.

    UpstreamError            .reason (API key redacted, <= 300 chars), .http_status
    ├─ TransientError        .retry_after; RateLimited, ServerError, UpstreamTimeout,
    │                        NetworkError, BadResponse
    └─ PermanentError        BadRequest, InvalidKey, NoCredits, Forbidden, ModelNotFound

The reason is the only positional argument, so pickle and Celery rebuild them.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """The reload call produced no answer the worker can act on as success.

    Parameters:
        reason: what failed, safe to log (the client redacts the API key and keeps it short).
        http_status: the upstream's HTTP status, or None when no response arrived.
    """

    def __init__(self, reason: str, *, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, http_status={self.http_status!r})"


class TransientError(UpstreamError):
    """Calling again later may succeed.

    Parameters:
        reason: as for `UpstreamError`.
        http_status: as for `UpstreamError`.
        retry_after: the wait in seconds the upstream asked for (body field `retry_after` or
            `Retry-After` header, clamped to [0, 3600]), or None.
    """

    def __init__(
        self, reason: str, *, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason, http_status=http_status)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.reason!r}, http_status={self.http_status!r}, "
            f"retry_after={self.retry_after!r})"
        )


class RateLimited(TransientError):
    """HTTP 429, or any other transient error answer that carries a `retry_after`."""


class ServerError(TransientError):
    """HTTP 5xx, 409 or 425, or `"status": "error"` with a 2xx HTTP status."""


class UpstreamTimeout(TransientError):
    """A connect, read, write or pool timeout, or HTTP 408."""


class NetworkError(TransientError):
    """The connection was refused, reset or broke the HTTP protocol."""


class BadResponse(TransientError):
    """The upstream answered something this client cannot read.

    A 2xx answer with an HTML, empty, undecodable or non-object body, a `status`
    that is missing or not one of success / processing / error, or an HTTP
    status that is neither success nor error (1xx, 3xx).
    """


class PermanentError(UpstreamError):
    """Calling again will not help: fail the model with `reason`."""


class BadRequest(PermanentError):
    """HTTP 400, or another 4xx that has no class of its own."""


class InvalidKey(PermanentError):
    """HTTP 401: the API key is missing or invalid."""


class NoCredits(PermanentError):
    """HTTP 402: the account has no credits left."""


class Forbidden(PermanentError):
    """HTTP 403: the account's plan does not allow the call."""


class ModelNotFound(PermanentError):
    """HTTP 404: the upstream does not know the model."""
