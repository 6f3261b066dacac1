"""The batch ledger: each model's state in a batch, and the batch's completion.

Keys (see ``worker.constants``):

- ``reload:batch:{id}`` hash: ``total``, ``created_at``, ``callback_url``,
  ``ids`` (JSON list, input order), ``status`` (``open`` → ``completing`` →
  ``done``), ``claim``/``claim_until`` (who is completing it), ``summary``
  (JSON, once done), ``launched``, ``last_final_at``;
- ``reload:batch:{id}:models`` hash: model id → JSON ``{state, reason, at, calls}``;
- ``reload:batch:{id}:counts`` hash: state → how many models are in it;
- ``reload:batches:open`` sorted set: open batch ids by creation time;
- ``reload:outbox`` sorted set: batches whose webhook is still to be delivered, scored
  by when the sweep should send its delivery task again (see ``worker.batch.outbox``).

Creating a batch and completing it are each one Lua script: a process killed
mid-way leaves either nothing or the whole step (keys with their TTL, the
open-set entry, the outbox record).

Model states: ``queued`` → ``waiting`` (for the limiter) → ``reloading`` →
``warm`` | ``failed`` | ``cancelled``. A final state never changes again, so a
late or duplicated task cannot undo it (a call in progress when its batch is
cancelled ends in its flight and its task's result, the ledger keeps
``cancelled``), and the counts stay exact.
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
    """Reads and writes batch ledgers; every write is one atomic step."""

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
        """Write a new batch with every model queued, in one step; False if it exists."""
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

        Returns ``("cancelled", ids)``, ``("done", [])`` (the batch is complete: nothing
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
        """The batch's chord was started; ``header_template`` is the digest of its header
        tasks' shared options (so a lost header task can be parked again in its chord)."""
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
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        record = json.dumps({"state": state, "reason": reason, "at": now, "calls": calls})
        keys = [c.batch_models_key(batch_id), c.batch_counts_key(batch_id), c.batch_key(batch_id)]
        return bool(self._set_state(keys=keys, args=[model_id, state, record, repr(now)]))

    def set_webhook_status(self, batch_id: str, status: str) -> None:
        self._redis.hset(c.batch_key(batch_id), "webhook", status)

    def meta(self, batch_id: str) -> dict[str, str]:
        raw = self._redis.hgetall(c.batch_key(batch_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    def counts(self, batch_id: str) -> dict[str, int]:
        raw = self._redis.hgetall(c.batch_counts_key(batch_id))
        found = {_text(k): int(v) for k, v in raw.items()}
        return {state: found.get(state, 0) for state in STATES}

    def models(self, batch_id: str) -> dict[str, dict[str, Any]]:
        raw = self._redis.hgetall(c.batch_models_key(batch_id))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def open_batches(self) -> list[str]:
        return [_text(m) for m in self._redis.zrange(c.OPEN_BATCHES_KEY, 0, -1)]

    def claim(self, batch_id: str, claimant: str, *, now: float, seconds: float) -> Claim:
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
        """Mark the batch done with ``summary``; a batch with a callback URL gets its
        outbox record (due at ``webhook_due``) in the same step."""
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
        raw = self._redis.hget(c.batch_key(batch_id), "summary")
        return None if raw is None else dict(json.loads(raw))

    def build_summary(self, batch_id: str, *, completed_at: float) -> dict[str, Any]:
        """The batch summary (docs/design.md's contract) from the ledger as it is now."""
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
