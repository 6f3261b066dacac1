"""Given Flower with basic auth, a service starts a batch over HTTP and reads its summary there.

A real Redis database, the simulator, one worker and ``celery -A worker flower``
(``FLOWER_BASIC_AUTH``): without credentials the API answers 401; with them,
``POST /api/task/async-apply/warmup_batch`` returns a task id whose result is
the batch id, and ``GET /api/task/result/<batch_id>`` returns the summary once
every model is final. What Flower shows of the tasks holds model and batch ids,
never the API key.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.embedded_redis import free_port
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import API_KEY, worker_env

pytestmark = pytest.mark.slow

USER, PASSWORD = "ops", "flower-test-secret"


def wait_until_answering(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing answered at {url} after {timeout}s")


@pytest.fixture
def flower_env(redis_url: str, start_simulator: Callable[..., SimulatorProcess]) -> dict[str, str]:
    sim = start_simulator("--reload-seconds", "1", "--unknown", "ghost")
    return worker_env(redis_url, sim.base_url)


@pytest.fixture
def flower(flower_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """Flower on a free port with basic auth and no API key in its environment; its URL."""
    port = free_port()
    env = {k: v for k, v in flower_env.items() if k != "MODELSLAB_API_KEY"}
    env["FLOWER_BASIC_AUTH"] = f"{USER}:{PASSWORD}"
    process = CeleryProcess(
        ["flower", f"--port={port}", "--address=127.0.0.1"], env, tmp_path / "flower.log"
    )
    process.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(url)
        yield url
    finally:
        process.terminate(timeout=10)


def poll_result(client: httpx.Client, url: str, task_id: str, timeout: float) -> dict[str, Any]:
    """``GET /api/task/result/<id>`` until its state is SUCCESS (or FAILURE)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{url}/api/task/result/{task_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] in {"SUCCESS", "FAILURE"}:
            return body
        assert time.monotonic() < deadline, f"task {task_id} still {body['state']}"
        time.sleep(0.3)


def test_api_refuses_requests_without_credentials(flower: str) -> None:
    assert httpx.get(f"{flower}/api/tasks", timeout=5).status_code == 401
    wrong = httpx.post(
        f"{flower}/api/task/async-apply/warmup_batch",
        json={"args": [["m1"]]},
        auth=(USER, "wrong"),
        timeout=5,
    )
    assert wrong.status_code == 401


def test_batch_started_over_http_and_its_summary_read_back(
    flower: str,
    flower_env: dict[str, str],
    start_worker: Callable[..., CeleryProcess],
) -> None:
    worker = start_worker(flower_env)
    with httpx.Client(auth=(USER, PASSWORD), timeout=10) as client:
        started = client.post(
            f"{flower}/api/task/async-apply/warmup_batch", json={"args": [["m1", "m2", "ghost"]]}
        )
        assert started.status_code == 200, started.text
        task_id = started.json()["task-id"]

        batch = poll_result(client, flower, task_id, timeout=30)
        assert batch["state"] == "SUCCESS", batch
        batch_id = batch["result"]
        assert isinstance(batch_id, str) and batch_id

        summary = poll_result(client, flower, batch_id, timeout=60)["result"]
        assert summary["batch_id"] == batch_id
        assert sorted(summary["warm"]) == ["m1", "m2"]
        assert list(summary["failed"]) == ["ghost"]

        # What Flower shows of the tasks (names, args, results) never holds the API key.
        deadline = time.monotonic() + 15
        while True:
            tasks = client.get(f"{flower}/api/tasks").json()
            names = {t.get("name") for t in tasks.values()}
            if {"warmup_batch", "reload_model", "batch_finished"} <= names:
                break
            assert time.monotonic() < deadline, f"Flower saw only {names}"
            time.sleep(0.5)
    shown = json.dumps(tasks)
    assert API_KEY not in shown
    assert API_KEY not in worker.log()
    # Arguments hold ids only: a model id and its batch id, or the list of model ids.
    for task in tasks.values():
        args = list(ast.literal_eval(task["args"])) if task.get("args") else []
        if task.get("name") == "reload_model":
            assert args in [[m, batch_id] for m in ("m1", "m2", "ghost")]
        if task.get("name") == "warmup_batch":
            assert args == [["m1", "m2", "ghost"]]
        if task.get("name") == "batch_finished":
            assert args == [batch_id]
    # Each reload shows its waits as retries with their reason (parked in Redis, not in
    # the broker, but reported to Flower as Celery retries are).
    reloads = [t for t in tasks.values() if t.get("name") == "reload_model"]
    assert len(reloads) == 3
    for task in reloads:
        assert task["state"] == "SUCCESS", task
    warm = [t for t in reloads if "ghost" not in t["args"]]
    assert all(t["retries"] >= 1 for t in warm), warm
    assert all("accepted; confirming" in (t.get("exception") or "") for t in warm), warm
