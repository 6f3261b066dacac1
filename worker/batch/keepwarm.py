"""Keep-warm's decision, in one atomic Redis step on Redis's clock: which models are due.

A configured model is *due* unless, within the last ``RELOAD_KEEP_WARM_EVERY``, its last flight
ended warm (``reload:warmed``) or keep-warm asked for it (``reload:keepwarm:asked``).
``KeepWarmStore.select`` marks the due models as asked and records its choice under the run's
task id in the same script, so two runs never ask twice and a redelivered run chooses alike.

Why: docs/decisions/0005-keep-warm-is-decided-in-redis.md
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from worker import constants as c
from worker.batch import scripts

__all__ = ["TICK_SECONDS", "KeepWarmStore", "Selection", "tick_seconds"]

# How often beat sends keep_warm to look for due models (and at every beat start).
TICK_SECONDS = 60.0
# How long a run's choice is kept for a redelivery of the same run.
RUN_RECORD_SECONDS = 24 * 3600
# Entries of reload:warmed are kept at least this long (a model idle 7 days is evicted).
WARMED_HISTORY_SECONDS = 8 * 24 * 3600


def tick_seconds(period: float) -> float:
    """Beat's interval for ``keep_warm``: every minute, or every period if that is shorter.

    Parameters:
        period: ``RELOAD_KEEP_WARM_EVERY``, in seconds.
    """
    return min(TICK_SECONDS, period)


@dataclass(frozen=True)
class Selection:
    """What one keep-warm run chose.

    Parameters:
        at: the Redis time of the choice.
        due: the models to warm now.
        warm: how many were skipped, confirmed warm within the period.
        asked: how many were skipped, put in a keep-warm batch within the period.
        again: this run had chosen before (a redelivered task): ``due`` is that choice.
    """

    at: float
    due: tuple[str, ...]
    warm: int  # skipped: confirmed warm within the period
    asked: int  # skipped: already put in a keep-warm batch within the period
    again: bool  # this run had chosen before (a redelivered task)

    @property
    def skipped(self) -> int:
        """How many models were skipped (``warm`` plus ``asked``)."""
        return self.warm + self.asked


class KeepWarmStore:
    """The keep-warm state in Redis; ``select`` is one atomic script.

    Parameters:
        client: the Redis of the shared state.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._select = client.register_script(scripts.SELECT)

    def select(self, model_ids: Sequence[str], *, period: float, run_id: str) -> Selection:
        """Mark and return the models of ``model_ids`` that are due (see the module).

        Parameters:
            model_ids: the configured models.
            period: ``RELOAD_KEEP_WARM_EVERY``, in seconds.
            run_id: the run's task id; the same id gets the same choice.
        """
        keys = [c.WARMED_KEY, c.KEEP_WARM_ASKED_KEY, c.keep_warm_run_key(run_id)]
        args: list[str | int] = [
            repr(float(period)),
            RUN_RECORD_SECONDS,
            WARMED_HISTORY_SECONDS,
            *model_ids,
        ]
        raw, new = self._select(keys=keys, args=args)
        data = json.loads(raw)
        due = data.get("due") or []  # cjson encodes an empty list as {}
        return Selection(
            at=float(data["at"]),
            due=tuple(due) if isinstance(due, list) else (),
            warm=int(data.get("warm", 0)),
            asked=int(data.get("asked", 0)),
            again=not int(new),
        )

    def warmed_at(self, model_id: str) -> float | None:
        """Redis time the model's last flight ended warm, or ``None``."""
        score = self._redis.zscore(c.WARMED_KEY, model_id)
        return None if score is None else float(score)
