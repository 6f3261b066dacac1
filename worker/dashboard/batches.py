"""Views of the batch ledger: a batch's progress, its failures, its models, its warm curve.

Read from ``worker.batch.ledger`` (one ``HGETALL`` per hash, so the counts of
one view are one consistent read) with Redis's time; nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.batch.estimate import estimate_seconds_left
from worker.batch.ids import header_task_id
from worker.batch.ledger import FINAL_STATES, STATES
from worker.dashboard.sources import Sources

__all__ = [
    "BatchView",
    "ModelRow",
    "batch_view",
    "open_batches",
    "recent_batches",
    "seconds_left",
    "warm_curve",
]

# A rate measured over less than this (an unknown model fails at once) is no rate.
MIN_SPAN_SECONDS = 5.0


@dataclass(frozen=True)
class ModelRow:
    """One model of a batch: its ledger state, reason, calls, last change and task id."""

    model_id: str
    state: str
    reason: str | None
    calls: int
    at: float | None
    task_id: str


@dataclass(frozen=True)
class BatchView:
    """One batch as the dashboard shows it."""

    batch_id: str
    status: str  # open | completing | done
    priority: str
    total: int
    counts: Mapping[str, int]
    created_at: float
    finished_at: float | None
    elapsed: float
    seconds_left: float | None
    failures: Mapping[str, str]
    models: tuple[ModelRow, ...] = field(default=())

    @property
    def final(self) -> int:
        """How many of the batch's models are final (warm, failed or cancelled)."""
        return sum(self.counts.get(state, 0) for state in FINAL_STATES)

    def to_json(self) -> dict[str, Any]:
        """The view as JSON-ready data (``/api/overview``, ``/api/batch/{id}``)."""
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "priority": self.priority,
            "total": self.total,
            "final": self.final,
            "counts": dict(self.counts),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "elapsed": round(self.elapsed, 3),
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left, 1),
            "failures": dict(self.failures),
        }


def seconds_left(
    final_times: list[float], total: int, *, started: float, now: float
) -> float | None:
    """Seconds until every model is final, from the times models became final
    (``worker.batch.estimate``, over spans of at least ``MIN_SPAN_SECONDS``).

    Parameters:
        final_times: the Redis times at which the batch's final models became final.
        total: how many models the batch has.
        started: the batch's creation time.
        now: the Redis time now.

    Returns:
        The estimate; ``0.0`` once all are final; ``None`` while nothing is final or less than
        ``MIN_SPAN_SECONDS`` were measured.
    """
    samples = [(t - started, n) for n, t in enumerate(sorted(final_times), 1)]
    samples.append((now - started, len(final_times)))
    return estimate_seconds_left(samples, total, min_span=MIN_SPAN_SECONDS)


def warm_curve(rows: Sequence[ModelRow], started: float) -> list[tuple[float, int]]:
    """``(seconds since the start, models warm by then)``, one point per model that got warm.

    Parameters:
        rows: the batch's models (``BatchView.models``).
        started: the batch's creation time.
    """
    times = sorted(r.at - started for r in rows if r.state == "warm" and r.at is not None)
    return [(max(0.0, t), n) for n, t in enumerate(times, 1)]


def batch_view(
    sources: Sources, batch_id: str, *, now: float, with_models: bool = False
) -> BatchView | None:
    """The batch's view, or ``None`` if its ledger is gone (expired) or not written yet.

    Parameters:
        sources: what the dashboard reads.
        batch_id: the batch.
        now: the Redis time now (elapsed and estimated times count from it).
        with_models: also fill ``models``, one row per model (empty otherwise).
    """
    ledger = sources.ledger
    meta = ledger.meta(batch_id)
    if "ids" not in meta or "created_at" not in meta:
        return None
    ids: list[str] = json.loads(meta["ids"])
    models = ledger.models(batch_id)
    counts = ledger.counts(batch_id)
    created = float(meta["created_at"])
    final_times = [
        float(models[m]["at"]) for m in ids if m in models and models[m]["state"] in FINAL_STATES
    ]
    done = meta.get("status") == "done"
    finished = max(final_times, default=created) if done else None
    elapsed = (finished if finished is not None else now) - created
    failures = {
        m: models[m].get("reason") or "failed"
        for m in ids
        if models.get(m, {}).get("state") == "failed"
    }
    rows: tuple[ModelRow, ...] = ()
    if with_models:
        rows = tuple(
            ModelRow(
                model_id=m,
                state=str(models[m]["state"]),
                reason=models[m].get("reason"),
                calls=int(models[m].get("calls") or 0),
                at=_number(models[m].get("at")),
                task_id=meta.get(f"task:{m}") or header_task_id(batch_id, m),
            )
            for m in ids
            if m in models
        )
    return BatchView(
        batch_id=batch_id,
        status=meta.get("status", "open"),
        priority=meta.get("priority") or "normal",
        total=len(ids),
        counts={state: counts.get(state, 0) for state in STATES},
        created_at=created,
        finished_at=finished,
        elapsed=max(0.0, elapsed),
        seconds_left=None
        if done
        else seconds_left(final_times, len(ids), started=created, now=now),
        failures=failures,
        models=rows,
    )


def open_batches(sources: Sources, *, now: float) -> list[BatchView]:
    """The open batches, newest first (those whose ledger is gone are left out).

    Parameters:
        sources: what the dashboard reads.
        now: the Redis time now.
    """
    views = (batch_view(sources, b, now=now) for b in reversed(sources.ledger.open_batches()))
    return [v for v in views if v is not None]


def recent_batches(sources: Sources, *, now: float, limit: int = 20) -> list[BatchView]:
    """The latest completed batches, newest first (those whose ledger is gone are left out).

    Parameters:
        sources: what the dashboard reads.
        now: the Redis time now.
        limit: at most this many batches.
    """
    views = (batch_view(sources, b, now=now) for b in sources.monitor.recent_batches(limit))
    return [v for v in views if v is not None]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
