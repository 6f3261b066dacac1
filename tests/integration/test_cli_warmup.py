"""`reloadctl warmup --wait` and `reloadctl status` against real workers: exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.slow

RELOADCTL = str(Path(sys.executable).parent / "reloadctl")


def _reloadctl(
    redis_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url}
    env.pop("MODELSLAB_API_KEY", None)  # producers never need the key
    return subprocess.run(
        [RELOADCTL, *args], env=env, input=stdin, capture_output=True, text=True, timeout=90
    )


def test_warmup_wait_exits_0_when_all_warm_and_1_when_one_fails(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
) -> None:
    sim = start_simulator("--reload-seconds", "1", "--unknown", "ghost")
    start_worker(worker_env(redis_url, sim.base_url))

    good = _reloadctl(redis_url, "warmup", "cli-a", "--file", "-", "--wait", stdin="cli-b\n# c\n")
    mixed = _reloadctl(redis_url, "warmup", "cli-a", "ghost", "--wait", "--json")

    assert good.returncode == 0, good.stderr
    assert "all 2 models warm" in good.stdout
    assert mixed.returncode == 1, mixed.stderr
    summary = json.loads(mixed.stdout)
    assert summary["warm"] == ["cli-a"]
    assert list(summary["failed"]) == ["ghost"]

    status = _reloadctl(redis_url, "status", summary["batch_id"], "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["counts"]["warm"] == 1 and shown["counts"]["failed"] == 1
    assert shown["models"]["ghost"]["state"] == "failed"


def test_status_of_an_unknown_batch_exits_2(redis_url: str) -> None:
    result = _reloadctl(redis_url, "status", "no-such-batch")

    assert result.returncode == 2
    assert "no batch" in result.stderr
