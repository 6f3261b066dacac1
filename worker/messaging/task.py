"""``ParkingTask``: a Celery task class whose sends and waits are parked in Redis.

``apply_async`` (so ``delay``, groups and chords) parks the task as a job instead of
publishing it; ``wait()`` is ``retry`` without the publish; ``finish_once()`` lets one
execution of a task id return its result. Redis unreachable never fails a task: the message
is handed back (``Reject(requeue=True)``). Producers that ``send_task`` by name publish directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from numbers import Real
from typing import Any, cast

import redis
from celery import Task
from celery.exceptions import Reject, Retry
from celery.utils import uuid

from worker.messaging.parking import Job, ParkingLot, current_lot, split_options

__all__ = ["INFRASTRUCTURE_ERRORS", "ParkingTask", "job_from_signature"]

logger = logging.getLogger(__name__)

# Failures that mean "try again when Redis is back", never "the task failed".
INFRASTRUCTURE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


def job_from_signature(sig: Any) -> Job:
    """The job that sends ``sig`` again.

    Parameters:
        sig: a Celery ``Signature``.

    Raises:
        TypeError: one of its kept options is not JSON-serialisable.
    """
    return Job(sig.task, list(sig.args or ()), dict(sig.kwargs or {}), split_options(sig.options))


class ParkingTask(Task[Any, Any]):
    """Base class of this project's tasks (``@app.task(base=ParkingTask)``)."""

    abstract = True
    #: Returns this process's parking lot; ``None``: the one given to ``parking.provide``.
    lot_factory: Callable[[], ParkingLot] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Retry as wait:
            # Celery copies and formats the traceback of every retry (billiard's
            # ExceptionInfo), a wait's included: it starts here, not in the task's frames.
            raise wait.with_traceback(None) from None
        except INFRASTRUCTURE_ERRORS as exc:
            logger.warning(
                "%s[%s]: Redis unreachable (%s); handing it back", self.name, self.request.id, exc
            )
            raise Reject(f"Redis unreachable: {exc}", requeue=True) from None

    @property
    def parking(self) -> ParkingLot:
        """This process's parking lot (built on first use, after a fork)."""
        if self.lot_factory is not None:
            return self.lot_factory()
        return current_lot()

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> Any:
        """Park the task (due now, or after ``countdown``/``eta``) instead of publishing it.

        In eager mode (``task_always_eager``) Celery's own ``apply_async`` runs it at once.

        Parameters:
            args: the task's positional arguments.
            kwargs: its keyword arguments.
            task_id: its id (a new one when None).
            producer: ignored (a pump publishes later).
            link: a signature to call on success.
            link_error: a signature to call on failure.
            shadow: another name for the task in logs and monitors.
            options: other Celery options (``countdown``, ``eta``, ``expires``, ``priority``...).

        Returns:
            The task's ``AsyncResult``.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        app = self.app
        if app.conf.task_always_eager:
            return super().apply_async(
                args, kwargs, task_id, producer, link, link_error, shadow, **options
            )
        delay = _delay(options.pop("countdown", None), options.pop("eta", None))
        add_to_parent = options.pop("add_to_parent", True)
        task_id = task_id or uuid()
        parent = app.current_worker_task
        if parent is not None:
            options.setdefault("root_id", parent.request.root_id or parent.request.id)
            options.setdefault("parent_id", parent.request.id)
        options.update(task_id=task_id, link=link, link_error=link_error, shadow=shadow)
        if options.get("expires") is not None:  # counted from now, not from the publish
            options["expires"] = _absolute(options["expires"]).isoformat()
        job = Job(self.name, list(args or ()), dict(kwargs or {}), split_options(options))
        self.parking.park(job, delay)
        result = self.AsyncResult(task_id)
        if add_to_parent and parent is not None:
            parent.add_trail(result)
        return result

    def wait(
        self, exc: Exception, seconds: float, admission: dict[str, Any] | None = None
    ) -> Retry:
        """Park this execution's task for ``seconds`` and return the ``Retry`` to raise.

        The execution ends as a retry: Flower shows it, the message is acknowledged and
        nothing waits in the broker.

        Parameters:
            exc: the reason Flower shows.
            seconds: how long the task waits.
            admission: what its next execution needs before the pump publishes it (see
                ``Job.admission``); ``None``: published as soon as it is due.

        Returns:
            The ``celery.exceptions.Retry`` to raise.

        Raises:
            Exception: ``exc`` itself when the task was called directly, not by a worker.
            redis.RedisError: Redis is unreachable (nothing was parked, the message is not
                acked: the caller decides).
        """
        request = self.request
        if request.called_directly:
            raise exc
        sig = self.signature_from_request(request, retries=request.retries + 1)
        self.parking.park(replace(job_from_signature(sig), admission=admission), seconds)
        return Retry(exc=exc, when=cast("Real", seconds), sig=sig)

    def finish_once(self) -> bool:
        """Whether this execution is the one that returns the task's result.

        An execution whose worker died before the result was stored is replaced.

        Returns:
            False when another execution returned it (or is returning it): the caller raises
            ``celery.exceptions.Ignore`` so that no second result reaches a chord.
        """
        task_id = str(self.request.id)
        claimed, holder, alive = self.parking.finish(task_id)
        if claimed:
            return True
        dead_without_result = not alive and not self.AsyncResult(task_id).ready()
        if dead_without_result and self.parking.reclaim(task_id, holder):
            logger.warning("task %s: finisher %s died before storing it", task_id, holder)
            return True
        return False

    def after_return(
        self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """After a success or a failure, forget the task's job (``ParkingLot.release``).

        Celery's hook: it is not called after a retry (so never after a wait), an ignore or
        a reject. A failure to forget is logged; the stale job finds its task done.

        Parameters:
            task_id: the task whose job is forgotten; Celery's other arguments are unused.
        """
        try:
            self.parking.release(task_id)
        except Exception:  # the result is stored; a stale job is harmless (it finds it done)
            logger.warning("could not clear the job of task %s", task_id, exc_info=True)


def _absolute(when: float | datetime | str) -> datetime:
    """A Celery ``expires``/``eta`` (seconds from now, a datetime or ISO text) as a datetime."""
    if isinstance(when, int | float):
        return datetime.now(UTC) + timedelta(seconds=float(when))
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _delay(countdown: float | None, eta: datetime | str | None) -> float:
    if countdown is not None:
        return max(0.0, float(countdown))
    if eta is None:
        return 0.0
    return max(0.0, (_absolute(eta) - datetime.now(UTC)).total_seconds())
