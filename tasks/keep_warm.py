"""``keep_warm``: re-warm the configured models before the 7-day idle eviction.

Beat sends it at start and every minute while ``RELOAD_KEEP_WARM`` is set. Each run asks
Redis (``worker.batch.keepwarm``) which models are due, neither warm nor asked for within
``RELOAD_KEEP_WARM_EVERY``, and starts an ordinary batch of them, keyed on its task id.
Why: docs/decisions/0005-keep-warm-is-decided-in-redis.md.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import redis
from celery import signals

from tasks.batch import launch_batch
from worker.batch.keepwarm import KeepWarmStore
from worker.celery import app, settings
from worker.messaging.task import ParkingTask

__all__ = ["keep_warm"]

logger = logging.getLogger(__name__)


@app.task(name="keep_warm", bind=True)
def keep_warm(self: ParkingTask) -> str | None:
    """Start a batch of the due models of ``RELOAD_KEEP_WARM``; its id, or ``None``."""
    from worker.producer import redis_client

    ids = list(settings.keep_warm)
    if not ids:
        logger.info("keep-warm: RELOAD_KEEP_WARM is empty, nothing to warm")
        return None
    run_id = self.request.id or uuid.uuid4().hex
    chosen = KeepWarmStore(redis_client()).select(
        ids, period=settings.keep_warm_every, run_id=run_id
    )
    skipped = (
        f"skipped {chosen.skipped}: {chosen.warm} warm and {chosen.asked} already asked for "
        f"within {settings.keep_warm_every:g}s"
    )
    if not chosen.due:
        logger.info("keep-warm: nothing due of %d models (%s)", len(ids), skipped)
        return None
    batch_id = launch_batch(list(chosen.due), None, request_id=run_id)
    logger.info("keep-warm batch %s started for %d models (%s)", batch_id, len(chosen.due), skipped)
    return batch_id


@signals.beat_init.connect
def _look_at_beat_start(sender: Any = None, **_: Any) -> None:
    """The first look comes at once, not a tick after beat starts (what is due is Redis's)."""
    if not settings.keep_warm:
        return
    try:
        keep_warm.apply_async()
    except redis.RedisError as exc:  # the next tick looks again
        logger.warning("keep-warm: could not send the first look (%s); the next tick will", exc)
