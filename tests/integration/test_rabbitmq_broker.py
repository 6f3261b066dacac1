"""Given RabbitMQ as the broker and Redis as the result backend and state store,
the happy-path batch completes all warm, each model reloaded once.

Uses the machine's RabbitMQ on 127.0.0.1:5672 (guest/guest, vhost ``/``); the
test is skipped, saying so, only when nothing listens there. The producer is a
Celery client of its own on the AMQP broker (the ``producer`` fixture is Redis).
With RabbitMQ the worker holds countdown tasks unacked; fine at this scale.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import pytest
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import wait_until
from tests.integration.webhook_receiver import WebhookReceiver
from worker.client import client_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
MODELS = [f"q-{i:02d}" for i in range(12)]


def _rabbitmq_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def amqp_producer(redis_url: str) -> Iterator[Celery]:
    """A Celery client on RabbitMQ with the Redis result backend; the queue purged first."""
    if not _rabbitmq_listening():
        pytest.skip("no RabbitMQ listening on 127.0.0.1:5672")
    app = client_app(AMQP_URL, redis_url, name="amqp-producer")
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge("reload")  # leftovers of an earlier run
    try:
        yield app
    finally:
        app.close()


def test_happy_path_batch_with_rabbitmq_broker_and_redis_backend(
    redis_url: str,
    amqp_producer: Celery,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
) -> None:
    sim = start_simulator("--reload-seconds", "1")
    env = worker_env(redis_url, sim.base_url, CELERY_BROKER_URL=AMQP_URL)
    worker = start_worker(env, concurrency=2)
    assert "amqp://guest:**@127.0.0.1:5672//" in worker.log()

    with WebhookReceiver() as hook:
        batch_id = amqp_producer.send_task(
            "warmup_batch", args=[MODELS], kwargs={"callback_url": hook.url}
        ).get(timeout=30)
        summary = amqp_producer.AsyncResult(batch_id).get(timeout=90)
        single = amqp_producer.send_task("reload_model", args=["q-00"]).get(timeout=30)
        wait_until(lambda: bool(hook.bodies), timeout=30, what="the webhook")
        bodies = list(hook.bodies)

    seen = ledger_of(sim)
    assert summary["batch_id"] == batch_id
    assert sorted(summary["warm"]) == MODELS
    assert summary["failed"] == {}
    assert single["state"] == "warm"
    assert len(bodies) == 1 and bodies[0]["batch_id"] == batch_id
    assert seen["reloads_started"] == dict.fromkeys(MODELS, 1)
    assert max(seen["peak_concurrency_per_key"].values()) <= 3
    assert worker.running() and "Unrecoverable error" not in worker.log()
