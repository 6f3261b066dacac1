"""A producer that forgets ``queue="reload"`` (Celery's default queue is ``celery``): ``reloadctl
status`` warns about the stranded message, and a worker warns naming the fix, moves it to the
reload queue, and the batch completes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env
from worker.client import client_app

pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
def test_a_batch_sent_without_the_queue_is_reported_and_still_completes(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
) -> None:
    sim = start_simulator("--reload-seconds", "0.5")
    env = worker_env(redis_url, sim.base_url)
    careless = client_app(redis_url, redis_url, name="careless")
    careless.conf.task_default_queue = "celery"  # what a producer gets without queue=...
    try:
        sent = careless.send_task("warmup_batch", args=[["m1", "m2"]])

        status = subprocess.run(
            [str(Path(sys.executable).parent / "reloadctl"), "status", sent.id],
            env={**env, "MODELSLAB_API_KEY": ""},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        worker = start_worker(env)
        batch_id = sent.get(timeout=30)
        result = careless.AsyncResult(batch_id)
        summary = result.get(timeout=60)
        for done in (sent, result):  # else AsyncResult.__del__ reconnects at interpreter exit
            careless.backend.remove_pending_result(done)
    finally:
        careless.close()

    assert status.returncode == 2, status.stderr
    assert "warning: 1 warmup_batch message(s) wait on Celery's default queue 'celery'" in (
        status.stderr
    )
    assert 'send_task("warmup_batch", ..., queue="reload")' in status.stderr
    assert sorted(summary["warm"]) == ["m1", "m2"]
    log = worker.log()
    assert "MISROUTED TASKS: 1 warmup_batch message(s)" in log
    assert "Moved 1 of them to the 'reload' queue" in log
