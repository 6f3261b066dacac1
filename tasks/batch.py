"""Batch tasks: ``warmup_batch`` starts a chord; its callback and two backstops complete it.

``warmup_batch`` checks the request, writes the ledger and starts
``chord(reload_model(m, batch_id) for m)(batch_finished(batch_id))`` with the callback's
task id equal to the batch id, so ``AsyncResult(batch_id).get()`` returns the summary.
``batch_backstop`` reconciles and completes open batches, ``post_batch_webhook`` delivers
the webhook; ``cancel_batch`` and ``batch_status`` act on one batch.
Why: docs/decisions/0007-reconciler-and-webhook-outbox.md.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from celery import chord

from tasks.reload import reload_model
from worker import constants as c
from worker.batch.completion import (
    OUTBOX_FIRST_WAIT_SECONDS,
    InvalidBatch,
    check_batch,
    complete_batch,
)
from worker.batch.ids import batch_id_for, header_task_id, redo_task_id, webhook_task_id
from worker.batch.ledger import Ledger
from worker.batch.outbox import Outbox, backoff_seconds
from worker.batch.reconcile import Reconciler
from worker.batch.webhook import UnsafeURL, WebhookError, post_json
from worker.celery import app, settings
from worker.messaging.results import Waiting
from worker.messaging.task import ParkingTask
from worker.producer import parking_lot, producer_ledger, redis_clock
from worker.validation import InvalidModelIds, check_model_id, check_priority

__all__ = [
    "InvalidBatch",
    "batch_backstop",
    "batch_finished",
    "batch_id_for",
    "batch_status",
    "cancel_batch",
    "header_task_id",
    "post_batch_webhook",
    "redo_task_id",
    "warmup_batch",
    "webhook_task_id",
]

logger = logging.getLogger(__name__)


@app.task(name="warmup_batch", bind=True)
def warmup_batch(
    self: ParkingTask,
    model_ids: list[str],
    callback_url: str | None = None,
    priority: str = "normal",
) -> str:
    """Start warming ``model_ids``; return the batch id (also the id of its summary result).

    A bad request is rejected whole and nothing is enqueued.

    Parameters:
        model_ids: the models to warm; duplicates collapse.
        callback_url: where the summary is POSTed once the batch is complete (none: no webhook).
        priority: ``"high"``: the batch's models overtake normal work in the queue and the
            limiter.

    Raises:
        InvalidBatch: the ids, the callback URL or the priority are not acceptable.
    """
    request_id = self.request.id or uuid.uuid4().hex
    return launch_batch(model_ids, callback_url, request_id=request_id, priority=priority)


def launch_batch(
    model_ids: object, callback_url: object, *, request_id: str, priority: object = "normal"
) -> str:
    """Check, record and start a batch; the same ``request_id`` never starts two batches.

    Parameters:
        model_ids: the models to warm, as received (checked here).
        callback_url: the webhook's URL or ``None``, as received (checked here).
        request_id: the id the batch id is derived from (the task's id).
        priority: ``"normal"`` or ``"high"``, as received (checked here).

    Returns:
        The batch id.

    Raises:
        InvalidBatch: a bad request; nothing is enqueued.
    """
    try:
        lane = check_priority(priority)
    except InvalidModelIds as exc:
        raise InvalidBatch(str(exc)) from None
    ids = check_batch(
        model_ids,
        callback_url,
        max_batch=settings.max_batch,
        allow_private=settings.webhook_allow_private,
    )
    url = callback_url if isinstance(callback_url, str) else None
    ledger = producer_ledger()
    batch_id = batch_id_for(request_id)
    created = ledger.create(batch_id, ids, now=redis_clock()(), callback_url=url)
    if not created and ledger.meta(batch_id).get("launched") == "1":
        return batch_id  # this request ran before and launched its batch
    extra = {"priority": lane} if lane != "normal" else {}
    # A generator: Celery then builds no GroupResult of the whole header before the first
    # task is sent (and, in a task, our result backend subscribes to none of its results).
    header = (
        reload_model.signature(
            (m, batch_id), extra, immutable=True, task_id=header_task_id(batch_id, m)
        )
        for m in ids
    )
    # Not in this task's result (Celery's ``children``): a producer's get() would subscribe
    # to every model's result, and the stored result would hold every task id.
    with reload_model.parking.gathered():  # its models' parks, in pipelines
        chord(header)(
            batch_finished.signature((batch_id,), immutable=True, task_id=batch_id),
            add_to_parent=False,
        )
    batch_backstop.apply_async(
        (batch_id,), countdown=settings.batch_grace_seconds, add_to_parent=False
    )
    ledger.mark_launched(
        batch_id, header_template=_template_of(ledger, batch_id, ids[0]), priority=lane
    )
    logger.info("batch %s started: %d models, priority %s", batch_id, len(ids), lane)
    return batch_id


@app.task(name="cancel_batch", bind=True)
def cancel_batch(self: ParkingTask, batch_id: str) -> dict[str, Any]:
    """Cancel the batch's models that are not final; return ``{batch_id, cancelled: [ids]}``.

    Their parked tasks wake and end at once (a model another live batch wants goes on
    for that batch); the chord completes and the summary (with its ``cancelled`` list)
    arrives promptly. A finished batch is left as it is (``finished: true``). Raises
    ``InvalidBatch`` for a batch id that is not a string or names no batch.
    """
    try:
        batch_id = check_model_id(batch_id, where="batch_id")
    except InvalidModelIds as exc:
        raise InvalidBatch(str(exc)) from None
    ledger = producer_ledger()
    status, ids = ledger.cancel(batch_id, now=redis_clock()())
    if status == "missing":
        raise InvalidBatch(f"no batch {batch_id!r} in the ledger (expired or never started)")
    if status == "done":
        return {"batch_id": batch_id, "cancelled": [], "finished": True}
    woken = parking_lot().wake([header_task_id(batch_id, m) for m in ids], admitted=False)
    logger.info("batch %s cancelled: %d models (%d waiting woken)", batch_id, len(ids), woken)
    return {"batch_id": batch_id, "cancelled": ids, "finished": False}


@app.task(name="batch_status", bind=True)
def batch_status(self: ParkingTask, batch_id: str) -> dict[str, Any]:
    """The batch's ledger: ``{batch_id, status, priority, total, counts, models, summary}``,
    each model ``{state, reason, calls}`` in the batch's order. Raises ``InvalidBatch`` for
    a batch id that is not a string or names no batch."""
    try:
        batch_id = check_model_id(batch_id, where="batch_id")
    except InvalidModelIds as exc:
        raise InvalidBatch(str(exc)) from None
    ledger = producer_ledger()
    meta = ledger.meta(batch_id)
    if not meta or "ids" not in meta:
        raise InvalidBatch(f"no batch {batch_id!r} in the ledger (expired or never started)")
    models = ledger.models(batch_id)
    ordered = {
        m: {k: models[m].get(k) for k in ("state", "reason", "calls")}
        for m in json.loads(meta["ids"])
        if m in models
    }
    return {
        "batch_id": batch_id,
        "status": meta.get("status"),
        "priority": meta.get("priority") or "normal",
        "total": len(ordered),
        "counts": ledger.counts(batch_id),
        "models": ordered,
        "summary": ledger.summary(batch_id),
    }


@app.task(name="batch_finished", bind=True, max_retries=None)
def batch_finished(self: ParkingTask, batch_id: str) -> dict[str, Any]:
    """The chord's callback: complete the batch once every model is final.

    If the chord fired early (a duplicated header result) it parks and waits for the ledger.
    Returns the summary; raises ``InvalidBatch`` when the batch's ledger is gone.
    """
    summary = _complete(producer_ledger(), batch_id, claimant=self.request.id or batch_id)
    if summary is None:
        raise self.wait(Waiting("models still in flight"), _poll_seconds())
    return summary


def _template_of(ledger: Ledger, batch_id: str, model_id: str) -> str:
    """The template digest of the batch's parked header tasks ('' if not found)."""
    raw = ledger.client.hget(c.JOBS_KEY, header_task_id(batch_id, model_id))
    try:
        return str(json.loads(raw)["t"]) if raw else ""
    except (ValueError, KeyError, TypeError):
        return ""


@app.task(name="batch_backstop", bind=True, max_retries=None)
def batch_backstop(self: ParkingTask, batch_id: str | None = None) -> dict[str, str]:
    """Reconcile and complete open batches, re-drive lost webhooks; what it did per batch.

    With ``batch_id`` (parked by the launch, every ``RELOAD_BATCH_GRACE_SECONDS``) it looks
    after that batch until it is done; without (beat's schedule) it sweeps every open batch.
    """
    ledger = producer_ledger()
    if batch_id is not None:
        one = _backstop_one(ledger, batch_id)
        if one in ("waiting", "webhook pending"):
            raise self.wait(Waiting(f"batch {one}"), settings.batch_grace_seconds)
        return {batch_id: one}
    return sweep(ledger)


def sweep(ledger: Ledger) -> dict[str, str]:
    """Every open batch once (a failure is logged and skipped), then the outbox.

    Parameters:
        ledger: the batch ledger to sweep.

    Returns:
        What was done, by batch id (``"waiting"``, ``"completed"``, ``"error: ..."``, ...).
    """
    done: dict[str, str] = {}
    for one in ledger.open_batches():
        try:
            done[one] = _backstop_one(ledger, one)
        except Exception as exc:
            logger.exception("batch %s: the sweep could not look at it; skipped", one)
            done[one] = f"error: {type(exc).__name__}"
    for one in Outbox(ledger.client).due(now=redis_clock()(), again_in=OUTBOX_FIRST_WAIT_SECONDS):
        _send_webhook(one)
        done.setdefault(one, "webhook sent again")
    return done


def _reconciler(ledger: Ledger) -> Reconciler:
    return Reconciler(
        ledger,
        parking_lot(),
        header_task_id=header_task_id,
        redo_task_id=redo_task_id,
        grace=min(c.RECONCILE_GRACE_SECONDS, settings.batch_grace_seconds),
        deadline=settings.batch_deadline,
    )


def _backstop_one(ledger: Ledger, batch_id: str) -> str:
    meta = ledger.meta(batch_id)
    if not meta or "created_at" not in meta:
        ledger.forget_open(batch_id)  # its ledger expired or was lost: prune the open set
        return "missing"
    if meta.get("status") == "done":
        ledger.forget_open(batch_id)
        return _webhook_backstop(ledger, batch_id)
    now = redis_clock()()
    reconciled = _reconciler(ledger).run(batch_id, now=now)
    meta = ledger.meta(batch_id)
    last_final = float(meta.get("last_final_at") or meta["created_at"])
    if not reconciled.chord_broken and now - last_final < settings.batch_grace_seconds:
        return "waiting"
    summary = _complete(ledger, batch_id, claimant=f"backstop:{uuid.uuid4().hex}")
    if summary is None:
        return "waiting"
    # The chord's callback never ran (or cannot): store the summary as its result ourselves.
    app.backend.store_result(batch_id, summary, "SUCCESS")
    why = "its chord was broken" if reconciled.chord_broken else "its chord callback was lost"
    logger.warning("batch %s completed by the backstop: %s", batch_id, why)
    return "completed"


def _webhook_backstop(ledger: Ledger, batch_id: str) -> str:
    """A done batch: wait while its webhook is pending, sending it again if it is due."""
    outbox = Outbox(ledger.client)
    if not outbox.pending(batch_id):
        return "done"
    score = ledger.client.zscore(c.OUTBOX_KEY, batch_id)
    if score is not None and score <= redis_clock()():
        ledger.client.zadd(
            c.OUTBOX_KEY, {batch_id: redis_clock()() + OUTBOX_FIRST_WAIT_SECONDS}, xx=True
        )
        _send_webhook(batch_id)
    return "webhook pending"


def _send_webhook(batch_id: str) -> None:
    post_batch_webhook.apply_async((batch_id,), task_id=webhook_task_id(batch_id))


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
            _send_webhook(batch_id)
    return summary


def _poll_seconds() -> float:
    return min(5.0, max(0.5, settings.warm_seconds / 10))


@app.task(name="post_batch_webhook", bind=True, max_retries=None)
def post_batch_webhook(self: ParkingTask, batch_id: str) -> str:
    """Deliver the batch's webhook (its outbox record); retried, never fails the batch.

    Signed, with ``Idempotency-Key: <batch id>``, retried with full-jitter backoff for up to
    ``RELOAD_WEBHOOK_RETRY_SECONDS`` after the completion. Returns what happened to it.
    """
    ledger = producer_ledger()
    outbox = Outbox(ledger.client)
    url = ledger.meta(batch_id).get("callback_url")
    summary = ledger.summary(batch_id)
    if not url or summary is None or not outbox.pending(batch_id):
        return "nothing to send"
    token = outbox.lock(batch_id)
    if token is None:
        raise self.wait(Waiting("another delivery of this webhook is under way"), 5.0)
    try:
        return _deliver(self, outbox, batch_id, url, summary)
    finally:
        outbox.unlock(batch_id, token)


def _deliver(
    task: ParkingTask, outbox: Outbox, batch_id: str, url: str, summary: dict[str, Any]
) -> str:
    now = redis_clock()()
    secret = settings.webhook_secret.reveal() if settings.webhook_secret is not None else None
    try:
        status = post_json(
            url,
            summary,
            idempotency_key=batch_id,
            secret=secret,
            timestamp=int(now),
            allow_private=settings.webhook_allow_private,
        )
    except UnsafeURL as exc:
        outbox.close(batch_id, f"failed: refused: {exc}")
        logger.warning("webhook for batch %s refused: %s", batch_id, exc)
        return f"failed: refused: {exc}"
    except WebhookError as exc:
        attempts = int(ledger_attempts(outbox, batch_id)) + 1
        delay = backoff_seconds(attempts)
        started = float(summary.get("completed_at") or now)
        if now + delay - started > settings.webhook_retry_seconds:
            outbox.close(batch_id, f"failed: {exc} (after {attempts} attempts)")
            logger.warning("webhook for batch %s failed for good: %s", batch_id, exc)
            return f"failed: {exc}"
        retry_at = now + delay + OUTBOX_FIRST_WAIT_SECONDS
        outbox.attempt_failed(batch_id, retry_at=retry_at, reason=str(exc))
        raise task.wait(exc, delay) from None
    outbox.close(batch_id, f"delivered: HTTP {status}")
    return f"delivered: HTTP {status}"


def ledger_attempts(outbox: Outbox, batch_id: str) -> int:
    """How many delivery attempts of the batch's webhook have failed so far (0 if none)."""
    raw = outbox.redis.hget(c.batch_key(batch_id), "webhook_attempts")
    return int(raw or 0)
