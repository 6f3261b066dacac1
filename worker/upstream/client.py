"""`UpstreamClient`: one HTTP call, and the mapping of httpx's exceptions to ours.

The only place where httpx exceptions are caught: each is re-raised as an `UpstreamError`
subclass `from` the original, with a reason that names the failure, never the API key.
"""

from __future__ import annotations

import logging
from types import TracebackType

import httpx

from worker.upstream.errors import (
    BadRequest,
    BadResponse,
    NetworkError,
    UpstreamError,
    UpstreamTimeout,
)
from worker.upstream.hints import Hints
from worker.upstream.protocol import Accepted, Loading, format_seconds, interpret, sanitize

logger = logging.getLogger(__name__)

RELOAD_PATH = "/model_reload"
_REQUEST_HEADERS = {"Accept": "application/json"}

# First match wins, so subclasses come before their bases.
_NETWORK_LABELS: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectError, "connection failed"),
    (httpx.ReadError, "connection broken while reading the response"),
    (httpx.WriteError, "connection broken while sending the request"),
    (httpx.RemoteProtocolError, "upstream broke the HTTP protocol"),
    (httpx.LocalProtocolError, "could not send a valid HTTP request"),
    (httpx.ProxyError, "proxy error"),
    (httpx.UnsupportedProtocol, "unsupported URL scheme"),
)


_preloaded = False


def preload() -> None:
    """Import what an HTTP client imports on its first use (httpx's transport: httpcore,
    h11, certifi, about 120 modules), once, so that processes forked after this share them."""
    global _preloaded
    if not _preloaded:
        httpx.Client().close()
        _preloaded = True


class UpstreamClient:
    """Calls `POST {base_url}/model_reload` with `{"key": api_key, "model_id": ...}`.

    Make one per worker process and close it at shutdown.

    Parameters:
        base_url: `MODELSLAB_BASE_URL`, an http(s) URL; `/model_reload` is appended.
        api_key: the account's key, sent in the body and redacted from every reason.
        http: a client to use as it is (tests pass one on an `httpx.MockTransport`); owned
            from then on: `close()` closes it. Without it, one is built from the options below.
        connect_timeout: seconds to connect, and to wait for a pooled connection.
        read_timeout: seconds to read the answer, and to send the request.
        max_connections: the connections (and keep-alive connections) of the built client.
        hints: the message-text table (`Hints.build()` when None).

    Raises:
        ValueError: `base_url` is not an http:// or https:// URL.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.Client | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 10,
        hints: Hints | None = None,
    ) -> None:
        self._url = _reload_url(base_url)
        self._api_key = api_key
        self._hints = hints or Hints.build()
        if http is None:
            http = httpx.Client(
                timeout=httpx.Timeout(
                    connect=connect_timeout,
                    read=read_timeout,
                    write=read_timeout,
                    pool=connect_timeout,
                ),
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=max_connections,
                ),
                follow_redirects=False,
            )
        self._http = http

    def reload(self, model_id: str) -> Accepted | Loading:
        """Ask the upstream to reload `model_id`: one call, no retry.

        Parameters:
            model_id: the model's id, a non-empty string.

        Returns:
            `Accepted` ("success": started, or already loaded; not proof that the model is
            warm) or `Loading` ("processing").

        Raises:
            TransientError: a subclass, when calling again later may succeed.
            PermanentError: a subclass, when it will not (`BadRequest` for a bad `model_id`).
        """
        if not isinstance(model_id, str) or not model_id.strip():
            raise BadRequest(
                sanitize(
                    f"invalid model_id {model_id!r}: must be a non-empty string", self._api_key
                )
            )
        try:
            try:
                response = self._http.post(
                    self._url,
                    json={"key": self._api_key, "model_id": model_id},
                    headers=_REQUEST_HEADERS,
                )
            except httpx.RequestError as exc:
                raise self._from_transport(exc) from exc
            outcome = interpret(response, self._api_key, self._hints)
        except UpstreamError as exc:
            logger.debug("reload %s failed: %r", model_id, exc)
            raise
        logger.debug(
            "reload %s: %s %r (eta %s)",
            model_id,
            type(outcome).__name__,
            outcome.message,
            outcome.eta,
        )
        return outcome

    def close(self) -> None:
        """Close the HTTP client, a given one too."""
        self._http.close()

    def __enter__(self) -> UpstreamClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UpstreamClient(url={sanitize(self._url, self._api_key)!r})"

    def _from_transport(self, exc: httpx.RequestError) -> UpstreamError:
        """Our exception for an httpx failure that left us without a response."""
        if isinstance(exc, httpx.TimeoutException):
            phase, limit = self._timeout_phase(exc)
            reason = f"{phase} timeout" + (f" after {format_seconds(limit)}" if limit else "")
            return UpstreamTimeout(reason)
        detail = sanitize(str(exc), self._api_key, limit=200)
        if isinstance(exc, httpx.DecodingError):
            return BadResponse(sanitize(f"undecodable body: {detail}", self._api_key))
        label = next(
            (text for cls, text in _NETWORK_LABELS if isinstance(exc, cls)),
            type(exc).__name__,
        )
        return NetworkError(f"{label}: {detail}" if detail else label)

    def _timeout_phase(self, exc: httpx.TimeoutException) -> tuple[str, float | None]:
        timeout = self._http.timeout
        if isinstance(exc, httpx.ConnectTimeout):
            return "connect", timeout.connect
        if isinstance(exc, httpx.WriteTimeout):
            return "write", timeout.write
        if isinstance(exc, httpx.PoolTimeout):
            return "pool", timeout.pool
        return "read", timeout.read


def _reload_url(base_url: str) -> str:
    """`{base_url}/model_reload`, after checking that base_url is an http(s) URL."""
    try:
        url = httpx.URL(base_url.rstrip("/") + RELOAD_PATH)
    except httpx.InvalidURL as exc:
        raise ValueError(f"base_url is not a valid URL: {base_url!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
    return str(url)
