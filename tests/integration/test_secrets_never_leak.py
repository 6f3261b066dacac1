"""Given a full batch run against a faulty upstream, the API key appears nowhere but in the
worker's environment: not in any Redis database, not in the worker's logs, not in the CLI.
And a worker without a key refuses to start, saying which variable is missing.

Injected: faults (500, HTML 502, HTTP-200 error, legacy ``messege`` bodies,
non-object JSON, a 429 with a string ``retry_after``) at 10 % each, one unknown
model (a 404 with the upstream's reason), a webhook callback, a worker logging
at DEBUG. Then every key and value of every type in Redis databases 0-15 is
read, and searched for the key, raw and base64-encoded at every alignment
(kombu stores message bodies in base64).
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from sandbox.embedded_redis import EmbeddedRedis
from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import API_KEY, ledger_of, worker_env
from tests.integration.reliability import wait_until
from tests.integration.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[2]
MODELS = [f"s-{i:02d}" for i in range(8)] + ["missing-model"]


def secret_forms(secret: str) -> list[bytes]:
    """The secret as bytes, and the runs of base64 text it becomes at each of 3 alignments."""
    raw = secret.encode()
    forms = [raw]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        # Drop the characters that mix in the padding or the following bytes.
        forms.append(encoded[4 * ((pad + 2) // 3) : -4])
    return forms


def redis_dump(server: EmbeddedRedis) -> Iterator[tuple[int, bytes, bytes]]:
    """(db, key, value) for every key in databases 0-15, values of every type."""
    for db in range(16):
        client = redis.Redis.from_url(server.url_for_db(db))
        try:
            for key in client.scan_iter(count=1000):
                kind = client.type(key)
                if kind == b"string":
                    value = client.get(key) or b""
                    yield db, key, value
                elif kind == b"hash":
                    for field, item in client.hgetall(key).items():
                        yield db, key, field + b"=" + item
                elif kind == b"list":
                    for item in client.lrange(key, 0, -1):
                        yield db, key, item
                elif kind == b"set":
                    for item in client.smembers(key):
                        yield db, key, item
                elif kind == b"zset":
                    for member, _ in client.zrange(key, 0, -1, withscores=True):
                        yield db, key, member
                elif kind == b"stream":
                    for entry_id, fields in client.xrange(key):
                        yield db, key, entry_id + repr(fields).encode()
                else:
                    yield db, key, b""
        finally:
            client.close()


def test_the_api_key_never_leaks_into_redis_logs_or_the_cli(
    redis_server: EmbeddedRedis,
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    producer: Celery,
    tmp_path: Path,
) -> None:
    sim = start_simulator(
        "--reload-seconds", "0.5",
        "--unknown", "missing-model",
        "--retry-after", "1",
        "--fault", "500=0.1",
        "--fault", "html502=0.1",
        "--fault", "error200=0.1",
        "--fault", "legacy=0.1",
        "--fault", "nonobject=0.1",
        "--fault", "retry_after_string=0.1",
    )  # fmt: skip
    env = worker_env(redis_url, sim.base_url, RELOAD_MAX_RETRIES="6")
    worker = CeleryProcess.worker(
        env, name="secret", log_dir=tmp_path, concurrency=2, extra=["--loglevel", "DEBUG"]
    )
    try:
        worker.start()
        worker.wait_for_log("ready.", timeout=60)
        with WebhookReceiver() as hook:
            batch_id = producer.send_task(
                "warmup_batch", args=[MODELS], kwargs={"callback_url": hook.url}
            ).get(timeout=30)
            summary = producer.AsyncResult(batch_id).get(timeout=90)
            single = producer.send_task("reload_model", args=["s-00"]).get(timeout=30)
            wait_until(lambda: bool(hook.bodies), timeout=30, what="the webhook")
    finally:
        worker.terminate(timeout=15)

    assert sorted(summary["warm"]) == MODELS[:-1]
    assert list(summary["failed"]) == ["missing-model"]
    assert single["state"] == "warm"
    assert sum(ledger_of(sim)["faults"].values()) > 0
    forms = secret_forms(API_KEY)

    # Every key and value, every type, every database.
    leaks = [
        (db, key[:80], value[:200])
        for db, key, value in redis_dump(redis_server)
        if any(form in key or form in value for form in forms)
    ]
    assert leaks == []

    # The worker's own log, at DEBUG.
    log = worker.log().encode()
    assert b"ready." in log and b"reload_model" in log
    assert not any(form in log for form in forms)

    # The webhook body.
    assert hook.bodies and API_KEY not in repr(hook.bodies)

    # The CLI, as JSON and as a table.
    cli_env = {**os.environ, "REDIS_URL": redis_url}
    cli_env.pop("MODELSLAB_API_KEY", None)
    for args in (["status", batch_id, "--json"], ["status", batch_id]):
        done = subprocess.run(
            [str(REPO / ".venv" / "bin" / "reloadctl"), *args],
            env=cli_env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr.decode()[-2000:]
        output = done.stdout + done.stderr
        assert batch_id.encode() in output
        assert not any(form in output for form in forms)


def test_a_worker_without_a_key_refuses_to_start_and_names_the_variable(
    redis_url: str, tmp_path: Path
) -> None:
    env = worker_env(redis_url, "http://127.0.0.1:9")
    del env["MODELSLAB_API_KEY"]
    worker = CeleryProcess.worker(env, name="nokey", log_dir=tmp_path, concurrency=1)
    try:
        worker.start()
        assert worker.process is not None
        code = worker.process.wait(60)
    finally:
        worker.terminate(timeout=5)

    log = worker.log()
    assert code != 0, log[-2000:]
    assert "MODELSLAB_API_KEY" in log
    assert "configuration error" in log
    assert "ready." not in log
