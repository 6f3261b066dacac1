"""Batch tasks: ``warmup_batch`` starts a chord; its callback and two backstops complete it.

- ``warmup_batch(model_ids, callback_url=None)`` checks the request (a bad one
  is rejected whole, nothing enqueued), writes the ledger, and starts
  ``chord(reload_model(m, batch_id) for m)(batch_finished(batch_id))`` with the
  callback's task id equal to the batch id, so ``AsyncResult(batch_id).get()``
  returns the summary.
- ``batch_finished(batch_id)`` completes the batch from the ledger; if the
  chord fired early (a duplicated header result) it waits for the ledger.
- ``batch_backstop(batch_id=None)`` completes, once, a batch whose models are
  all final but whose callback has not run after ``RELOAD_BATCH_GRACE_SECONDS``
  (lost chord bookkeeping): per batch it reschedules itself until the batch is
  done; with no id (the beat schedule) it sweeps every open batch.
- ``post_batch_webhook(batch_id)`` POSTs the summary, with bounded retries; a
  failing webhook never fails the batch.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import chord

from tasks.reload import reload_model
from worker.batch import InvalidBatch, check_batch, complete_batch
from worker.celery import app, settings
from worker.constants import WEBHOOK_MAX_RETRIES
from worker.ledger import Ledger
from worker.messaging.task import ParkingTask
from worker.producer import producer_ledger, redis_clock
from worker.results import Waiting
from worker.webhook import WebhookError, post_json

__all__ = [
    "InvalidBatch",
    "batch_backstop",
    "batch_finished",
    "post_batch_webhook",
    "warmup_batch",
]

logger = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("6f1d7c36-3a59-4c0e-9d4e-2d6b1f0a9e11")


def batch_id_for(request_id: str) -> str:
    """The batch id of a ``warmup_batch`` task: the same if the task runs twice."""
    return str(uuid.uuid5(_NAMESPACE, f"batch:{request_id}"))


def header_task_id(batch_id: str, model_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{batch_id}:{model_id}"))


@app.task(name="warmup_batch", bind=True)
def warmup_batch(self: ParkingTask, model_ids: list[str], callback_url: str | None = None) -> str:
    """Start warming ``model_ids``; return the batch id (also the id of its summary result)."""
    return launch_batch(model_ids, callback_url, request_id=self.request.id or uuid.uuid4().hex)


def launch_batch(model_ids: object, callback_url: object, *, request_id: str) -> str:
    """Check, record and start a batch; the same ``request_id`` never starts two batches.

    Raises ``InvalidBatch`` (nothing enqueued) for a bad request.
    """
    ids = check_batch(model_ids, callback_url, max_batch=settings.max_batch)
    url = callback_url if isinstance(callback_url, str) else None
    ledger = producer_ledger()
    batch_id = batch_id_for(request_id)
    created = ledger.create(batch_id, ids, now=redis_clock()(), callback_url=url)
    if not created and ledger.meta(batch_id).get("launched") == "1":
        return batch_id  # this request ran before and launched its batch
    header = [
        reload_model.signature((m, batch_id), immutable=True, task_id=header_task_id(batch_id, m))
        for m in ids
    ]
    chord(header)(batch_finished.signature((batch_id,), immutable=True, task_id=batch_id))
    batch_backstop.apply_async((batch_id,), countdown=settings.batch_grace_seconds)
    ledger.mark_launched(batch_id)
    logger.info("batch %s started: %d models", batch_id, len(ids))
    return batch_id


@app.task(name="batch_finished", bind=True, max_retries=None)
def batch_finished(self: ParkingTask, batch_id: str) -> dict[str, Any]:
    """The chord's callback: complete the batch once every model is final."""
    summary = _complete(producer_ledger(), batch_id, claimant=self.request.id or batch_id)
    if summary is None:
        raise self.wait(Waiting("models still in flight"), _poll_seconds())
    return summary


@app.task(name="batch_backstop", bind=True, max_retries=None)
def batch_backstop(self: ParkingTask, batch_id: str | None = None) -> dict[str, str]:
    """Complete batches whose callback was lost; returns what it did per batch."""
    ledger = producer_ledger()
    ids = [batch_id] if batch_id is not None else ledger.open_batches()
    done: dict[str, str] = {}
    for one in ids:
        done[one] = _backstop_one(ledger, one)
    if batch_id is not None and done[batch_id] == "waiting":
        raise self.wait(Waiting("batch not complete yet"), settings.batch_grace_seconds)
    return done


def _backstop_one(ledger: Ledger, batch_id: str) -> str:
    meta = ledger.meta(batch_id)
    if not meta:
        return "missing"
    if meta.get("status") == "done":
        return "done"
    last_final = float(meta.get("last_final_at") or meta["created_at"])
    if redis_clock()() - last_final < settings.batch_grace_seconds:
        return "waiting"
    summary = _complete(ledger, batch_id, claimant=f"backstop:{uuid.uuid4().hex}")
    if summary is None:
        return "waiting"
    # The chord's callback never ran: store the summary as its result ourselves.
    app.backend.store_result(batch_id, summary, "SUCCESS")
    logger.warning("batch %s completed by the backstop: its chord callback was lost", batch_id)
    return "completed"


def _complete(ledger: Ledger, batch_id: str, *, claimant: str) -> dict[str, Any] | None:
    status, summary = complete_batch(ledger, batch_id, claimant=claimant, now=redis_clock()())
    if status == "missing":
        raise InvalidBatch(f"no batch {batch_id!r} in the ledger (expired or never started)")
    if status == "completed":
        assert summary is not None
        logger.info(
            "batch %s complete: %d warm, %d failed",
            batch_id,
            len(summary["warm"]),
            len(summary["failed"]),
        )
        if ledger.meta(batch_id).get("callback_url"):
            post_batch_webhook.delay(batch_id)
    return summary


def _poll_seconds() -> float:
    return min(5.0, max(0.5, settings.warm_seconds / 10))


@app.task(name="post_batch_webhook", bind=True, max_retries=WEBHOOK_MAX_RETRIES)
def post_batch_webhook(self: ParkingTask, batch_id: str) -> str:
    """POST the batch summary to its ``callback_url``; retried, never fails the batch."""
    ledger = producer_ledger()
    url = ledger.meta(batch_id).get("callback_url")
    summary = ledger.summary(batch_id)
    if not url or summary is None:
        return "nothing to send"
    try:
        status = post_json(url, summary)
    except WebhookError as exc:
        if self.request.retries >= WEBHOOK_MAX_RETRIES:
            ledger.set_webhook_status(batch_id, f"failed: {exc}")
            logger.warning("webhook for batch %s failed for good: %s", batch_id, exc)
            return f"failed: {exc}"
        raise self.wait(exc, 2**self.request.retries) from None
    ledger.set_webhook_status(batch_id, f"delivered: HTTP {status}")
    return f"delivered: HTTP {status}"
