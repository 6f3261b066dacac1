"""Task events published in batches: at most one publish per ``FLUSH_SECONDS`` per worker.

A worker with an event loop (prefork, the default) buffers its task events (received,
started, succeeded, retried...) and Celery publishes the buffer at the next turn of the loop:
on a busy worker a turn holds one or two events, so each task costs two or three Redis
``PUBLISH`` round trips on the worker's main process. This dispatcher publishes the buffer
``FLUSH_SECONDS`` after its first event instead, so that a busy worker sends one message of
a few dozen events (Celery's own ``task.multi`` message, which Flower, ``celery events`` and
every ``EventReceiver`` read) per ``FLUSH_SECONDS``. The events are what they were; they
reach a monitor up to ``FLUSH_SECONDS`` later. Set through Celery's public ``events`` class
(``Celery(events=...)``); a dispatcher built without ``on_send_buffered`` (a producer's, a
worker without an event loop) behaves as Celery's. ``FlushEventsStep``, a consumer bootstep,
publishes what is held when the worker stops, while its connection is still open.

Why: docs/decisions/0020-task-events-are-published-in-batches.md
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from celery import bootsteps
from celery.app.events import Events as CeleryEvents
from celery.events.dispatcher import EventDispatcher
from kombu.asynchronous import get_event_loop

__all__ = ["FLUSH_SECONDS", "OVERDUE_SECONDS", "BatchingDispatcher", "Events", "FlushEventsStep"]

logger = logging.getLogger(__name__)

# Seconds from the first buffered event to the publish of the buffer.
FLUSH_SECONDS = 0.05
# A publish asked for this long ago and not made (its timer lost with a restarted loop, say)
# is asked for again.
OVERDUE_SECONDS = 1.0


class BatchingDispatcher(EventDispatcher):
    """Celery's ``EventDispatcher``, its buffered events published ``FLUSH_SECONDS`` after the
    first of them rather than at the next turn of the worker's loop.

    ``on_send_buffered`` (the worker's, which publishes the buffer at the loop's next turn)
    is called once per ``FLUSH_SECONDS`` from a timer of the loop; without an event loop it
    is called at once, as Celery does. ``close()`` publishes what the buffer holds first.
    """

    def __init__(
        self, *args: Any, on_send_buffered: Callable[[], None] | None = None, **kwargs: Any
    ) -> None:
        # The worker's request to publish the buffer. Without one (a producer's dispatcher, a
        # worker without an event loop) no hold is installed: Celery's behaviour is kept.
        self._publish_soon: Callable[[], None] = on_send_buffered or (lambda: None)
        self._asked_at: float | None = None  # monotonic time of the publish asked for
        kwargs["on_send_buffered"] = self._hold if on_send_buffered else None
        super().__init__(*args, **kwargs)

    def _hold(self) -> None:
        """An event was buffered: have the buffer published ``FLUSH_SECONDS`` from the first."""
        now = time.monotonic()
        if self._asked_at is not None and now - self._asked_at < OVERDUE_SECONDS:
            return  # a publish is on its way
        loop = get_event_loop()
        if loop is None:
            self._publish_soon()
            return
        self._asked_at = now
        loop.call_later(FLUSH_SECONDS, self._due)

    def _due(self) -> None:
        self._asked_at = None
        self._publish_soon()

    def close(self) -> None:
        """Publish what the buffer holds, then close. If the connection is gone already (the
        worker reconnecting), the events wait in the buffer Celery hands to the next one."""
        with contextlib.suppress(Exception):
            self.flush(errors=False)
        super().close()


class Events(CeleryEvents):
    """Celery's ``app.events``, whose ``Dispatcher`` is a ``BatchingDispatcher``."""

    dispatcher_cls = f"{__name__}:BatchingDispatcher"


class FlushEventsStep(bootsteps.StartStopStep):
    """A consumer bootstep: when the worker stops, publish the events its dispatcher holds.

    Stopped before Celery's ``Events`` step closes the dispatcher's connection (it requires
    that step, so it stops first).
    """

    requires = ("celery.worker.consumer.events:Events",)

    def stop(self, c: Any) -> None:
        dispatcher = getattr(c, "event_dispatcher", None)
        if dispatcher is None:
            return
        try:
            dispatcher.flush(errors=False)
        except Exception:  # the connection is gone: nothing more can be sent
            logger.debug("could not publish the held task events", exc_info=True)

    shutdown = stop
