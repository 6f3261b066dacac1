"""Given nothing running and no API key, ``reloadctl demo`` warms a batch and leaves nothing behind.

The demo runs as a real subprocess, as ``make demo`` runs it. While it runs, a
thread records every descendant process (pid and start time, so a reused pid
is not mistaken for a survivor); after it exits none of them may still be alive.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

RELOADCTL = str(Path(sys.executable).parent / "reloadctl")
GENERATED_KEY = re.compile(r"demo-[0-9a-f]{32}")


class DescendantRecorder:
    """Remembers every descendant of ``pid`` seen while it runs."""

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid)
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                children = self._root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.seen.setdefault(child.pid, child.create_time())
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def survivors(self) -> list[str]:
        alive = []
        for pid, created in self.seen.items():
            try:
                process = psutil.Process(pid)
                if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{pid} {process.cmdline()}")
            except psutil.NoSuchProcess:
                pass
        return alive


def fresh_environment() -> dict[str, str]:
    """A shell with none of our settings and no API key."""
    ours = ("REDIS_URL", "CELERY_", "MODELSLAB_", "RELOAD_", "FLOWER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_demo(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    output = tmp_path / "demo.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [RELOADCTL, "demo"],
            env=fresh_environment(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, output


def stop_leftovers(process: subprocess.Popen[bytes], recorder: DescendantRecorder) -> None:
    """Whatever the test found, stop what the demo started (by the pids recorded)."""
    recorder.stop()
    if process.poll() is None:
        process.kill()
        process.wait(10)
    for pid, created in recorder.seen.items():
        try:
            survivor = psutil.Process(pid)
            if survivor.create_time() == created:
                survivor.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.mark.timeout(150)
def test_demo_warms_the_batch_reports_the_unknown_id_and_stops_everything(tmp_path: Path) -> None:
    started = time.monotonic()
    process, output = start_demo(tmp_path)
    recorder = DescendantRecorder(process.pid)
    try:
        code = process.wait(timeout=120)
        took = time.monotonic() - started
        recorder.stop()
        text = output.read_text(errors="replace")

        assert code == 0, text
        assert took < 60, f"the demo took {took:.1f} s"
        assert "warm: 39 of 40; failed: no-such-model" in text
        assert re.search(r"no-such-model\s+HTTP 404: Model not found", text), text
        assert re.search(r"Flower: http://127\.0\.0\.1:\d+ +\(user:password demo:\S+\)", text)
        assert re.search(
            r"Dashboard: http://127\.0\.0\.1:\d+ +\(user:password demo:\S+; /metrics", text
        )
        printed = {int(pid) for pid in re.findall(r"\bpid (\d+)", text)}
        assert len(printed) == 6, text  # redis, simulator, two workers, Flower, the dashboard
        assert printed <= set(recorder.seen)
        assert len(recorder.seen) > 6  # the workers' pool processes too
        assert recorder.survivors() == []
        assert not GENERATED_KEY.search(text), "the demo printed its API key"
    finally:
        stop_leftovers(process, recorder)


@pytest.mark.timeout(120)
def test_demo_stopped_by_sigterm_midway_stops_everything_it_started(tmp_path: Path) -> None:
    process, output = start_demo(tmp_path)
    recorder = DescendantRecorder(process.pid)
    try:
        deadline = time.monotonic() + 60
        while "warming 40 models" not in output.read_text(errors="replace"):
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        time.sleep(1.0)

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        recorder.stop()
        text = output.read_text(errors="replace")

        assert code == 130, text
        assert "interrupted: stopping everything the demo started" in text
        assert len(recorder.seen) >= 5
        assert recorder.survivors() == []
    finally:
        stop_leftovers(process, recorder)
