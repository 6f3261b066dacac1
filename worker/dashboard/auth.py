"""Basic auth for every route of the dashboard, from ``RELOAD_DASHBOARD_AUTH=user:password``.

The dashboard refuses to start without it (``credentials_from_env`` raises
``AuthNotSet`` with a one-line reason), as Flower does here without
``FLOWER_BASIC_AUTH``. The password is compared in constant time and never
printed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["ENV", "AuthNotSet", "Credentials", "basic_auth", "credentials_from_env"]

ENV = "RELOAD_DASHBOARD_AUTH"
REALM = "reload dashboard"


class AuthNotSet(ValueError):
    """``RELOAD_DASHBOARD_AUTH`` is missing or not ``user:password``."""


@dataclass(frozen=True)
class Credentials:
    """The dashboard's basic-auth user and password (the password never in a repr)."""

    user: str
    password: str = field(repr=False)

    def accepts(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials (``Basic`` scheme)."""
        scheme, _, encoded = (header or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
            return False
        user, sep, password = decoded.partition(":")
        user_ok = hmac.compare_digest(user.encode(), self.user.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return bool(sep) and user_ok and password_ok


def credentials_from_env(environ: Mapping[str, str]) -> Credentials:
    """The credentials of ``RELOAD_DASHBOARD_AUTH``; ``AuthNotSet`` saying what is wrong."""
    value = environ.get(ENV, "").strip()
    if not value:
        raise AuthNotSet(
            f"{ENV} is not set: the dashboard runs only with basic auth "
            f"(e.g. {ENV}=admin:<password>)"
        )
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise AuthNotSet(f"{ENV} must be user:password (both non-empty)")
    return Credentials(user, password)


def basic_auth(credentials: Credentials) -> Middleware:
    """An aiohttp middleware answering 401 (with a Basic challenge) to any other request."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if credentials.accepts(request.headers.get("Authorization")):
            return await handler(request)
        return web.Response(
            status=401,
            text="401: the dashboard needs its credentials (RELOAD_DASHBOARD_AUTH)\n",
            headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )

    return check
