"""Given a sentinel, TLS or ACL URL, the state client, the broker and the result backend each get
it with the master's name, the credentials and connections that follow a failover; a demoted
master's READONLY is a lost connection for them, never a failed command; and every Lua script
holder reloads its scripts on a master that never saw them (NOSCRIPT)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Connection
from redis.commands.core import Script
from redis.sentinel import SentinelConnectionPool

from sandbox.embedded_redis import EmbeddedRedis
from worker import producer
from worker.batch.keepwarm import KeepWarmStore
from worker.celery import celery_config
from worker.messaging.broker import SentinelChannel, SentinelTransport
from worker.messaging.results import ResultBackend, SentinelResultBackend
from worker.redis_url import (
    FailoverSentinelConnection,
    FailoverSSLConnection,
    connect,
)
from worker.runtime import build_runtime
from worker.settings import Settings

SENTINELS = "sentinel://reloader:m%40ster-pw@s1:26379;sentinel://s2:26380/3"
TLS_ACL = "rediss://reloader:tls-pw@redis.example:6380/1"


def sentinel_settings() -> Settings:
    return Settings.from_env(
        {
            "REDIS_URL": SENTINELS,
            "REDIS_SENTINEL_MASTER": "reload-ha",
            "REDIS_SENTINEL_PASSWORD": "sentinel-pw",
        }
    )


def test_the_state_client_asks_the_sentinels_for_the_master() -> None:
    settings = sentinel_settings()
    client = producer.build_redis(settings.redis_url, settings.sentinel)

    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "reload-ha" and pool.is_master
    manager = pool.sentinel_manager
    addresses = [s.connection_pool.connection_kwargs for s in manager.sentinels]
    assert [(a["host"], a["port"]) for a in addresses] == [("s1", 26379), ("s2", 26380)]
    assert all(a["password"] == "sentinel-pw" for a in addresses)
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["username"], kwargs["password"]) == (3, "reloader", "m@ster-pw")
    assert pool.connection_class is FailoverSentinelConnection
    # A master being elected is a connection error, retried like an outage.
    assert kwargs["retry"].get_retries() == producer.REDIS_RETRIES
    assert redis.ConnectionError in kwargs["retry_on_error"]
    client.close()


def test_the_state_client_over_tls_with_an_acl_user() -> None:
    settings = Settings.from_env({"REDIS_URL": TLS_ACL})
    client = producer.build_redis(settings.redis_url, settings.sentinel)

    pool = client.connection_pool
    assert pool.connection_class is FailoverSSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.example", 6380, 1)
    assert (kwargs["username"], kwargs["password"]) == ("reloader", "tls-pw")
    assert kwargs["ssl_cert_reqs"] == "required"
    client.close()


def channel_of(config: dict[str, Any]) -> Any:
    """The broker channel Celery would open, without connecting (kombu's ``__init__`` pings)."""
    conn = Connection(
        config["broker_url"],
        transport=config["broker_transport"],
        transport_options=config["broker_transport_options"],
    )
    channel_cls = conn.transport.Channel
    channel = channel_cls.__new__(channel_cls)
    channel.connection = conn.transport
    for name in channel_cls.from_transport_options:
        if name in conn.transport_options:
            setattr(channel, name, conn.transport_options[name])
    return channel


def test_the_broker_uses_the_sentinel_transport_with_the_master_name() -> None:
    config = celery_config(sentinel_settings())
    channel = channel_of(config)

    assert config["broker_transport"] == "worker.messaging.broker:SentinelTransport"
    assert isinstance(channel.connection, SentinelTransport)
    assert isinstance(channel, SentinelChannel)
    pool = channel._sentinel_managed_pool()
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "reload-ha"
    hosts = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(h["host"], h["port"]) for h in hosts] == [("s1", 26379), ("s2", 26380)]
    assert all(h["password"] == "sentinel-pw" for h in hosts)
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["username"], kwargs["password"]) == (3, "reloader", "m@ster-pw")
    assert issubclass(pool.connection_class, FailoverSentinelConnection)


def test_the_broker_over_tls_with_an_acl_user() -> None:
    config = celery_config(Settings.from_env({"REDIS_URL": TLS_ACL}))
    params = channel_of(config)._connparams()

    assert config["broker_transport"] == "worker.messaging.broker:Transport"
    assert (params["host"], params["port"], params["db"]) == ("redis.example", 6380, 1)
    assert (params["username"], params["password"]) == ("reloader", "tls-pw")
    assert params["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert issubclass(params["connection_class"], FailoverSSLConnection)


def backend_of(settings: Settings) -> Any:
    app = Celery(set_as_current=False)
    app.config_from_object(celery_config(settings))
    return app.backend


def test_the_result_backend_asks_the_sentinels_for_the_master() -> None:
    backend = backend_of(sentinel_settings())

    assert isinstance(backend, SentinelResultBackend)
    params = backend.connparams
    assert [(h["host"], h["port"]) for h in params["hosts"]] == [("s1", 26379), ("s2", 26380)]
    assert (params["db"], params["username"], params["password"]) == (3, "reloader", "m@ster-pw")
    pool = backend.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "reload-ha"
    assert pool.connection_class is FailoverSentinelConnection
    hosts = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert all(h["password"] == "sentinel-pw" for h in hosts)
    assert "m@ster-pw" not in backend.as_uri() and "m%40ster-pw" not in backend.as_uri()


def test_the_result_backend_over_tls_with_an_acl_user() -> None:
    backend = backend_of(Settings.from_env({"REDIS_URL": TLS_ACL}))

    assert type(backend) is ResultBackend
    params = backend.connparams
    assert (params["host"], params["port"], params["db"]) == ("redis.example", 6380, 1)
    assert (params["username"], params["password"]) == ("reloader", "tls-pw")
    assert params["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert backend.client.connection_pool.connection_class is FailoverSSLConnection


@pytest.fixture(scope="module")
def replica() -> Iterator[EmbeddedRedis]:
    """A read-only replica, as a demoted master is after a failover."""
    master = EmbeddedRedis(appendonly=False)
    with master, EmbeddedRedis(appendonly=False, replica_of=master) as server:
        yield server


WRITES = {
    "a command": lambda client: client.set("k", "v"),
    "a Lua script": lambda client: client.register_script("return redis.call('SET', 'k', 1)")(),
    "a pipeline": lambda client: client.pipeline().set("k", "v").incr("n").execute(),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_demoted_masters_readonly_is_a_lost_connection(
    replica: EmbeddedRedis, write: str
) -> None:
    ours = connect(replica.url, socket_timeout=2)
    stock = redis.Redis.from_url(replica.url, socket_timeout=2)

    with pytest.raises(redis.ConnectionError, match="read-only replica now"):
        WRITES[write](ours)
    # Stock redis-py raises a ResponseError (ReadOnlyError, or inside a script's error):
    # not retried, and, in kombu or Celery, not a reason to reconnect.
    with pytest.raises(redis.ResponseError, match=r"READONLY|read only replica"):
        WRITES[write](stock)
    assert ours.ping() is True  # the connection was dropped and is made again
    ours.close()
    stock.close()


def test_a_script_is_loaded_again_on_a_master_that_never_saw_it(
    redis_server: EmbeddedRedis,
) -> None:
    client = connect(redis_server.url_for_db(15))
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    client.delete("noscript-probe")
    assert script(keys=["noscript-probe"]) == 1

    client.script_flush()  # what a promoted replica's script cache holds: nothing
    assert client.script_exists(script.sha) == [False]

    assert script(keys=["noscript-probe"]) == 2
    client.delete("noscript-probe")
    client.close()


def scripts_of(holder: object) -> list[Script]:
    return [value for value in vars(holder).values() if isinstance(value, Script)]


def test_every_script_holder_uses_redis_py_scripts_on_the_state_client(
    redis_server: EmbeddedRedis,
) -> None:
    """Limiter, breaker, flights, ledger, parking lot, keep-warm: each holds redis-py ``Script``
    objects registered on the process's client, which load themselves again on NOSCRIPT
    (previous test); none keeps a SHA of its own to call EVALSHA with."""
    settings = Settings.from_env(
        {"REDIS_URL": redis_server.url_for_db(15), "MODELSLAB_API_KEY": "sk-scripts"}
    )
    producer.configure(settings)
    try:
        runtime = build_runtime(settings)
        client = runtime.redis
        holders = {
            "limiter": runtime.limiter,
            "breaker": runtime.reloader.breaker,
            "flights": runtime.reloader.flights,
            "ledger": runtime.ledger,
            "parking lot": producer.parking_lot(),
            "keep-warm": KeepWarmStore(client),
        }
        for name, holder in holders.items():
            scripts = scripts_of(holder)
            assert scripts, f"{name} holds no script"
            assert all(s.registered_client is client for s in scripts), name
        runtime.close()
    finally:
        producer.configure(Settings())
