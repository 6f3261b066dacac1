"""Given REDIS_URL naming Redis Sentinels (or TLS, or an ACL user), the settings read it into
the form kombu, Celery and redis-py all read alike; a bad value stops the start with one line
naming the variable, and never shows a password."""

from __future__ import annotations

import pytest

from worker.redis_url import SentinelUrl, parse_sentinel_url
from worker.settings import ConfigError, Settings

THREE = "sentinel://s1:26379;sentinel://s2:26380;sentinel://s3/2"


def test_three_sentinels_and_the_database_of_the_last_entry() -> None:
    settings = Settings.from_env({"REDIS_URL": THREE})

    # kombu and Celery read the database from the first entry: every entry carries it.
    assert settings.redis_url == (
        "sentinel://s1:26379/2;sentinel://s2:26380/2;sentinel://s3:26379/2"
    )
    assert parse_sentinel_url(settings.redis_url) == SentinelUrl(
        (("s1", 26379), ("s2", 26380), ("s3", 26379)), db=2
    )
    assert settings.sentinel.master == "mymaster"
    assert settings.sentinel.password is None


def test_the_broker_and_the_backend_follow_redis_url_unless_overridden() -> None:
    follows = Settings.from_env({"REDIS_URL": THREE})
    overridden = Settings.from_env(
        {"REDIS_URL": THREE, "CELERY_BROKER_URL": "amqp://guest@rabbit:5672//"}
    )
    plain_state = Settings.from_env(
        {"REDIS_URL": "redis://state:6379/0", "CELERY_RESULT_BACKEND": THREE}
    )

    assert follows.broker_url == follows.result_backend == follows.redis_url
    assert overridden.broker_url == "amqp://guest@rabbit:5672//"
    assert overridden.result_backend == follows.redis_url
    assert plain_state.result_backend == follows.redis_url
    assert plain_state.redis_url == "redis://state:6379/0"


def test_master_name_and_sentinel_password_are_read_and_the_password_is_masked() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": THREE,
            "REDIS_SENTINEL_MASTER": "reload-ha",
            "REDIS_SENTINEL_PASSWORD": "s3ntinel-pw",
        }
    )

    assert settings.sentinel.master == "reload-ha"
    assert settings.sentinel.password == "s3ntinel-pw"
    assert settings.sentinel.transport_options()["master_name"] == "reload-ha"
    assert settings.sentinel.transport_options()["sentinel_kwargs"]["password"] == "s3ntinel-pw"
    assert "s3ntinel-pw" not in repr(settings)
    assert "s3ntinel-pw" not in repr(settings.sentinel)


def test_the_masters_acl_login_on_one_entry_reaches_every_entry() -> None:
    settings = Settings.from_env(
        {"REDIS_URL": "sentinel://reloader:p%40ss@s1:26379;sentinel://s2:26379/0"}
    )

    parsed = parse_sentinel_url(settings.redis_url)
    assert (parsed.username, parsed.password) == ("reloader", "p@ss")
    assert settings.redis_url.count("reloader:p%40ss@") == 2
    assert "p%40ss" not in repr(settings) and "p@ss" not in repr(settings)


def test_a_tls_url_checks_certificates_unless_it_says_otherwise() -> None:
    default = Settings.from_env({"REDIS_URL": "rediss://reloader:pw@redis.example:6380/0"})
    relaxed = Settings.from_env(
        {"REDIS_URL": "rediss://redis.example:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem"}
    )

    assert default.redis_url == "rediss://reloader:pw@redis.example:6380/0?ssl_cert_reqs=required"
    assert "ssl_cert_reqs=none" in relaxed.redis_url
    assert "ssl_ca_certs=%2Fca.pem" in relaxed.redis_url
    assert default.broker_url == default.result_backend == default.redis_url


BAD = [
    ("REDIS_URL", "sentinel://s1:26379;redis://s2:6379/0", "one is redis://"),
    ("REDIS_URL", "sentinel://s1:26379;;sentinel://s2/0", "an empty entry"),
    ("REDIS_URL", "sentinel://:26379/0", "names no host"),
    ("REDIS_URL", "sentinel://s1:99999/0", "the port is not from 1 to 65535"),
    ("REDIS_URL", "sentinel://s1/zero", "the database 'zero' is not a number"),
    ("REDIS_URL", "sentinel://s1/1;sentinel://s2/2", "different databases: [1, 2]"),
    ("REDIS_URL", "sentinel://u:a@s1;sentinel://u:b@s2/0", "different credentials"),
    ("REDIS_URL", "sentinel://s1/0?ssl=true", "take no '?' options"),
    ("REDIS_URL", "rediss://h:6380/0?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
    ("REDIS_URL", "redis://h:70000/0", "the port is not a number from 1 to 65535"),
    ("REDIS_URL", "memcached://h:11211", "the scheme must be redis, rediss, unix or sentinel"),
    ("CELERY_BROKER_URL", "sentinel://s1/0;kafka://k", "one is kafka://"),
    ("CELERY_RESULT_BACKEND", "sentinel://s1/0;sentinel://s2/1", "different databases"),
]


@pytest.mark.parametrize(("name", "value", "detail"), BAD)
def test_a_bad_url_names_the_variable_and_the_fault(name: str, value: str, detail: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})

    message = str(caught.value)
    assert message.startswith(f"{name}=")
    assert detail in message
    assert "sentinel://host1:26379;sentinel://host2:26379/0" in message  # the expected form
    assert "\n" not in message


def test_a_bad_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": "sentinel://u:hunter2@s1/0;redis://u:hunter2@s2/0"})

    assert "hunter2" not in str(caught.value)
    assert "sentinel://u:***@s1/0;redis://u:***@s2/0" in str(caught.value)


@pytest.mark.parametrize("value", ["", "two words", "a;b"])
def test_a_bad_master_name_is_refused(value: str) -> None:
    env = {"REDIS_URL": THREE, "REDIS_SENTINEL_MASTER": value}
    if value == "":  # empty means the default
        assert Settings.from_env(env).sentinel.master == "mymaster"
        return
    with pytest.raises(ConfigError, match=r"^REDIS_SENTINEL_MASTER="):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"), [("REDIS_SENTINEL_MASTER", "mymaster"), ("REDIS_SENTINEL_PASSWORD", "pw")]
)
def test_sentinel_variables_without_a_sentinel_url_are_a_mistake(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": "redis://h:6379/0", name: value})

    assert str(caught.value).startswith(f"{name} is set but no URL names sentinels")
    assert "pw'" not in str(caught.value)
