"""Given our tasks sent to Celery's default queue ``celery`` (a producer that left out the queue),
a look finds them, warns naming the fix and moves exactly those to ``reload``; other apps'
messages on ``celery`` are never touched. On a real Redis, with messages a stock Celery
client published.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from click.testing import CliRunner

from sandbox.embedded_redis import EmbeddedRedis
from worker.batch.ledger import Ledger
from worker.cli import main
from worker.messaging.strays import find_strays, watch_once

OURS = frozenset({"warmup_batch", "reload_model"})


@pytest.fixture(name="careless")
def careless_fixture(redis_server: EmbeddedRedis, real_redis: redis.Redis) -> Iterator[Celery]:
    """A plain Celery producer on database 15 with Celery's default queue."""
    url = redis_server.url_for_db(15)
    app = Celery("careless", broker=url, set_as_current=False)
    app.conf.task_serializer = "json"
    try:
        yield app
    finally:
        app.close()


def queued(client: redis.Redis, name: str) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(name, 0, -1)]


def test_only_our_task_names_are_found_and_moved(
    careless: Celery, real_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    careless.send_task("warmup_batch", args=[["m1", "m2"]])
    careless.send_task("other_app.send_email", args=["x@example.com"])
    careless.send_task("warmup_batch", args=[["m3"]], priority=9)

    found = find_strays(real_redis, OURS)
    with caplog.at_level(logging.WARNING, logger="worker.messaging.strays"):
        moved = watch_once(real_redis, OURS)

    assert dict(found.counts) == {"warmup_batch": 2}
    assert moved == 2
    left = [m["headers"]["task"] for m in queued(real_redis, "celery")]
    assert left == ["other_app.send_email"], "another app's message stays where it was"
    reload = queued(real_redis, "reload") + queued(real_redis, "reload\x06\x169")
    assert sorted(m["headers"]["task"] for m in reload) == ["warmup_batch", "warmup_batch"]
    assert {m["properties"]["delivery_info"]["routing_key"] for m in reload} == {"reload"}
    [warning] = [r.getMessage() for r in caplog.records]
    assert "2 warmup_batch message(s) wait on Celery's default queue 'celery'" in warning
    assert 'send_task("warmup_batch", ..., queue="reload")' in warning


def test_a_message_another_worker_moved_first_is_not_moved_twice(
    careless: Celery, real_redis: redis.Redis
) -> None:
    careless.send_task("reload_model", args=["m1"])
    first_look = find_strays(real_redis, OURS)

    assert watch_once(real_redis, OURS) == 1
    from worker.messaging.strays import move_strays

    assert move_strays(real_redis, first_look) == 0
    assert real_redis.llen("reload") == 1


def test_status_warns_about_our_tasks_waiting_on_the_default_queue(
    careless: Celery, real_redis: redis.Redis
) -> None:
    careless.send_task("warmup_batch", args=[["m1"]])

    result = CliRunner().invoke(main, ["status", "no-such-batch"], obj=Ledger(real_redis))

    assert result.exit_code == 2
    assert "error: no batch no-such-batch" in result.output
    assert "warning: 1 warmup_batch message(s) wait on Celery's default queue" in result.output
    assert 'queue="reload"' in result.output
