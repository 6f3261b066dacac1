"""``keep_warm``: re-warm the configured models before the 7-day idle eviction.

The beat schedule (``worker/celery.py``) sends this task every
``RELOAD_KEEP_WARM_EVERY`` (default 6 days) when ``RELOAD_KEEP_WARM`` is set (a
comma list of ids or a file with one id per line, checked at start). Each run
starts an ordinary batch through ``launch_batch``, keyed on this task's id, so a
redelivered run never starts a second batch, and logs the batch id.
"""

from __future__ import annotations

import logging
import uuid

from tasks.batch import launch_batch
from worker.celery import app, settings
from worker.messaging.task import ParkingTask

__all__ = ["keep_warm"]

logger = logging.getLogger(__name__)


@app.task(name="keep_warm", bind=True)
def keep_warm(self: ParkingTask) -> str | None:
    """Start a batch of ``RELOAD_KEEP_WARM``; return its batch id (``None`` if none set)."""
    ids = list(settings.keep_warm)
    if not ids:
        logger.info("keep-warm: RELOAD_KEEP_WARM is empty, nothing to warm")
        return None
    batch_id = launch_batch(ids, None, request_id=self.request.id or uuid.uuid4().hex)
    logger.info("keep-warm batch %s started for %d models", batch_id, len(ids))
    return batch_id
