"""The result backend: Celery's Redis backend, minus the records of tasks that only wait.

A ``reload_model`` task that waits (for the limiter, for a model to load)
reschedules itself with ``retry``, and Celery would store a RETRY record with
the whole traceback for every such wait: about 1.5 KB per model in flight, and
a Redis write per wake-up, for a state nobody reads (Flower shows retries from
task events, and a producer only wants the final result). Waiting is not an
error, so it is not recorded; real errors still are.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend

__all__ = ["ResultBackend", "Waiting"]


class Waiting(Exception):
    """Not an error: why a task was rescheduled, as Flower shows it."""


class ResultBackend(RedisBackend):
    def mark_as_retry(self, task_id: str, exc: Exception, *args: Any, **kwargs: Any) -> Any:
        if isinstance(exc, Waiting):
            return None
        return super().mark_as_retry(task_id, exc, *args, **kwargs)
