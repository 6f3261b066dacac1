"""POSTing a batch summary to the caller's ``callback_url``: checked, signed, idempotent.

- **Where**: http(s) only. Loopback, private, link-local, unspecified, multicast and
  other non-global addresses are refused (SSRF) unless ``RELOAD_WEBHOOK_ALLOW_PRIVATE``:
  a literal IP is checked at the edge (``check_url``, called by ``warmup_batch`` and
  ``reloadctl``), and a hostname is resolved at POST time and refused if any of its
  addresses is not global (``check_destination``).
- **What**: the summary as JSON, with ``Idempotency-Key: <batch id>`` (the webhook
  is delivered at least once: a receiver drops repeats by this key) and, when
  ``RELOAD_WEBHOOK_SECRET`` is set, ``X-Reload-Signature: t=<unix seconds>,v1=<hex>``
  where ``hex = HMAC-SHA256(secret, f"{t}.{raw body}")`` (Stripe's scheme).
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
    """``url`` if it is an http(s) URL this worker may POST to; ``UnsafeURL`` otherwise.

    Only a literal IP host is checked here; a hostname is checked when it is resolved.
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
    """Raise ``UnsafeURL`` if ``url``'s host resolves to an address that is not global."""
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
    """The ``X-Reload-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, now: float, tolerance: float = 300) -> bool:
    """What a receiver does: the signature matches and ``t`` is within ``tolerance``."""
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
    """POST ``payload`` as JSON; return the HTTP status, or raise ``WebhookError``.

    ``UnsafeURL`` (permanent: do not retry) if the destination is refused.
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
