"""Given a worker on a real Redis, stock Celery tools that know nothing of this project read it.

Nothing here imports the project's app or passes ``-A worker``: a plain
``Celery(broker=url, backend=url)`` gets the worker's ``ping`` and its
registered tasks; ``celery --broker=URL inspect ping``, run from another
directory, exits 0 with the worker's pong; Flower started with ``--broker``
only lists the worker. And what the worker leaves in Redis, on the ``reload``
list and in kombu's ``unacked`` hash, is kombu's standard JSON envelope with a
base64 body that decodes to the task's ``[args, kwargs, embed]``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from sandbox.embedded_redis import free_port
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env
from tests.integration.reliability import wait_until
from tests.integration.test_flower_api import wait_until_answering

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CELERY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "celery"
USER, PASSWORD = "ops", "interop-test-secret"


@pytest.fixture
def worker_name(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
) -> str:
    """One worker (``w1@<host>``) on this Redis; its node name as the control replies name it."""
    sim = start_simulator("--reload-seconds", "0.5")
    worker = start_worker(worker_env(redis_url, sim.base_url), concurrency=1)
    wait_until(lambda: "w1@" in worker.log(), timeout=10, what="the worker's name in its log")
    stock = Celery("stock", broker=redis_url, backend=redis_url, set_as_current=False)
    try:
        replies = stock.control.inspect(timeout=10, limit=1).ping() or {}
    finally:
        stock.close()
    assert len(replies) == 1, replies
    return next(iter(replies))


def test_a_plain_celery_app_gets_ping_and_registered_tasks(
    redis_url: str, worker_name: str
) -> None:
    stock = Celery("stock", broker=redis_url, backend=redis_url, set_as_current=False)
    try:
        inspect = stock.control.inspect(timeout=10, limit=1)  # one worker: its reply ends it
        assert inspect.ping() == {worker_name: {"ok": "pong"}}
        registered = inspect.registered() or {}
    finally:
        stock.close()

    assert worker_name.startswith("w1@")
    assert {"reload_model", "warmup_batch"} <= set(registered[worker_name])


def test_the_celery_command_without_the_project_pings_the_worker(
    redis_url: str, worker_name: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(CELERY), f"--broker={redis_url}", "inspect", "ping", "--timeout", "5"],
        cwd=tmp_path,  # not the project: nothing to import from there
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"->  {worker_name}: OK\n        pong" in done.stdout
    assert "1 node online." in done.stdout


def test_flower_started_with_the_broker_only_lists_the_worker(
    redis_url: str, worker_name: str, tmp_path: Path
) -> None:
    port = free_port()
    flower = CeleryProcess(
        [f"--broker={redis_url}", "flower", f"--port={port}", "--address=127.0.0.1",
         f"--basic-auth={USER}:{PASSWORD}"],
        {"PATH": "/usr/bin:/bin"},
        tmp_path / "flower.log",
        app=None,
    )  # fmt: skip
    flower.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(url)
        deadline = time.monotonic() + 30
        with httpx.Client(auth=(USER, PASSWORD), timeout=10) as client:
            while True:
                workers = client.get(f"{url}/api/workers", params={"refresh": 1}).json()
                if worker_name in workers:
                    break
                assert time.monotonic() < deadline, f"Flower lists {list(workers)}"
                time.sleep(1)
        assert {"reload_model", "warmup_batch"} <= set(workers[worker_name]["registered"])
        assert "Traceback" not in flower.log()
    finally:
        flower.terminate(timeout=10)


def assert_standard_envelope(raw: bytes | str) -> tuple[str, list[Any]]:
    """A kombu 5.7 envelope: JSON with these keys, a base64 JSON body; (task name, body)."""
    message = json.loads(raw)
    assert isinstance(message, dict), raw
    assert {"body", "headers", "properties", "content-type"} <= message.keys()
    assert message["content-type"] == "application/json"
    assert message["properties"]["body_encoding"] == "base64"
    body = json.loads(base64.b64decode(message["body"]))
    assert isinstance(body, list) and len(body) == 3, body
    return message["headers"]["task"], body


def test_what_the_worker_leaves_in_redis_is_kombus_standard_envelope(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    # A slow upstream (2 s a call) and one process: while it holds one reload (unacked,
    # acks late), the reloads its warmup_batch published wait on the list.
    sim = start_simulator("--reload-seconds", "0.5", "--latency", "2")
    start_worker(worker_env(redis_url, sim.base_url), concurrency=1)
    client = redis.Redis.from_url(redis_url)
    ids = [f"env-{i}" for i in range(4)]
    try:
        producer.send_task("warmup_batch", args=[ids])

        def both_held() -> bool:
            queued = client.lrange("reload", 0, -1)
            return bool(client.hlen("unacked")) and any(b"reload_model" in m for m in queued)

        wait_until(both_held, timeout=30, what="a reload queued and one held")
        queued = client.lrange("reload", 0, -1)
        held = [json.loads(entry)[0] for entry in client.hvals("unacked")]
    finally:
        client.close()

    for raw in queued:
        task, body = assert_standard_envelope(raw)
        if task == "reload_model":
            args, kwargs, embed = body
            assert args[0] in ids and isinstance(kwargs, dict) and isinstance(embed, dict)
    for envelope in held:
        assert_standard_envelope(json.dumps(envelope))
