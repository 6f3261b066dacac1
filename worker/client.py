"""A Celery client that knows no task code: it enqueues by task name, like any other service.

The demo, the benchmarks and the tests use it to talk to the workers exactly as
an outside producer would (``send_task("warmup_batch", ...)``, then
``AsyncResult(batch_id).get()``).
"""

from __future__ import annotations

from celery import Celery

__all__ = ["QUEUE", "client_app"]

QUEUE = "reload"


def client_app(broker_url: str, backend_url: str, *, name: str = "client") -> Celery:
    """A JSON-only Celery client for ``broker_url`` and ``backend_url`` on the reload queue.

    Parameters:
        broker_url: the broker (``CELERY_BROKER_URL`` or ``REDIS_URL``).
        backend_url: the result backend (``CELERY_RESULT_BACKEND`` or ``REDIS_URL``).
        name: the app's name (its ``main``).
    """
    app = Celery(name, broker=broker_url, backend=backend_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
    )
    return app
