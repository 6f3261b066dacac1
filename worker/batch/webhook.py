"""POSTing a batch summary to the caller's ``callback_url``: checked, signed, idempotent.

Non-global addresses are refused (SSRF) unless ``RELOAD_WEBHOOK_ALLOW_PRIVATE``: a literal IP
at the edge (``check_url``), a hostname when it is resolved, just before the POST
(``check_destination``). Each POST carries ``Idempotency-Key: <batch id>`` and, with
``RELOAD_WEBHOOK_SECRET``, ``X-Reload-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "t.body")>``.

Why: docs/decisions/0007-reconciler-and-webhook-outbox.md
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from worker.constants import WEBHOOK_TIMEOUT_SECONDS

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "UnsafeURL",
    "WebhookError",
    "check_destination",
    "check_url",
    "encode_body",
    "post_json",
    "sign",
    "verify",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_HEADER = "X-Reload-Signature"
MAX_URL_LENGTH = 2048
Resolver = Callable[[str, int], Sequence[str]]


class WebhookError(Exception):
    """The webhook could not be delivered this time (network error or non-2xx answer)."""


class UnsafeURL(ValueError):
    """A callback URL that this worker refuses to POST to; the message says why."""


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_unspecified


def check_url(url: object, *, allow_private: bool) -> str:
    """Check a callback URL at the edge (``warmup_batch``, ``reloadctl``).

    Only a literal IP host (or ``localhost``) is checked here; a hostname is checked when it
    is resolved (``check_destination``).

    Parameters:
        url: the caller's ``callback_url``.
        allow_private: ``RELOAD_WEBHOOK_ALLOW_PRIVATE``: only the URL's form is checked.

    Returns:
        ``url``, an http(s) URL this worker may POST to.

    Raises:
        UnsafeURL: not a string, not an http(s) URL with a host, or a refused address.
    """
    if not isinstance(url, str):
        raise UnsafeURL(f"expected a string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"expected an http(s) URL, got {url[:100]!r}")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UnsafeURL(f"expected an http(s) URL, got {url[:100]!r}") from None
    if not host:
        raise UnsafeURL(f"expected an http(s) URL with a host, got {url[:100]!r}")
    if allow_private:
        return url
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise UnsafeURL(_private_message(url, host)) from None
        return url
    if _refused(ip):
        raise UnsafeURL(_private_message(url, str(ip)))
    return url


def _private_message(url: str, address: str) -> str:
    return (
        f"{url[:100]!r} is a loopback, private or link-local address ({address}); "
        "set RELOAD_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    )


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_destination(url: str, *, allow_private: bool, resolve: Resolver = _resolve) -> None:
    """Check ``url`` just before a POST, resolving its host.

    Parameters:
        url: the callback URL.
        allow_private: ``RELOAD_WEBHOOK_ALLOW_PRIVATE``: only the URL's form is checked.
        resolve: ``(host, port) -> addresses`` (tests pass a fake; default: getaddrinfo).

    Raises:
        UnsafeURL: ``check_url`` refuses it, or the host resolves to a non-global address.
        WebhookError: the host cannot be resolved now.
    """
    check_url(url, allow_private=allow_private)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise WebhookError(f"cannot resolve {host}: {exc}") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if _refused(ip):
            raise UnsafeURL(_private_message(url, f"{host} resolves to {ip}"))


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Reload-Signature`` value for ``body`` sent at ``timestamp``.

    Parameters:
        secret: ``RELOAD_WEBHOOK_SECRET``.
        body: the exact bytes POSTed (``encode_body``).
        timestamp: the time of sending, in unix seconds.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, now: float, tolerance: float = 300) -> bool:
    """What a receiver does: the signature matches and ``t`` is within ``tolerance``.

    Parameters:
        secret: the shared secret.
        body: the raw body received.
        header: the ``X-Reload-Signature`` value received.
        now: the receiver's time, in unix seconds.
        tolerance: the largest difference, in seconds, between ``now`` and ``t``.
    """
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    client: httpx.Client | None = None,
    idempotency_key: str | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    allow_private: bool = True,
    resolve: Resolver = _resolve,
) -> int:
    """POST ``payload`` as JSON to a checked destination, without following redirects.

    Parameters:
        url: the callback URL.
        payload: the batch summary.
        client: the HTTP client to use (default: a new one with the webhook's timeout).
        idempotency_key: the ``Idempotency-Key`` header (the batch id), if any.
        secret: signs the POST (``X-Reload-Signature``) when given.
        timestamp: the signature's time, in unix seconds; required with ``secret``.
        allow_private: ``RELOAD_WEBHOOK_ALLOW_PRIVATE``.
        resolve: as for ``check_destination``.

    Returns:
        The HTTP status, a 2xx.

    Raises:
        UnsafeURL: the destination is refused (permanent: do not retry).
        WebhookError: a network error, an unresolvable host or a non-2xx answer.
        ValueError: ``secret`` without ``timestamp``.
    """
    check_destination(url, allow_private=allow_private, resolve=resolve)
    body = encode_body(payload)
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    if secret is not None:
        if timestamp is None:
            raise ValueError("a signed POST needs its timestamp")
        headers[SIGNATURE_HEADER] = sign(secret, body, timestamp)
    try:
        if client is None:
            with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as own:
                response = own.post(url, content=body, headers=headers)
        else:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise WebhookError(f"{type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise WebhookError(f"HTTP {response.status_code}")
    return response.status_code
