"""Batches: checking a request, and completing a batch exactly once.

Completion is shared by the chord's callback, the per-batch watchdog and the
periodic sweep: whichever finds every model final first *claims* the batch
(atomically, with a claim that expires if its holder dies), writes the
summary, and marks it done. The others find it done and return the same
summary, so the summary is written once and the webhook is sent once.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from worker.ledger import Ledger
from worker.validation import InvalidModelIds, validate_model_ids

__all__ = ["CLAIM_SECONDS", "InvalidBatch", "check_batch", "complete_batch"]

# How long a claimant has to write the summary before another may take over.
CLAIM_SECONDS = 60.0
MAX_URL_LENGTH = 2048


class InvalidBatch(ValueError):
    """A ``warmup_batch`` request that cannot be started; nothing was enqueued."""


def check_batch(model_ids: object, callback_url: object, *, max_batch: int) -> list[str]:
    """The batch's unique ids in order, or ``InvalidBatch`` saying what is wrong."""
    try:
        ids = validate_model_ids(model_ids, max_count=max_batch)
    except InvalidModelIds as exc:
        raise InvalidBatch(str(exc)) from None
    if callback_url is not None:
        check_callback_url(callback_url)
    return ids


def check_callback_url(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidBatch(f"callback_url: expected a string, got {type(value).__name__}")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or len(value) > MAX_URL_LENGTH:
        raise InvalidBatch(f"callback_url: expected an http(s) URL, got {value[:100]!r}")
    return value


def complete_batch(
    ledger: Ledger, batch_id: str, *, claimant: str, now: float
) -> tuple[Literal["completed", "done", "busy", "not_final", "missing"], dict[str, Any] | None]:
    """Complete the batch if every model is final; return what happened and the summary.

    ``completed``: this call wrote the summary (send the webhook now);
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
    if ledger.complete(batch_id, claimant, summary):
        return "completed", summary
    return "done", ledger.summary(batch_id)
