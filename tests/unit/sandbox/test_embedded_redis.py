"""The embedded Redis helper starts a real server, persists across restarts and stops by pid."""

from __future__ import annotations

import os

import pytest
import redis

from sandbox.embedded_redis import EmbeddedRedis, find_redis_server


def test_finds_a_redis_server_binary() -> None:
    assert os.access(find_redis_server(), os.X_OK)


def test_starts_answers_and_stops_by_pid() -> None:
    with EmbeddedRedis() as server:
        pid = server.pid
        assert pid is not None
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_restart_keeps_the_data_and_the_port() -> None:
    with EmbeddedRedis() as server:
        port = server.port
        client = redis.Redis.from_url(server.url)
        client.set("survives", "yes")
        client.close()
        server.restart()
        assert server.port == port
        client = redis.Redis.from_url(server.url)
        assert client.get("survives") == b"yes"
        client.close()


def test_close_removes_its_temporary_directory() -> None:
    server = EmbeddedRedis().start()
    data_dir = server.data_dir
    assert data_dir.is_dir()
    server.close()
    assert not data_dir.exists()
