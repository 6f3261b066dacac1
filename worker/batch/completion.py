"""Batches: checking a request, and completing a batch exactly once.

Completion is shared by the chord's callback, the per-batch watchdog and the
periodic sweep: whichever finds every model final first *claims* the batch
(atomically, with a claim that expires if its holder dies), writes the
summary, and marks it done. The others find it done and return the same
summary, so the summary is written once and the webhook is sent once.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from worker.batch.ledger import Ledger
from worker.batch.webhook import UnsafeURL, check_url
from worker.monitoring import Monitor, record
from worker.validation import InvalidModelIds, validate_model_ids

__all__ = ["CLAIM_SECONDS", "InvalidBatch", "check_batch", "complete_batch"]

# How long a claimant has to write the summary before another may take over.
CLAIM_SECONDS = 60.0
# How long after a completion the sweep waits for the webhook's own task before it
# sends it again (a crash between the completion and the task's first park).
OUTBOX_FIRST_WAIT_SECONDS = 30.0


class InvalidBatch(ValueError):
    """A ``warmup_batch`` request that cannot be started; nothing was enqueued."""


def check_batch(
    model_ids: object,
    callback_url: object,
    *,
    max_batch: int,
    allow_private: bool | None = None,
) -> list[str]:
    """Check a ``warmup_batch`` request.

    Parameters:
        model_ids: the request's model ids, as received.
        callback_url: the request's webhook URL, as received (``None``: no webhook).
        max_batch: the most models a batch may have.
        allow_private: whether a callback URL may name a loopback/private address
            (``None``: ``RELOAD_WEBHOOK_ALLOW_PRIVATE`` from the environment).

    Returns:
        The batch's unique ids, in order.

    Raises:
        InvalidBatch: saying what is wrong with the request.
    """
    try:
        ids = validate_model_ids(model_ids, max_count=max_batch)
    except InvalidModelIds as exc:
        raise InvalidBatch(str(exc)) from None
    if callback_url is not None:
        check_callback_url(callback_url, allow_private=allow_private)
    return ids


def check_callback_url(value: object, *, allow_private: bool | None = None) -> str:
    """Check a batch's webhook URL.

    Parameters:
        value: the URL, as received.
        allow_private: whether it may name a loopback/private address
            (``None``: ``RELOAD_WEBHOOK_ALLOW_PRIVATE`` from the environment).

    Returns:
        The URL.

    Raises:
        InvalidBatch: not a string, not an http(s) URL with a host, or a refused literal IP.
    """
    if allow_private is None:
        allow_private = _allow_private_from_env()
    try:
        return check_url(value, allow_private=allow_private)
    except UnsafeURL as exc:
        raise InvalidBatch(f"callback_url: {exc}") from None


def _allow_private_from_env() -> bool:
    value = os.environ.get("RELOAD_WEBHOOK_ALLOW_PRIVATE", "").strip().lower()
    return value in {"1", "true", "yes", "on"}


def complete_batch(
    ledger: Ledger, batch_id: str, *, claimant: str, now: float
) -> tuple[Literal["completed", "done", "busy", "not_final", "missing"], dict[str, Any] | None]:
    """Complete the batch if every model is final; return what happened and the summary.

    Parameters:
        ledger: the batch ledger.
        batch_id: the batch to complete.
        claimant: who completes it (a task id), for the claim.
        now: the Redis clock's time.

    Returns ``completed``: this call wrote the summary and, for a batch with a callback URL,
    its outbox record (send the webhook's task now; the sweep sends it if it is lost),
    and counted the batch for monitoring (``worker.monitoring``);
    ``done``: it was already complete (the stored summary is returned);
    ``busy``: another claimant is completing it; ``not_final``: models are
    still working; ``missing``: no such batch.
    """
    claim = ledger.claim(batch_id, claimant, now=now, seconds=CLAIM_SECONDS)
    if claim == "done":
        return "done", ledger.summary(batch_id)
    if claim != "claimed":
        return claim, None
    summary = ledger.build_summary(batch_id, completed_at=now)
    due = now + OUTBOX_FIRST_WAIT_SECONDS
    if ledger.complete(batch_id, claimant, summary, webhook_due=due):
        monitor = Monitor(ledger.client)
        duration = float(summary["duration_s"])
        record(
            f"batch {batch_id}'s completion",
            lambda: monitor.batch_completed(batch_id, duration=duration, now=now),
        )
        return "completed", summary
    return "done", ledger.summary(batch_id)
