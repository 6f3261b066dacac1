"""``reload_model(model_id, batch_id=None)``: warm one model, without holding a slot to wait."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import Task
from celery.exceptions import Retry

from worker.celery import app
from worker.flight import Outcome
from worker.reload import Final
from worker.results import Waiting
from worker.runtime import runtime
from worker.validation import check_model_id

__all__ = ["reload_model"]

logger = logging.getLogger(__name__)

# Countdown before trying again when Redis itself cannot be reached.
_REDIS_RETRY_SECONDS = 2.0


@app.task(name="reload_model", bind=True, max_retries=None)
def reload_model(
    self: Task[Any, Any], model_id: str, batch_id: str | None = None
) -> dict[str, Any]:
    """Warm ``model_id``; return ``{model_id, state, reason, upstream_calls, ...}`` once final.

    Bad arguments fail the task at once (``InvalidModelIds``), before any call.
    """
    model_id = check_model_id(model_id)
    if batch_id is not None:
        batch_id = check_model_id(batch_id, where="batch_id")
    try:
        outcome = _advance(self, model_id, batch_id)
    except Retry:
        raise
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        logger.warning("Redis unreachable while reloading %s: %s", model_id, exc)
        waiting = Waiting(f"Redis unreachable: {exc}")
        raise self.retry(exc=waiting, countdown=_REDIS_RETRY_SECONDS) from None
    except Exception as exc:
        # A bug must not leave the model (and so its batch) unfinished forever.
        logger.exception("internal error while reloading %s", model_id)
        outcome = Outcome(
            model_id=model_id,
            state="failed",
            reason=f"internal error: {type(exc).__name__}",
            upstream_calls=0,
            flight_id="",
            finished_at=time.time(),
        )
        if batch_id is not None:
            _record(batch_id, outcome)
    return {
        "model_id": model_id,
        "state": outcome.state,
        "reason": outcome.reason,
        "upstream_calls": outcome.upstream_calls,
        "batch_id": batch_id,
        "finished_at": outcome.finished_at,
    }


def _advance(task: Task[Any, Any], model_id: str, batch_id: str | None) -> Outcome:
    rt = runtime()
    step = rt.reloader.advance(model_id, task.request.id or f"adhoc:{model_id}")
    if isinstance(step, Final):
        if batch_id is not None:
            _record(batch_id, step.outcome)
        return step.outcome
    if batch_id is not None:
        rt.ledger.set_state(batch_id, model_id, step.stage, now=time.time(), reason=step.reason)
    raise task.retry(exc=Waiting(step.reason), countdown=step.seconds)


def _record(batch_id: str, outcome: Outcome) -> None:
    runtime().ledger.set_state(
        batch_id,
        outcome.model_id,
        outcome.state,
        now=outcome.finished_at,
        reason=outcome.reason,
        calls=outcome.upstream_calls,
    )
