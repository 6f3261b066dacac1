"""A group applied in a task does not subscribe to its members' results; a producer's does.

Celery's Redis backend subscribes (pub/sub) to every member of a group for the group's
barrier. In a task nobody can wait on that barrier, and at 10,000 models the SUBSCRIBE and
UNSUBSCRIBE commands were nearly half of ``warmup_batch``'s time (``python -m
bench.launch_time``: 3.41-3.48 s before, 1.39-1.51 s after, on one 2-core host).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import redis
from celery import Celery, group
from celery.result import allow_join_result, denied_join_result

from sandbox.embedded_redis import EmbeddedRedis

pytestmark = pytest.mark.usefixtures("real_redis")


@pytest.fixture
def app(redis_server: EmbeddedRedis) -> Iterator[Celery]:
    """A Celery app on an in-memory broker with this project's result backend (db 15)."""
    celery = Celery(
        "subscriptions",
        broker="memory://",
        backend="worker.messaging.results:ResultBackend+" + redis_server.url_for_db(15),
        set_as_current=False,
    )
    celery.conf.result_expires = None  # Celery's SETEX is deprecated in redis-py

    @celery.task(name="t.echo", shared=False)
    def echo(value: int) -> int:
        return value

    try:
        yield celery
    finally:
        gc.collect()  # the results unsubscribe now, while Redis runs
        celery.close()


def _subscribed(client: redis.Redis, task_ids: list[str]) -> list[str]:
    """Which of these tasks' result channels have a subscriber (Redis's own view)."""
    counts = client.pubsub_numsub(*(f"celery-task-meta-{task_id}" for task_id in task_ids))
    return [channel.decode() for channel, count in counts if count]


def test_a_group_applied_in_a_task_subscribes_to_none_of_its_results(
    app: Celery, real_redis: redis.Redis
) -> None:
    with denied_join_result():  # as in a pool process
        result = group(app.signature("t.echo", (n,)) for n in range(3)).apply_async()

    task_ids = [member.id for member in result.results]
    assert len(task_ids) == 3
    assert _subscribed(real_redis, task_ids) == []


def test_a_producers_group_still_subscribes_and_gets_its_results(
    app: Celery, real_redis: redis.Redis
) -> None:
    with allow_join_result():  # a producer outside a worker
        result = group(app.signature("t.echo", (n,)) for n in range(3)).apply_async()
        task_ids = [member.id for member in result.results]
        assert len(_subscribed(real_redis, task_ids)) == 3
        for n, task_id in enumerate(task_ids):
            app.backend.mark_as_done(task_id, n * 10)

        assert result.get(timeout=5) == [0, 10, 20]
