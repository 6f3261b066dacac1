"""Behaviour: every environment variable has a default, takes good values, refuses bad ones.

Given an environment, when ``Settings.from_env`` reads it, then an absent or
blank variable gives its default, a good value is converted, and a bad value
raises ``ConfigError`` with one line naming the variable, the value and the
expected form.
"""

from __future__ import annotations

from typing import Any

import pytest

from worker import constants as c
from worker.settings import ConfigError, Rate, Settings

# variable, Settings attribute, default, (good value, converted), bad values
VARIABLES: list[tuple[str, str, Any, tuple[str, Any], list[str]]] = [
    ("REDIS_URL", "redis_url", c.DEFAULT_REDIS_URL,
     ("redis://cache.internal:6380/2", "redis://cache.internal:6380/2"),
     ["http://localhost:6379", "localhost:6379", "redis://"]),
    ("CELERY_BROKER_URL", "broker_url", c.DEFAULT_REDIS_URL,
     ("amqp://guest@rabbit:5672//", "amqp://guest@rabbit:5672//"),
     ["kafka://broker:9092", "rabbit"]),
    ("CELERY_RESULT_BACKEND", "result_backend", c.DEFAULT_REDIS_URL,
     ("rediss://results:6379/1", "rediss://results:6379/1?ssl_cert_reqs=required"),
     ["amqp://guest@rabbit//", "db+sqlite:///r.db"]),
    ("MODELSLAB_BASE_URL", "base_url", c.DEFAULT_BASE_URL,
     ("http://127.0.0.1:8700/api/v4/dreambooth/", "http://127.0.0.1:8700/api/v4/dreambooth"),
     ["ftp://upstream.test", "upstream.test/api", "https://"]),
    ("RELOAD_RATE_LIMIT", "rate", Rate(5, 1.0),
     ("300/m", Rate(300, 60.0)),
     ["fast", "0/s", "5", "5/d", "-1/s", "5/0s"]),
    ("RELOAD_MAX_IN_FLIGHT", "max_in_flight", c.DEFAULT_MAX_IN_FLIGHT,
     ("15", 15),
     ["0", "-3", "2.5", "three"]),
    ("RELOAD_WARM_SECONDS", "warm_seconds", c.DEFAULT_WARM_SECONDS,
     ("2.5", 2.5),
     ["0", "-1", "inf", "nan", "2m"]),
    ("RELOAD_DEADLINE_SECONDS", "deadline_seconds", c.DEFAULT_DEADLINE_SECONDS,
     ("600", 600.0),
     ["0", "-600", "1e400", "soon"]),
    ("RELOAD_WARM_POLICY", "warm_policy", "confirm",
     ("timer", "timer"),
     ["always", "Confirm ", "1"]),
    ("RELOAD_LOADING_HOLDS_SLOT", "loading_holds_slot", False,
     ("Yes", True),
     ["maybe", "2", "y"]),
    ("RELOAD_MAX_BATCH", "max_batch", c.DEFAULT_MAX_BATCH,
     ("500", 500),
     ["0", "1e4", "many"]),
    ("RELOAD_MAX_RETRIES", "max_retries", c.DEFAULT_MAX_RETRIES,
     ("0", 0),
     ["-1", "1.5", "x"]),
    ("RELOAD_BACKOFF_BASE_SECONDS", "backoff_base_seconds", c.DEFAULT_BACKOFF_BASE_SECONDS,
     ("0.5", 0.5),
     ["0", "-1", "fast"]),
    ("RELOAD_BACKOFF_MAX_SECONDS", "backoff_max_seconds", c.DEFAULT_BACKOFF_MAX_SECONDS,
     ("300", 300.0),
     ["0", "-60", "inf"]),
    ("RELOAD_CONNECT_TIMEOUT", "connect_timeout", c.DEFAULT_CONNECT_TIMEOUT,
     ("3", 3.0),
     ["0", "x"]),
    ("RELOAD_READ_TIMEOUT", "read_timeout", c.DEFAULT_READ_TIMEOUT,
     ("45.5", 45.5),
     ["-1", "30s"]),
    ("RELOAD_FRESH_SECONDS", "fresh_seconds", c.DEFAULT_FRESH_SECONDS,
     ("0", 0.0),
     ["-1", "nan", "forever"]),
    ("RELOAD_BATCH_GRACE_SECONDS", "batch_grace_seconds", c.DEFAULT_BATCH_GRACE_SECONDS,
     ("120", 120.0),
     ["0", "-5"]),
    ("RELOAD_KEEP_WARM", "keep_warm", (),
     ("model-a, model-b,model-a", ("model-a", "model-b")),
     [",,", "a,\x00b", "a," + "x" * 300]),
    ("RELOAD_KEEP_WARM_EVERY", "keep_warm_every", c.DEFAULT_KEEP_WARM_EVERY,
     ("12h", 43200.0),
     ["soon", "0", "0d", "-1d", "6 days"]),
]  # fmt: skip

DEFAULTS = [pytest.param(v[0], v[1], v[2], id=v[0]) for v in VARIABLES]
GOOD = [pytest.param(v[0], v[1], *v[3], id=v[0]) for v in VARIABLES]
BAD = [pytest.param(v[0], bad, id=f"{v[0]}={bad[:12]!r}") for v in VARIABLES for bad in v[4]]


@pytest.mark.parametrize(("name", "attribute", "default"), DEFAULTS)
@pytest.mark.parametrize("absent", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_given_no_value_then_the_default(
    name: str, attribute: str, default: Any, absent: str | None
) -> None:
    env = {} if absent is None else {name: absent}

    settings = Settings.from_env(env)

    assert getattr(settings, attribute) == default


@pytest.mark.parametrize(("name", "attribute", "raw", "expected"), GOOD)
def test_given_a_good_value_then_it_is_converted(
    name: str, attribute: str, raw: str, expected: Any
) -> None:
    settings = Settings.from_env({name: f"  {raw}  "})

    assert getattr(settings, attribute) == expected


@pytest.mark.parametrize(("name", "bad"), BAD)
def test_given_a_bad_value_then_one_line_naming_variable_value_and_expected_form(
    name: str, bad: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: bad})

    message = str(caught.value)
    assert message.startswith(f"{name}={bad.strip()!r}: expected ")
    assert "\n" not in message
    assert len(message.split(": expected ", 1)[1]) > 5


def test_given_an_empty_environment_then_the_settings_are_the_dataclass_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_given_a_redis_url_only_then_broker_and_results_follow_it() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://shared:6379/3"})

    assert settings.broker_url == "redis://shared:6379/3"
    assert settings.result_backend == "redis://shared:6379/3"


@pytest.mark.parametrize(
    ("raw", "count", "period"),
    [("5/s", 5, 1.0), ("10/2s", 10, 2.0), ("100/h", 100, 3600.0), ("3 / 0.5 sec", 3, 0.5)],
)
def test_given_rate_forms_then_count_per_period(raw: str, count: int, period: float) -> None:
    assert Settings.from_env({"RELOAD_RATE_LIMIT": raw}).rate == Rate(count, period)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("6d", 518400.0), ("30m", 1800.0), ("45", 45.0), ("1.5h", 5400.0)]
)
def test_given_duration_forms_then_seconds(raw: str, seconds: float) -> None:
    assert Settings.from_env({"RELOAD_KEEP_WARM_EVERY": raw}).keep_warm_every == seconds


def test_given_an_api_key_then_it_is_read_stripped_and_required_only_when_asked() -> None:
    assert Settings.from_env({}).api_key is None
    assert Settings.from_env({"MODELSLAB_API_KEY": "   "}).api_key is None

    settings = Settings.from_env({"MODELSLAB_API_KEY": "  sk-abc  "})

    assert settings.require_api_key() == "sk-abc"


def test_given_no_api_key_when_a_worker_needs_it_then_the_error_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}).require_api_key()

    assert str(caught.value).startswith("MODELSLAB_API_KEY is not set")
    assert "\n" not in str(caught.value)


def test_given_several_bad_values_then_the_first_read_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"^REDIS_URL="):
        Settings.from_env({"REDIS_URL": "nope", "RELOAD_MAX_IN_FLIGHT": "0"})


@pytest.mark.parametrize("typo", ["redis:localhost:6379/0", "rediss:cache.internal/1"])
def test_given_a_redis_url_missing_its_slashes_then_refused_at_start(typo: str) -> None:
    with pytest.raises(ConfigError, match=r"^REDIS_URL="):
        Settings.from_env({"REDIS_URL": typo})
