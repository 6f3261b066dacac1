"""Where Redis is, and connections that follow a failover: for the state, the broker, the results.

``normalise_redis_url`` validates a ``redis://``, ``rediss://`` (TLS), ``unix://`` or
``sentinel://host1:26379;sentinel://host2:26379/db`` URL and returns the form redis-py,
kombu and Celery all read the same way; ``connect`` builds a redis-py client from it;
``SentinelOptions`` hands kombu and Celery the master name (``REDIS_SENTINEL_MASTER``) and
the sentinels' password (``REDIS_SENTINEL_PASSWORD``). The ``Failover*`` connection
classes turn a demoted master's ``READONLY`` into a lost connection, so every client
reconnects to the new master. Why: docs/decisions/0011-failover-is-a-lost-connection.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import redis
from redis.connection import AbstractConnection
from redis.sentinel import Sentinel, SentinelManagedConnection

__all__ = [
    "DEFAULT_SENTINEL_MASTER",
    "SENTINEL_SCHEME",
    "FailoverConnection",
    "FailoverSSLConnection",
    "FailoverSentinelConnection",
    "FailoverSentinelSSLConnection",
    "FailoverUnixConnection",
    "SentinelOptions",
    "SentinelUrl",
    "UrlError",
    "connect",
    "failover_connection_class",
    "is_sentinel_url",
    "normalise_redis_url",
    "parse_sentinel_url",
    "redact",
]

SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_MASTER = "mymaster"
DEFAULT_SENTINEL_PORT = 26379
# Seconds a sentinel may take to answer "which is the master?" before the next one is asked.
SENTINEL_TIMEOUT_SECONDS = 2.0
_CERT_REQS = ("required", "optional", "none")


class UrlError(ValueError):
    """A Redis URL that cannot be used; the message never holds a password."""


def redact(url: str) -> str:
    """``url`` with the password of each of its ``;``-separated entries replaced by ``***``."""
    return ";".join(_redact_one(entry) for entry in url.split(";"))


def _redact_one(entry: str) -> str:
    scheme, sep, rest = entry.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return entry
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` is a ``sentinel://`` URL (case and surrounding blanks ignored)."""
    return url.strip().lower().startswith(f"{SENTINEL_SCHEME}://")


@dataclass(frozen=True)
class SentinelUrl:
    """What a ``sentinel://`` URL names: the sentinels, the database and the master's login."""

    sentinels: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def url(self) -> str:
        """Every entry with the credentials and the database (kombu and Celery read the first)."""
        login = ""
        if self.username or self.password:
            login = f"{quote(self.username or '', safe='')}:{quote(self.password or '', safe='')}@"
        return ";".join(
            f"{SENTINEL_SCHEME}://{login}{_host(host)}:{port}/{self.db}"
            for host, port in self.sentinels
        )


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse ``sentinel://host:port;sentinel://host:port/db``.

    Parameters:
        url: one or more ``;``-separated ``sentinel://`` entries.

    Returns:
        The sentinels, the database and the master's login they name.

    Raises:
        UrlError: naming the fault (a bad entry, or entries that disagree).
    """
    sentinels: list[tuple[str, int]] = []
    dbs: set[int] = set()
    logins: set[tuple[str | None, str | None]] = set()
    for entry in (part.strip() for part in url.split(";")):
        if not entry:
            raise UrlError("an empty entry between ';'")
        parts = urlsplit(entry)
        if parts.scheme.lower() != SENTINEL_SCHEME:
            shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
            raise UrlError(f"every ';'-separated entry must be a sentinel:// URL, one is {shown}")
        if not parts.hostname:
            raise UrlError("a sentinel entry names no host")
        try:
            port = parts.port or DEFAULT_SENTINEL_PORT
        except ValueError:
            raise UrlError(f"sentinel {parts.hostname}: the port is not from 1 to 65535") from None
        if parts.query or parts.fragment:
            raise UrlError("sentinel URLs take no '?' options")
        path = parts.path.strip("/")
        if path:
            if not path.isdigit():
                raise UrlError(f"the database {path!r} is not a number")
            dbs.add(int(path))
        if parts.username or parts.password:
            user, secret = unquote(parts.username or ""), unquote(parts.password or "")
            logins.add((user or None, secret or None))
        sentinels.append((parts.hostname, port))
    if len(dbs) > 1:
        raise UrlError(f"the entries name different databases: {sorted(dbs)}")
    if len(logins) > 1:
        raise UrlError("the entries carry different credentials")
    username, password = logins.pop() if logins else (None, None)
    return SentinelUrl(tuple(sentinels), dbs.pop() if dbs else 0, username, password)


def normalise_redis_url(url: str) -> str:
    """A validated Redis URL in the form all three clients (redis-py, kombu, Celery) read alike.

    Parameters:
        url: a ``redis://``, ``rediss://``, ``unix://`` or ``sentinel://`` URL.

    Returns:
        The URL; ``rediss://`` gains ``ssl_cert_reqs=required`` unless it names one.

    Raises:
        UrlError: the URL is malformed (the message holds no password).
    """
    if is_sentinel_url(url) or ";" in url:
        return parse_sentinel_url(url).url()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "unix":
        if not parts.path:
            raise UrlError("a unix:// URL names no socket path")
        return url
    if scheme not in {"redis", "rediss"}:
        raise UrlError(f"the scheme must be redis, rediss, unix or sentinel, not {scheme!r}")
    if not parts.hostname:
        raise UrlError("the URL names no host")
    try:
        parts.port  # noqa: B018 (a ValueError for a port out of range)
    except ValueError:
        raise UrlError("the port is not a number from 1 to 65535") from None
    if scheme == "redis":
        return url
    query = dict(parse_qsl(parts.query))
    reqs = query.setdefault("ssl_cert_reqs", "required").lower()
    if reqs not in _CERT_REQS:
        raise UrlError(f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}")
    query["ssl_cert_reqs"] = reqs
    return parts._replace(query=urlencode(query)).geturl()


@dataclass(frozen=True)
class SentinelOptions:
    """The master's name in Sentinel and the sentinels' own password (``REDIS_SENTINEL_*``)."""

    master: str = DEFAULT_SENTINEL_MASTER
    password: str | None = field(default=None, repr=False)

    def sentinel_kwargs(self) -> dict[str, Any]:
        """redis-py's options for the connections to the sentinels themselves."""
        kwargs: dict[str, Any] = {
            "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
            "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
        }
        if self.password:
            kwargs["password"] = self.password
        return kwargs

    def transport_options(self) -> dict[str, Any]:
        """kombu's Sentinel transport options and Celery's sentinel result backend's."""
        return {"master_name": self.master, "sentinel_kwargs": self.sentinel_kwargs()}

    @classmethod
    def from_transport_options(cls, options: dict[str, Any] | None) -> SentinelOptions:
        """The inverse of ``transport_options`` (for code that only sees Celery's config)."""
        options = options or {}
        kwargs = options.get("sentinel_kwargs") or {}
        return cls(options.get("master_name") or DEFAULT_SENTINEL_MASTER, kwargs.get("password"))


class _DemotedMasterIsLost(AbstractConnection):
    """A ``-READONLY`` answer drops the connection and raises ``redis.ConnectionError``."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.ResponseError as exc:
            if not isinstance(exc, redis.ReadOnlyError) and "-READONLY " not in str(exc):
                raise
            self.disconnect()  # type: ignore[no-untyped-call]
            raise redis.ConnectionError(
                "the Redis server is a read-only replica now (a failover): reconnecting"
            ) from exc


class FailoverConnection(_DemotedMasterIsLost, redis.Connection):
    """A TCP connection that treats a demoted master as a lost connection."""


class FailoverSSLConnection(_DemotedMasterIsLost, redis.SSLConnection):
    """A TLS connection that treats a demoted master as a lost connection."""


class FailoverUnixConnection(_DemotedMasterIsLost, redis.UnixDomainSocketConnection):
    """A Unix-socket connection that treats a demoted master as a lost connection."""


class FailoverSentinelConnection(_DemotedMasterIsLost, SentinelManagedConnection):
    """A Sentinel-managed connection that treats a demoted master as a lost connection."""


class FailoverSentinelSSLConnection(
    _DemotedMasterIsLost, SentinelManagedConnection, redis.SSLConnection
):
    """A Sentinel-managed TLS connection that treats a demoted master as a lost connection."""


def failover_connection_class(cls: type[Any]) -> type[Any]:
    """The ``Failover*`` twin of a redis-py connection class (itself if it has none)."""
    if issubclass(cls, _DemotedMasterIsLost):
        return cls
    if issubclass(cls, SentinelManagedConnection):
        if issubclass(cls, redis.SSLConnection):
            return FailoverSentinelSSLConnection
        return FailoverSentinelConnection
    for base, twin in (
        (redis.SSLConnection, FailoverSSLConnection),
        (redis.UnixDomainSocketConnection, FailoverUnixConnection),
        (redis.Connection, FailoverConnection),
    ):
        if issubclass(cls, base):
            return twin
    return cls


_BY_SCHEME: dict[str, type[Any]] = {
    "redis": FailoverConnection,
    "rediss": FailoverSSLConnection,
    "unix": FailoverUnixConnection,
}


def connect(url: str, sentinel: SentinelOptions | None = None, **options: Any) -> redis.Redis:
    """A redis-py client for ``url`` (see ``normalise_redis_url``) that follows a failover.

    Parameters:
        url: one server's URL, or sentinels (``sentinel://...;sentinel://.../db``).
        sentinel: the master's name and the sentinels' password (defaults: ``mymaster``,
            none); ignored for a URL that is not a sentinel one.
        options: redis-py connection options (timeouts, ``retry``, ``retry_on_error``...).

    Returns:
        A client on the server, or, through Sentinel, on whichever server is the master
        now: after a failover it asks the sentinels again on its next connection.

    Raises:
        UrlError: the URL is malformed (the message holds no password).
    """
    if is_sentinel_url(url):
        parsed = parse_sentinel_url(url)
        sentinel = sentinel or SentinelOptions()
        manager = Sentinel(  # type: ignore[no-untyped-call]
            list(parsed.sentinels), sentinel_kwargs=sentinel.sentinel_kwargs()
        )
        client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
            sentinel.master,
            connection_class=FailoverSentinelConnection,
            db=parsed.db,
            username=parsed.username,
            password=parsed.password,
            **options,
        )
        return client
    url = normalise_redis_url(url)
    connection_class = _BY_SCHEME[urlsplit(url).scheme.lower()]
    return redis.Redis.from_url(url, connection_class=connection_class, **options)
