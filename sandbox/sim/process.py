"""Start the simulator as a child process and stop it again, by its own pid.

    with SimulatorProcess(["--key", "k", "--reload-seconds", "1"]) as sim:
        httpx.post(f"{sim.base_url}/model_reload", json={...})

The child runs ``python -m sandbox.sim ARGS`` on a free port unless ``--port`` is given; its
stderr's tail is quoted when the start fails. Stopping is SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, NoReturn

import httpx

LISTENING_PREFIX = "simulator listening on "


class SimulatorError(RuntimeError):
    """The simulator process did not start (or did not answer) as expected."""


class SimulatorProcess:
    """One simulator child process; a context manager that always stops it.

    Parameters:
        args: ``reloadctl sim`` options (``--port 0``, a free port, is added unless given).
        start_timeout: seconds ``start`` waits for the child to listen and answer.
        stop_timeout: seconds ``stop`` waits after SIGTERM before SIGKILL.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        start_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.args = list(args)
        if not any(a == "--port" or a.startswith("--port=") for a in self.args):
            self.args += ["--port", "0"]
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.base_url = ""
        self.returncode: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        """The child's pid.

        Raises:
            SimulatorError: the child was not started.
        """
        if self._proc is None:
            raise SimulatorError("not started")
        return self._proc.pid

    def start(self) -> str:
        """Start the child and wait until it answers.

        Returns:
            Its base URL, ``http://host:port``.

        Raises:
            SimulatorError: it did not listen or answer within ``start_timeout`` (the child is
                stopped and the end of its stderr quoted).
        """
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.sim", *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        try:
            line = self._lines.get(timeout=self.start_timeout)
        except queue.Empty:
            line = None
        if line is None or not line.startswith(LISTENING_PREFIX):
            self._fail(f"simulator did not start: first line {line!r}")
        self.base_url = line[len(LISTENING_PREFIX) :].strip()
        self._wait_until_answering(deadline)
        return self.base_url

    def stop(self) -> int:
        """Stop the child (SIGTERM, then SIGKILL) and release everything.

        Returns:
            The child's exit code.

        Raises:
            SimulatorError: the child was not started.
        """
        proc = self._proc
        if proc is None:
            raise SimulatorError("not started")
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=self.stop_timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.returncode = proc.returncode
        return proc.returncode

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._proc is not None and self.returncode is None:
            self.stop()

    def _drain(self) -> None:
        """Read the child's stdout to the end, so it can never block on a full pipe."""
        stdout = self._proc.stdout if self._proc is not None else None
        if stdout is not None:
            for line in stdout:
                self._lines.put(line)
        self._lines.put(None)

    def _wait_until_answering(self, deadline: float) -> None:
        last_error: Exception | None = None
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get(f"{self.base_url}/_sim/ledger").status_code == 200:
                        return
                except httpx.TransportError as exc:
                    last_error = exc
                time.sleep(0.02)
        self._fail(f"simulator at {self.base_url} did not answer: {last_error}")

    def _fail(self, message: str) -> NoReturn:
        """Stop the child and raise, quoting the end of its stderr."""
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            tail = self._stderr.read()[-2000:].decode(errors="replace")
        self.stop()
        raise SimulatorError(f"{message}\nstderr:\n{tail}" if tail else message)
