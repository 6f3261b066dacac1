"""The embedded Redis helper starts a real server, persists across restarts and stops by pid."""

from __future__ import annotations

import os
import signal

import pytest
import redis

from sandbox.embedded_redis import EmbeddedRedis, SentinelGroup, find_redis_server


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


def test_a_sentinel_group_promotes_the_replica_when_the_master_dies() -> None:
    group = SentinelGroup(replicas=1, sentinels=3, down_after=500, failover_timeout=2000)
    with group:
        old, replica = group.master.port, group.replicas[0]
        assert group.master_port() == old
        assert group.url.count("sentinel://127.0.0.1:") == 3
        pids = [s.pid for s in [*group.servers, *group.sentinels]]
        assert group.master.pid is not None
        os.kill(group.master.pid, signal.SIGKILL)

        assert group.wait_for_new_master(old, timeout=30) == replica.port
        client = redis.Redis(port=replica.port)
        assert client.info("replication")["role"] == "master"
        client.close()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
