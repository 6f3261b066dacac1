"""The batch ledger: each model's state in a batch, and the batch's completion.

Model states: ``queued`` → ``waiting`` (for the limiter) → ``reloading`` → ``warm`` |
``failed`` | ``cancelled``. A final state never changes again, so a late or duplicated task
cannot undo it and the counts stay exact. Creating, cancelling and completing a batch are each
one Lua script: a process killed mid-way leaves nothing or the whole step. Keys and scripts:
:mod:`worker.batch.scripts`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import redis

from worker import constants as c
from worker.batch import scripts

__all__ = ["FINAL_STATES", "STATES", "Claim", "Ledger"]

STATES = ("queued", "waiting", "reloading", "warm", "failed", "cancelled")
FINAL_STATES = ("warm", "failed", "cancelled")
Claim = Literal["claimed", "done", "busy", "not_final", "missing"]


class Ledger:
    """Reads and writes batch ledgers; every write is one atomic step.

    Parameters:
        client: the Redis of the shared state.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._set_state = client.register_script(scripts.SET_STATE)
        self._claim = client.register_script(scripts.CLAIM)
        self._complete = client.register_script(scripts.COMPLETE)
        self._create = client.register_script(scripts.CREATE)
        self._cancel = client.register_script(scripts.CANCEL)

    @property
    def client(self) -> redis.Redis:
        """The Redis the ledger is kept in."""
        return self._redis

    def create(
        self, batch_id: str, model_ids: Sequence[str], *, now: float, callback_url: str | None
    ) -> bool:
        """Write a new batch with every model queued, in one step, and open it.

        Parameters:
            batch_id: the batch's id.
            model_ids: its models, in input order, without duplicates.
            now: the Redis time, the batch's ``created_at``.
            callback_url: the webhook's URL, or None.

        Returns:
            False if the batch exists already (nothing written).
        """
        record = json.dumps({"state": "queued", "reason": None, "at": now, "calls": 0})
        keys = [
            c.batch_key(batch_id),
            c.batch_models_key(batch_id),
            c.batch_counts_key(batch_id),
            c.OPEN_BATCHES_KEY,
        ]
        args: list[str | int] = [
            batch_id,
            repr(now),
            c.RESULT_TTL_SECONDS,
            repr(now),
            json.dumps(list(model_ids)),
            callback_url or "",
            record,
            *model_ids,
        ]
        return bool(self._create(keys=keys, args=args))

    def cancel(self, batch_id: str, *, now: float) -> tuple[str, list[str]]:
        """Cancel every model of the batch that is not final, in one step.

        Parameters:
            batch_id: the batch.
            now: the Redis time of the cancellation.

        Returns:
            ``("cancelled", ids cancelled)``, ``("done", [])`` (the batch is complete: nothing
            changed) or ``("missing", [])``.
        """
        keys = [c.batch_key(batch_id), c.batch_models_key(batch_id), c.batch_counts_key(batch_id)]
        reply = self._cancel(keys=keys, args=[repr(now)])
        return _text(reply[0]), [_text(m) for m in reply[1:]]

    def cancelled(self, batch_id: str, model_id: str) -> bool:
        """Whether ``model_id`` was cancelled in the batch (one cheap read when not)."""
        if not self._redis.hexists(c.batch_key(batch_id), "cancelled_at"):
            return False
        raw = self._redis.hget(c.batch_models_key(batch_id), model_id)
        return raw is not None and json.loads(raw).get("state") == "cancelled"

    def mark_launched(
        self, batch_id: str, *, header_template: str = "", priority: str = "normal"
    ) -> None:
        """Record that the batch's chord was started.

        Parameters:
            batch_id: the batch.
            header_template: the digest of its header tasks' shared options, so that a lost
                header task can be parked again in its chord (``""``: none).
            priority: the batch's priority, ``"normal"`` or ``"high"``.
        """
        fields: dict[Any, str | int] = {"launched": 1, "priority": priority}
        if header_template:
            fields["header_tpl"] = header_template
        self._redis.hset(c.batch_key(batch_id), mapping=fields)

    def set_state(
        self,
        batch_id: str,
        model_id: str,
        state: str,
        *,
        now: float,
        reason: str | None = None,
        calls: int = 0,
    ) -> bool:
        """Set a model's state in the batch, unless it is final already.

        Parameters:
            batch_id: the batch.
            model_id: the model.
            state: one of ``STATES``.
            now: the Redis time of the change.
            reason: why, for ``failed`` and ``cancelled``.
            calls: the upstream calls made for the model so far.

        Returns:
            True if the state changed; False if the model is unknown, final or unchanged.

        Raises:
            ValueError: ``state`` is not one of ``STATES``.
        """
        return self._set(batch_id, model_id, state, now, reason, calls) == 1

    def set_waiting(
        self, batch_id: str, model_id: str, stage: str, *, now: float, reason: str
    ) -> bool:
        """Record a waiting model's stage and reason (as ``set_state``), and say whether the
        batch cancelled it meanwhile: one round trip for a task about to park.

        Parameters:
            batch_id: the batch.
            model_id: the model.
            stage: ``"waiting"`` or ``"reloading"``.
            now: the Redis time of the change.
            reason: what it waits for.

        Returns:
            True if the model is cancelled in the batch (its task stops instead of parking).
        """
        return self._set(batch_id, model_id, stage, now, reason, 0) == -1

    def _set(
        self, batch_id: str, model_id: str, state: str, now: float, reason: str | None, calls: int
    ) -> int:
        """SET_STATE's answer: 1 changed, 0 unchanged, -1 cancelled (unchanged)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        record = json.dumps({"state": state, "reason": reason, "at": now, "calls": calls})
        keys = [c.batch_models_key(batch_id), c.batch_counts_key(batch_id), c.batch_key(batch_id)]
        return int(self._set_state(keys=keys, args=[model_id, state, record, repr(now)]))

    def set_webhook_status(self, batch_id: str, status: str) -> None:
        """Record the webhook's delivery status (``pending``, ``delivered: ...``, ...)."""
        self._redis.hset(c.batch_key(batch_id), "webhook", status)

    def meta(self, batch_id: str) -> dict[str, str]:
        """The batch hash's fields (empty if the batch is unknown)."""
        raw = self._redis.hgetall(c.batch_key(batch_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    def counts(self, batch_id: str) -> dict[str, int]:
        """How many of the batch's models are in each state (every state named)."""
        raw = self._redis.hgetall(c.batch_counts_key(batch_id))
        found = {_text(k): int(v) for k, v in raw.items()}
        return {state: found.get(state, 0) for state in STATES}

    def models(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """Each model's record: ``{state, reason, at, calls}``."""
        raw = self._redis.hgetall(c.batch_models_key(batch_id))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def model_records(self, batch_id: str, model_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of these models (``models``, for a few): a model with none is left out."""
        raw = self._redis.hmget(c.batch_models_key(batch_id), model_ids)
        return {m: json.loads(v) for m, v in zip(model_ids, raw, strict=True) if v is not None}

    def open_batches(self) -> list[str]:
        """The ids of the open batches, oldest first."""
        return [_text(m) for m in self._redis.zrange(c.OPEN_BATCHES_KEY, 0, -1)]

    def claim(self, batch_id: str, claimant: str, *, now: float, seconds: float) -> Claim:
        """Claim the completion of a batch whose models are all final.

        Parameters:
            batch_id: the batch.
            claimant: who completes it (a task id); passed on to ``complete``.
            now: the Redis time.
            seconds: how long the claim lasts before another claimant may take it.

        Returns:
            ``"claimed"``, or why not: ``"done"``, ``"busy"`` (another live claim),
            ``"not_final"`` or ``"missing"``.

        Raises:
            RuntimeError: the script answered something else.
        """
        keys = [c.batch_key(batch_id), c.batch_counts_key(batch_id)]
        result = _text(self._claim(keys=keys, args=[claimant, repr(now), seconds]))
        if result not in ("claimed", "done", "busy", "not_final", "missing"):
            raise RuntimeError(f"unexpected claim answer {result!r}")
        return result  # type: ignore[return-value]

    def complete(
        self,
        batch_id: str,
        claimant: str,
        summary: dict[str, Any],
        *,
        webhook_due: float = 0.0,
    ) -> bool:
        """Mark the batch done with ``summary`` and close it.

        Parameters:
            batch_id: the batch.
            claimant: the one that claimed it (``claim``).
            summary: the batch summary (``build_summary``).
            webhook_due: when a batch with a callback URL gets its outbox record due, in the
                same step (the sweep sends its delivery task again after it).

        Returns:
            False if ``claimant`` had lost its claim (nothing written).
        """
        keys = [
            c.batch_key(batch_id),
            c.batch_models_key(batch_id),
            c.batch_counts_key(batch_id),
            c.OPEN_BATCHES_KEY,
            c.OUTBOX_KEY,
        ]
        args: list[str | int] = [
            claimant,
            json.dumps(summary),
            batch_id,
            c.RESULT_TTL_SECONDS,
            repr(webhook_due),
        ]
        return bool(self._complete(keys=keys, args=args))

    def forget_open(self, batch_id: str) -> None:
        """Drop ``batch_id`` from the open set (its ledger is gone)."""
        self._redis.zrem(c.OPEN_BATCHES_KEY, batch_id)

    def summary(self, batch_id: str) -> dict[str, Any] | None:
        """The summary of a completed batch, or None."""
        raw = self._redis.hget(c.batch_key(batch_id), "summary")
        return None if raw is None else dict(json.loads(raw))

    def build_summary(self, batch_id: str, *, completed_at: float) -> dict[str, Any]:
        """The batch summary (docs/design.md's contract) from the ledger as it is now.

        Parameters:
            batch_id: the batch.
            completed_at: the Redis time of the completion (``finished_at`` if no model is
                final).

        Raises:
            KeyError: the batch or one of its models is missing from the ledger.
        """
        meta = self.meta(batch_id)
        models = self.models(batch_id)
        ids: list[str] = json.loads(meta["ids"])
        warm = [m for m in ids if models[m]["state"] == "warm"]
        failed = {m: models[m]["reason"] or "failed" for m in ids if models[m]["state"] == "failed"}
        cancelled = [m for m in ids if models[m]["state"] == "cancelled"]
        final_times = [models[m]["at"] for m in ids if models[m]["state"] in FINAL_STATES]
        started_at = float(meta["created_at"])
        finished_at = max(final_times, default=completed_at)
        return {
            "batch_id": batch_id,
            "total": len(ids),
            "warm": warm,
            "failed": failed,
            "cancelled": cancelled,
            "priority": meta.get("priority") or "normal",
            "started_at": started_at,
            "finished_at": finished_at,
            "completed_at": completed_at,
            "duration_s": round(finished_at - started_at, 3),
            "upstream_calls": sum(int(models[m].get("calls", 0)) for m in ids),
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
