"""``reloadctl sim`` as a process: it prints its URL, serves, and exits 0 on a signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sandbox.sim.process import SimulatorError, SimulatorProcess

RELOADCTL = Path(sys.executable).with_name("reloadctl")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_console_script_prints_its_url_serves_and_exits_0_on_a_signal(signum: int) -> None:
    with subprocess.Popen(
        [str(RELOADCTL), "sim", "--key", "k", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("simulator listening on http://127.0.0.1:")
            url = line.split()[-1]
            reply = httpx.post(f"{url}/model_reload", json={"key": "k", "model_id": "m"})
            assert reply.json()["status"] == "success"
            proc.send_signal(signum)
            assert proc.wait(timeout=10) == 0
            assert proc.stderr is not None
            assert proc.stderr.read() == ""  # no traceback, no per-request log
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_it_exits_promptly_with_a_request_held_open() -> None:
    sim = SimulatorProcess(["--key", "k", "--fault", "timeout=1.0"])
    sim.start()
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{sim.base_url}/model_reload", json={"key": "k"}, timeout=0.2)
    finally:
        assert sim.stop() == 0


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SimulatorError, match=r"cannot listen on 127\.0\.0\.1"):
            SimulatorProcess(["--key", "k", "--port", str(port)], start_timeout=10).start()


def test_python_m_worker_sim_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.sim", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    assert "--queue-limit" in result.stdout
