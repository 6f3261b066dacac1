"""Typed settings, built once from the environment and validated at start.

``Settings.from_env()`` reads every variable in the README's configuration
table, converts it, and raises ``ConfigError`` with one line naming the
variable, the value and the expected form on the first bad value::

    RELOAD_RATE_LIMIT='fast': expected '<count>/<s|m|h>' such as '5/s'

Why by hand: docs/decisions/0013-settings-parsed-by-hand.md.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from worker import constants as c
from worker.redis_url import (
    DEFAULT_SENTINEL_MASTER,
    SentinelOptions,
    UrlError,
    is_sentinel_url,
    normalise_redis_url,
    redact,
)
from worker.upstream.hints import KINDS, Kind, parse_hints
from worker.validation import InvalidModelIds, validate_model_ids

__all__ = ["ConfigError", "Rate", "Secret", "Settings", "WarmPolicy", "parse_model_list"]

WarmPolicy = Literal["confirm", "timer"]
T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message is one line."""


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*(s|sec|m|min|h|hour)\s*$")
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


@dataclass(frozen=True)
class Rate:
    """``count`` upstream calls in any sliding window of ``period`` seconds."""

    count: int
    period: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse ``'5/s'``, ``'300/m'``, ``'10/2s'``; raise ``ValueError`` otherwise."""
        match = _RATE.match(text)
        if match is None:
            raise ValueError(text)
        count, multiple, unit = int(match[1]), float(match[2] or 1), _RATE_UNITS[match[3]]
        if count < 1 or multiple <= 0:
            raise ValueError(text)
        return cls(count, multiple * unit)

    @property
    def per_second(self) -> float:
        """The rate in calls per second."""
        return self.count / self.period

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything the worker, the CLI and the scheduler are configured with."""

    broker_url: str = c.DEFAULT_REDIS_URL
    result_backend: str = c.DEFAULT_REDIS_URL
    redis_url: str = c.DEFAULT_REDIS_URL
    sentinel_master: str = DEFAULT_SENTINEL_MASTER  # REDIS_SENTINEL_MASTER
    sentinel_password: Secret | None = None  # REDIS_SENTINEL_PASSWORD, for the sentinels
    api_key: Secret | None = None  # Secret masks itself in every repr
    base_url: str = c.DEFAULT_BASE_URL
    rate: Rate = field(default_factory=lambda: Rate.parse(c.DEFAULT_RATE_LIMIT))
    max_in_flight: int = c.DEFAULT_MAX_IN_FLIGHT
    warm_seconds: float = c.DEFAULT_WARM_SECONDS
    deadline_seconds: float = c.DEFAULT_DEADLINE_SECONDS
    warm_policy: WarmPolicy = "confirm"
    loading_holds_slot: bool = False
    max_batch: int = c.DEFAULT_MAX_BATCH
    max_retries: int = c.DEFAULT_MAX_RETRIES
    backoff_base_seconds: float = c.DEFAULT_BACKOFF_BASE_SECONDS
    backoff_max_seconds: float = c.DEFAULT_BACKOFF_MAX_SECONDS
    connect_timeout: float = c.DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = c.DEFAULT_READ_TIMEOUT
    fresh_seconds: float = c.DEFAULT_FRESH_SECONDS
    batch_grace_seconds: float = c.DEFAULT_BATCH_GRACE_SECONDS
    keep_warm: tuple[str, ...] = ()
    keep_warm_every: float = c.DEFAULT_KEEP_WARM_EVERY
    message_hints: tuple[tuple[Kind, str], ...] = ()
    batch_deadline_seconds: float | None = None  # None: deadline_seconds + batch_grace_seconds
    webhook_retry_seconds: float = c.DEFAULT_WEBHOOK_RETRY_SECONDS
    webhook_secret: Secret | None = None  # Secret masks itself in every repr
    webhook_allow_private: bool = False

    def __repr__(self) -> str:
        """Every field, with the passwords of URLs masked (secrets mask themselves)."""
        shown = (
            f"{f.name}={redact(value) if isinstance(value, str) else value!r}"
            for f in fields(self)
            for value in [getattr(self, f.name)]
        )
        return f"Settings({', '.join(shown)})"

    @property
    def sentinel(self) -> SentinelOptions:
        """The master's name and the sentinels' password, for clients of ``sentinel://`` URLs."""
        password = self.sentinel_password.reveal() if self.sentinel_password else None
        return SentinelOptions(self.sentinel_master, password)

    @property
    def batch_deadline(self) -> float:
        """How long a batch may run before what is left is failed (seconds)."""
        if self.batch_deadline_seconds is not None:
            return self.batch_deadline_seconds
        return self.deadline_seconds + self.batch_grace_seconds

    @property
    def call_seconds(self) -> float:
        """The longest one upstream call can take (connect + read timeouts, and a margin):
        how long a limiter lease and a model's step lock must last."""
        return self.connect_timeout + self.read_timeout + 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build and validate the settings.

        Parameters:
            environ: the variables to read (``None``: ``os.environ``).

        Raises:
            ConfigError: on the first bad value, in one line naming the variable.
        """
        env = os.environ if environ is None else environ
        read = _Reader(env)
        redis_url = read("REDIS_URL", _redis_url, c.DEFAULT_REDIS_URL)
        rate = read("RELOAD_RATE_LIMIT", _rate, c.DEFAULT_RATE_LIMIT)
        key = env.get("MODELSLAB_API_KEY", "").strip()
        settings = cls(
            redis_url=redis_url,
            broker_url=read("CELERY_BROKER_URL", _broker_url, redis_url),
            result_backend=read("CELERY_RESULT_BACKEND", _redis_url, redis_url),
            sentinel_master=read(
                "REDIS_SENTINEL_MASTER", _sentinel_master, DEFAULT_SENTINEL_MASTER
            ),
            sentinel_password=read("REDIS_SENTINEL_PASSWORD", _secret, ""),
            api_key=Secret(key) if key else None,
            base_url=read("MODELSLAB_BASE_URL", _http_url, c.DEFAULT_BASE_URL),
            rate=rate,
            max_in_flight=read("RELOAD_MAX_IN_FLIGHT", _positive_int, str(c.DEFAULT_MAX_IN_FLIGHT)),
            warm_seconds=read(
                "RELOAD_WARM_SECONDS", _positive_seconds, str(c.DEFAULT_WARM_SECONDS)
            ),
            deadline_seconds=read(
                "RELOAD_DEADLINE_SECONDS", _positive_seconds, str(c.DEFAULT_DEADLINE_SECONDS)
            ),
            warm_policy=read("RELOAD_WARM_POLICY", _warm_policy, "confirm"),
            loading_holds_slot=read("RELOAD_LOADING_HOLDS_SLOT", _boolean, "false"),
            max_batch=read("RELOAD_MAX_BATCH", _positive_int, str(c.DEFAULT_MAX_BATCH)),
            max_retries=read("RELOAD_MAX_RETRIES", _non_negative_int, str(c.DEFAULT_MAX_RETRIES)),
            backoff_base_seconds=read(
                "RELOAD_BACKOFF_BASE_SECONDS",
                _positive_seconds,
                str(c.DEFAULT_BACKOFF_BASE_SECONDS),
            ),
            backoff_max_seconds=read(
                "RELOAD_BACKOFF_MAX_SECONDS", _positive_seconds, str(c.DEFAULT_BACKOFF_MAX_SECONDS)
            ),
            connect_timeout=read(
                "RELOAD_CONNECT_TIMEOUT", _positive_seconds, str(c.DEFAULT_CONNECT_TIMEOUT)
            ),
            read_timeout=read(
                "RELOAD_READ_TIMEOUT", _positive_seconds, str(c.DEFAULT_READ_TIMEOUT)
            ),
            fresh_seconds=read(
                "RELOAD_FRESH_SECONDS", _non_negative_seconds, str(c.DEFAULT_FRESH_SECONDS)
            ),
            batch_grace_seconds=read(
                "RELOAD_BATCH_GRACE_SECONDS", _positive_seconds, str(c.DEFAULT_BATCH_GRACE_SECONDS)
            ),
            keep_warm=read("RELOAD_KEEP_WARM", _keep_warm, ""),
            keep_warm_every=read(
                "RELOAD_KEEP_WARM_EVERY", _duration, str(c.DEFAULT_KEEP_WARM_EVERY)
            ),
            message_hints=read("RELOAD_MESSAGE_HINTS", _hints, ""),
            batch_deadline_seconds=read("RELOAD_BATCH_DEADLINE_SECONDS", _optional_seconds, ""),
            webhook_retry_seconds=read(
                "RELOAD_WEBHOOK_RETRY_SECONDS",
                _positive_seconds,
                str(c.DEFAULT_WEBHOOK_RETRY_SECONDS),
            ),
            webhook_secret=read("RELOAD_WEBHOOK_SECRET", _secret, ""),
            webhook_allow_private=read("RELOAD_WEBHOOK_ALLOW_PRIVATE", _boolean, "false"),
        )
        _check_sentinel_variables(env, settings)
        if settings.deadline_seconds <= settings.warm_seconds:
            raise ConfigError(
                f"RELOAD_DEADLINE_SECONDS={settings.deadline_seconds:g}: expected more than "
                f"RELOAD_WARM_SECONDS ({settings.warm_seconds:g}): no model could be confirmed warm"
            )
        return settings

    def require_api_key(self) -> str:
        """The key, for the one place that sends it.

        Raises:
            ConfigError: ``MODELSLAB_API_KEY`` is not set.
        """
        if self.api_key is None:
            raise ConfigError(
                "MODELSLAB_API_KEY is not set: workers need the ModelsLab API key "
                "(it is read from the environment only, never from task arguments)"
            )
        return self.api_key.reveal()


class _Reader:
    """Reads one variable, falling back to a default, and words the error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __call__(self, name: str, parse: Callable[[str], T], default: str) -> T:
        raw = self._env.get(name)
        value = default if raw is None or raw.strip() == "" else raw.strip()
        try:
            return parse(value)
        except (ValueError, OSError) as exc:
            expected = getattr(parse, "expected", "a valid value")
            if isinstance(exc, OSError):
                detail = f" ({exc.strerror or exc})"
            else:
                detail = f" ({exc})" if isinstance(exc, _Detail) else ""
            shown = redact(value)  # a URL's password never reaches the message
            raise ConfigError(f"{name}={shown!r}: expected {expected}{detail}") from None


class _Detail(ValueError):
    """A ValueError whose text is worth appending to the one-line message."""


def _expects(text: str) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    def mark(parse: Callable[[str], T]) -> Callable[[str], T]:
        parse.expected = text  # type: ignore[attr-defined]
        return parse

    return mark


@_expects("'<count>/<s|m|h>' such as '5/s' or '300/m'")
def _rate(value: str) -> Rate:
    return Rate.parse(value)


@_expects("a whole number of at least 1")
def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


@_expects("a whole number of at least 0")
def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


@_expects("a number of seconds greater than 0, such as '120' or '2.5'")
def _positive_seconds(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(value)
    return number


@_expects("a number of seconds greater than 0, or empty for the default")
def _optional_seconds(value: str) -> float | None:
    return None if value == "" else _positive_seconds(value)


@_expects("a non-empty string")
def _secret(value: str) -> Secret | None:
    return Secret(value) if value else None


@_expects("a number of seconds of at least 0")
def _non_negative_seconds(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(value)
    return number


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$")
_DURATION_UNITS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@_expects("a duration such as '6d', '12h', '30m' or '45' (seconds), greater than 0")
def _duration(value: str) -> float:
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(value)
    seconds = float(match[1]) * _DURATION_UNITS[match[2]]
    if seconds <= 0:
        raise ValueError(value)
    return seconds


@_expects("'confirm' or 'timer'")
def _warm_policy(value: str) -> WarmPolicy:
    if value == "confirm":
        return "confirm"
    if value == "timer":
        return "timer"
    raise ValueError(value)


@_expects("one of true/false, yes/no, on/off, 1/0")
def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


@_expects("an http(s) URL such as 'https://stablediffusionapi.com/api/v4/dreambooth'")
def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(value)
    return value.rstrip("/")


_SENTINEL_EXAMPLE = "'sentinel://host1:26379;sentinel://host2:26379/0'"


@_expects(f"a Redis URL such as 'redis://localhost:6379/0', or sentinels: {_SENTINEL_EXAMPLE}")
def _redis_url(value: str) -> str:
    try:
        return normalise_redis_url(value)
    except UrlError as exc:
        raise _Detail(str(exc)) from None


@_expects(
    "a broker URL such as 'redis://localhost:6379/0', 'amqp://guest@localhost:5672//' "
    f"or sentinels: {_SENTINEL_EXAMPLE}"
)
def _broker_url(value: str) -> str:
    if urlsplit(value).scheme in {"amqp", "amqps", "pyamqp"}:
        return value
    return _redis_url(value)


@_expects("the name of the master's group in Sentinel, such as 'mymaster' (no spaces)")
def _sentinel_master(value: str) -> str:
    if not value or any(ch.isspace() or ch == ";" for ch in value):
        raise ValueError(value)
    return value


def _check_sentinel_variables(env: Mapping[str, str], settings: Settings) -> None:
    """``REDIS_SENTINEL_*`` set with no ``sentinel://`` URL is a mistake: say so."""
    urls = (settings.redis_url, settings.broker_url, settings.result_backend)
    if any(is_sentinel_url(url) for url in urls):
        return
    for name in ("REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD"):
        if env.get(name, "").strip():
            raise ConfigError(
                f"{name} is set but no URL names sentinels: REDIS_URL, CELERY_BROKER_URL and "
                f"CELERY_RESULT_BACKEND are all plain Redis URLs (expected {_SENTINEL_EXAMPLE})"
            )


@_expects("entries 'kind=regular expression' separated by ';;' (kinds: " + ", ".join(KINDS) + ")")
def _hints(value: str) -> tuple[tuple[Kind, str], ...]:
    try:
        return parse_hints(value)
    except ValueError as exc:
        raise _Detail(str(exc)) from None


@_expects("a comma-separated list of model ids, or the path of a file with one id per line")
def _keep_warm(value: str) -> tuple[str, ...]:
    if value == "":
        return ()
    path = Path(value)
    if "," not in value and (path.is_file() or value.startswith(("/", "./", "~"))):
        text = path.expanduser().read_text(encoding="utf-8")
        return parse_model_list(text.splitlines(), source=str(path))
    return parse_model_list(value.split(","), source="list")


def parse_model_list(items: list[str], *, source: str) -> tuple[str, ...]:
    """Model ids from lines or comma items: blanks and ``#`` comments skipped, order kept.

    Parameters:
        items: the lines of a file, or the items of a comma-separated list.
        source: what they came from (a path or ``"list"``), for the error.

    Returns:
        The unique ids, in order.

    Raises:
        ValueError: naming the first bad entry, or saying that there is none.
    """
    ids = [item.strip() for item in items]
    ids = [item for item in ids if item and not item.startswith("#")]
    if not ids:
        raise _Detail(f"{source} holds no model id")
    try:
        return tuple(validate_model_ids(ids, max_count=c.DEFAULT_MAX_BATCH))
    except InvalidModelIds as exc:
        raise _Detail(f"{source}: {exc}") from None
