"""Given Flower watching a batch against a faulty upstream, nothing Flower serves holds the key.

Injected: 500 and HTTP-200-error faults at 20 % each and an unknown model.
Flower runs with the worker's own environment (the key included, the worst
case) and its HTTP API enabled; its task list, each task's detail, the worker
list (with ``inspect`` data: conf, stats, registered) and its HTML pages are
searched for the key, raw and base64-encoded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from celery import Celery

from sandbox.embedded_redis import free_port
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import API_KEY, worker_env
from tests.integration.reliability import wait_until
from tests.integration.test_secrets_never_leak import secret_forms

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MODELS = [f"fl-{i:02d}" for i in range(6)] + ["fl-missing"]


def test_flower_api_and_pages_never_show_the_key(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
    tmp_path: Path,
) -> None:
    sim = start_simulator(
        "--reload-seconds", "0.5",
        "--unknown", "fl-missing",
        "--fault", "500=0.2",
        "--fault", "error200=0.2",
    )  # fmt: skip
    env = worker_env(redis_url, sim.base_url)
    port = free_port()
    flower = CeleryProcess(
        ["flower", f"--port={port}", "--address=127.0.0.1"],
        {**env, "FLOWER_UNAUTHENTICATED_API": "true"},
        tmp_path / "flower.log",
    )
    try:
        flower.start()
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{base}/healthcheck"), timeout=30, what="Flower", every=0.2)
        start_worker(env, concurrency=2)
        batch_id = producer.send_task("warmup_batch", args=[MODELS]).get(timeout=30)
        summary = producer.AsyncResult(batch_id).get(timeout=60)
        time.sleep(2)  # let Flower take in the last events

        tasks = httpx.get(f"{base}/api/tasks", timeout=10)
        assert tasks.status_code == 200
        assert len(tasks.json()) >= len(MODELS)
        pages = [tasks.content]
        for task_id in list(tasks.json())[:40]:
            pages.append(httpx.get(f"{base}/api/task/info/{task_id}", timeout=10).content)
            pages.append(httpx.get(f"{base}/task/{task_id}", timeout=10).content)
        pages.append(httpx.get(f"{base}/api/workers", params={"refresh": 1}, timeout=20).content)
        for path in ("/", "/tasks", "/workers", "/broker"):
            pages.append(httpx.get(f"{base}{path}", timeout=10).content)
    finally:
        flower.terminate(timeout=10)

    assert list(summary["failed"]) == ["fl-missing"]
    assert b"reload_model" in pages[0]
    forms = secret_forms(API_KEY)
    leaked = [index for index, page in enumerate(pages) if any(f in page for f in forms)]
    assert leaked == []
    assert not any(form in flower.log().encode() for form in forms)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
