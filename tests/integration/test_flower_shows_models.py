"""Given Flower started with flowerconfig.py, its task list tells the truth about a batch.

Through Flower's HTTP API (as the task list reads it): every ``reload_model`` shows its
model id in its arguments and its result; the failed model is found by the one search the
README names (``FAILED_MODELS_SEARCH``), and only it; waits read as waits, without a
traceback; Flower's own task list page lists the columns of ``tasks_columns``.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from celery import Celery

from sandbox.embedded_redis import free_port
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env
from tests.integration.test_flower_api import wait_until_answering
from worker.dashboard.flower import FAILED_MODELS_SEARCH, tasks_columns

pytestmark = pytest.mark.slow

USER, PASSWORD = "ops", "flower-truth-secret"
UNKNOWN = "no-such-model"


def test_flower_lists_each_model_and_finds_the_failed_one_by_the_documented_search(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
    tmp_path: Path,
) -> None:
    sim = start_simulator("--reload-seconds", "1", "--unknown", UNKNOWN)
    env = worker_env(redis_url, sim.base_url)
    start_worker(env)
    port = free_port()
    flower_env = {k: v for k, v in env.items() if k != "MODELSLAB_API_KEY"}
    flower_env["FLOWER_BASIC_AUTH"] = f"{USER}:{PASSWORD}"
    flower = CeleryProcess.flower(flower_env, port=port, log_path=tmp_path / "flower.log")
    flower.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url)
        models = ["truth-1", "truth-2", UNKNOWN]
        batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
        producer.AsyncResult(batch_id).get(timeout=60)
        with httpx.Client(auth=(USER, PASSWORD), timeout=10) as client:
            deadline = time.monotonic() + 20
            while True:
                reloads = client.get(f"{url}/api/tasks", params={"taskname": "reload_model"}).json()
                done = [t for t in reloads.values() if t.get("state") == "SUCCESS"]
                if len(done) == len(models):
                    break
                assert time.monotonic() < deadline, f"Flower saw {reloads}"
                time.sleep(0.5)
            found = client.get(f"{url}/api/tasks", params={"search": FAILED_MODELS_SEARCH}).json()
            page = client.get(f"{url}/tasks").text
    finally:
        flower.terminate(timeout=10)

    shown = {ast.literal_eval(t["args"])[0]: t for t in reloads.values()}
    assert set(shown) == set(models)  # every reload_model shows its model id
    for model_id, task in shown.items():
        result = ast.literal_eval(task["result"])
        assert result["model_id"] == model_id
        assert result["state"] == ("failed" if model_id == UNKNOWN else "warm")
    assert [ast.literal_eval(t["args"])[0] for t in found.values()] == [UNKNOWN]
    waits = [t for t in shown.values() if t.get("exception")]
    assert waits, "the warm models waited for their confirmation"
    for task in waits:
        assert task["exception"].startswith("waiting: "), task["exception"]
        assert not task.get("traceback"), task["traceback"]
    # Flower's task list page has the columns of flowerconfig.py, in that order.
    assert re.findall(r'<th data-column="([a-z_]+)"', page) == tasks_columns.split(",")
