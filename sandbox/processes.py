"""Child processes of the demo, the tests and the benchmarks: Celery workers, beat, Flower
and the dashboard.

Each ``CeleryProcess`` runs ``python -m celery -A worker ...`` in a session of its own, logs to a
file, and is stopped by its own pid: SIGTERM (a warm shutdown), then SIGKILL to its process group::

    with CeleryProcess.worker(env, name="w1", concurrency=2, log_dir=tmp) as w:
        w.kill()  # SIGKILL, as a crash would
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["FLOWER_CONFIG", "CeleryProcess"]

# Flower's configuration for this project (the task list's columns, format_task).
FLOWER_CONFIG = Path(__file__).resolve().parents[1] / "flowerconfig.py"


class CeleryProcess:
    """One ``celery -A worker <command>`` child process and its log file."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        app: str | None = "worker",
    ) -> None:
        """``app=None`` runs plain ``celery ARGS`` (no ``-A``): a stock Celery tool."""
        self.command = next((arg for arg in args if not arg.startswith("-")), "celery")
        self.args = [sys.executable, "-m", "celery", *(["-A", app] if app else []), *args]
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def worker(
        cls,
        env: Mapping[str, str],
        *,
        name: str,
        log_dir: Path,
        concurrency: int = 2,
        pool: str = "prefork",
        extra: Sequence[str] = (),
    ) -> CeleryProcess:
        """A ``celery -A worker worker`` (not started), logging to ``<log_dir>/<name>.log``.

        Parameters:
            env: the worker's environment.
            name: its node name (``<name>@<host>``).
            log_dir: the directory of its log file.
            concurrency: its pool's size.
            pool: its pool kind (``prefork``, ``threads``, ``solo``...).
            extra: more command-line arguments.
        """
        args = [
            "worker",
            "--hostname", f"{name}@%h",
            "--pool", pool,
            "--concurrency", str(concurrency),
            "--loglevel", "INFO",
            "--without-gossip",
            "--without-mingle",
            *extra,
        ]  # fmt: skip
        return cls(args, env, log_dir / f"{name}.log")

    @classmethod
    def flower(cls, env: Mapping[str, str], *, port: int, log_path: Path) -> CeleryProcess:
        """``celery -A worker flower`` on 127.0.0.1:``port`` with ``flowerconfig.py``."""
        args = ["flower", f"--port={port}", "--address=127.0.0.1"]
        if FLOWER_CONFIG.exists():
            args.append(f"--conf={FLOWER_CONFIG}")
        return cls(args, env, log_path)

    @classmethod
    def dashboard(cls, env: Mapping[str, str], *, port: int, log_path: Path) -> CeleryProcess:
        """``reloadctl dashboard`` on 127.0.0.1:``port`` (it prints ``dashboard: <url>``)."""
        process = cls(["dashboard"], env, log_path)
        reloadctl = Path(sys.executable).parent / "reloadctl"
        process.args = [str(reloadctl), "dashboard", "--host=127.0.0.1", f"--port={port}"]
        return process

    @property
    def pid(self) -> int:
        """The child's process id; ``RuntimeError`` before it is started."""
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    def start(self) -> CeleryProcess:
        """Start the child in a session of its own, appending to its log; ``self``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the pool goes with it
            )
        return self

    def running(self) -> bool:
        """Whether the child was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """The log file's text so far ('' before there is one)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        """Block until ``text`` appears in the log (e.g. "ready."), or raise with the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if not self.running():
                raise RuntimeError(f"{self.command} exited early:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{text!r} not in the log after {timeout}s:\n{self.log()[-3000:]}")

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (warm shutdown), then SIGKILL to the whole group after ``timeout``."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._kill_group()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL the process and its pool children at once, as a crash would."""
        process = self.process
        if process is None:
            return
        self._kill_group()
        process.wait(10)

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # the group we created, by its leader's pid
            os.killpg(self.process.pid, signal.SIGKILL)

    def __enter__(self) -> CeleryProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()
