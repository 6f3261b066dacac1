"""The result backend: Celery's Redis backend, minus the records of tasks that only wait.

A retry whose exception is a ``Waiting`` (a task parked to wait) stores no RETRY record;
real errors still do. A group applied in a task does not subscribe to its members' results
(``add_pending_result``). Its connections are ``worker.redis_url``'s ``Failover*`` classes: a
demoted master's ``READONLY`` is a lost connection, retried like one.
``SentinelResultBackend`` is the same on Celery's ``SentinelBackend`` (a ``sentinel://`` URL).
Why: docs/decisions/0014-waits-store-no-result-record.md.
"""

from __future__ import annotations

from typing import Any

import redis
from celery.backends.redis import RedisBackend, SentinelBackend
from celery.result import task_join_will_block  # type: ignore[attr-defined]  # not stubbed
from celery.signals import task_retry
from redis.sentinel import SentinelManagedConnection

from worker.redis_url import failover_connection_class

__all__ = ["ResultBackend", "SentinelResultBackend", "Waiting"]


class Waiting(Exception):
    """Not an error: why a task was rescheduled, as Flower shows it.

    Its repr (what Celery's ``task-retried`` event, so Flower, shows as the retry's
    exception) reads as a wait: ``waiting: accepted; confirming``. And a wait sends no
    traceback with that event (``_no_traceback_for_waits``): it is not an error.
    """

    def __repr__(self) -> str:
        return f"waiting: {self}"


@task_retry.connect
def _no_traceback_for_waits(
    sender: Any = None, reason: Any = None, einfo: Any = None, **_: Any
) -> None:
    """Celery's ``task_retry`` signal: the retry of a ``Waiting`` has an empty traceback.

    The signal runs before the worker sends ``task-retried`` with ``einfo.traceback``.
    """
    if einfo is not None and isinstance(getattr(reason, "exc", None), Waiting):
        einfo.traceback = ""


class ResultBackend(RedisBackend):
    """Celery's Redis result backend: no records for waits, connections that follow a failover."""

    #: The connection class Celery uses when its parameters name none.
    default_connection_class: type[Any] = redis.Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        params: dict[str, Any] = self.connparams  # type: ignore[attr-defined]
        chosen = params.get("connection_class", self.default_connection_class)
        params["connection_class"] = failover_connection_class(chosen)

    def mark_as_retry(self, task_id: str, exc: Exception, *args: Any, **kwargs: Any) -> Any:
        """Store a RETRY record as Celery does, unless ``exc`` is a ``Waiting`` (nothing)."""
        if isinstance(exc, Waiting):
            return None
        return super().mark_as_retry(task_id, exc, *args, **kwargs)

    def add_pending_result(
        self, result: Any, weak: bool = False, start_drainer: bool = True
    ) -> Any:
        """Subscribe to ``result`` as Celery does, except a weakly held one inside a task.

        A group (a chord's header) applied in a task holds each member's result weakly for
        its barrier, and Celery's Redis backend subscribes to each one, then unsubscribes
        as the result objects are collected: 10,000 SUBSCRIBE and UNSUBSCRIBE commands for a
        10,000-model batch, nearly half of ``warmup_batch``'s time, for a barrier no task
        can wait on. In a task (``task_join_will_block``), that result is not subscribed to,
        the rule Celery's ``on_task_call`` already applies to a task's sends. A result a task
        does wait on (``get()`` with ``disable_sync_subtasks=False``) is held strongly and
        subscribed to as before.
        """
        if weak and task_join_will_block():
            return result
        return super().add_pending_result(  # type: ignore[call-arg]  # the stubs lack it
            result, weak=weak, start_drainer=start_drainer
        )


class SentinelResultBackend(ResultBackend, SentinelBackend):
    """Celery's sentinel result backend, with ``ResultBackend``'s behaviour."""

    default_connection_class = SentinelManagedConnection
