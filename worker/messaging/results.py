"""The result backend: Celery's Redis backend, minus the records of tasks that only wait.

A retry whose exception is a ``Waiting`` (a task parked to wait) stores no RETRY record;
real errors still do. Its connections are ``worker.redis_url``'s ``Failover*`` classes: a
demoted master's ``READONLY`` is a lost connection, retried like one.
``SentinelResultBackend`` is the same on Celery's ``SentinelBackend`` (a ``sentinel://`` URL).
Why: docs/decisions/0014-waits-store-no-result-record.md.
"""

from __future__ import annotations

from typing import Any

import redis
from celery.backends.redis import RedisBackend, SentinelBackend
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


class SentinelResultBackend(ResultBackend, SentinelBackend):
    """Celery's sentinel result backend, with ``ResultBackend``'s behaviour."""

    default_connection_class = SentinelManagedConnection
