"""The reconciler: an open batch never hangs on work that was lost.

Run by every ``batch_backstop`` on one open batch: a model not final, whose task has no job in
``reload:jobs`` and whose record has not changed for ``grace`` seconds, was lost and is
dispatched again (in its chord if it can be, else as a plain ``reload_model`` and the batch is
marked ``chord_broken``); past the batch deadline, the models left fail and the backstop
completes the batch.

Why: docs/decisions/0007-reconciler-and-webhook-outbox.md
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker import constants as c
from worker.batch.ledger import FINAL_STATES, Ledger
from worker.messaging.parking import Job, ParkingLot

__all__ = ["DEADLINE_REASON", "Reconciled", "Reconciler"]

logger = logging.getLogger(__name__)

DEADLINE_REASON = "batch deadline exceeded"
TaskId = Callable[[str, str], str]


@dataclass
class Reconciled:
    """What one look at a batch did.

    Parameters:
        redispatched: the model ids sent again.
        deadline_failed: the model ids failed by the batch deadline.
        chord_broken: the batch completes through the backstop, not its chord.
    """

    redispatched: list[str] = field(default_factory=list)  # model ids sent again
    deadline_failed: list[str] = field(default_factory=list)  # failed by the deadline
    chord_broken: bool = False  # the batch completes through the backstop, not its chord


class Reconciler:
    """Finds and re-dispatches a batch's lost models; applies the batch deadline.

    Parameters:
        ledger: the batch ledger.
        lot: the parking lot (jobs, templates), on the same Redis.
        header_task_id: ``(batch_id, model_id) -> task id`` of the batch's chord header tasks.
        redo_task_id: ``(batch_id, model_id, attempt) -> task id`` of a plain re-dispatch.
        grace: seconds a model's record must be quiet, with no job, before it counts as lost.
        deadline: seconds from the batch's creation after which its open models fail.
    """

    def __init__(
        self,
        ledger: Ledger,
        lot: ParkingLot,
        *,
        header_task_id: TaskId,
        redo_task_id: Callable[[str, str, int], str],
        grace: float,
        deadline: float,
    ) -> None:
        self.ledger = ledger
        self.lot = lot
        self.redis = ledger.client
        self.header_task_id = header_task_id
        self.redo_task_id = redo_task_id
        self.grace = grace
        self.deadline = deadline

    def run(self, batch_id: str, *, now: float) -> Reconciled:
        """Look at one batch: apply its deadline, or dispatch its lost models again.

        Parameters:
            batch_id: the batch (one that is not open is left alone).
            now: the Redis time.

        Returns:
            What was done.

        Raises:
            KeyError: the ledger is corrupt (a field or a model record is missing).
            ValueError: the ledger is corrupt (a field does not parse).
        """
        done = Reconciled()
        meta = self.ledger.meta(batch_id)
        if meta.get("status") != "open":
            return done
        created_at = float(meta["created_at"])
        models = self.ledger.models(batch_id)
        ids: list[str] = json.loads(meta["ids"])
        open_ids = [m for m in ids if models[m]["state"] not in FINAL_STATES]
        if not open_ids:
            done.chord_broken = meta.get("chord_broken") == "1"
            return done
        if now >= created_at + self.deadline:
            for model_id in open_ids:
                if self.ledger.set_state(
                    batch_id, model_id, "failed", now=now, reason=DEADLINE_REASON
                ):
                    done.deadline_failed.append(model_id)
            self._break_chord(batch_id)
            done.chord_broken = True
            if done.deadline_failed:
                logger.warning(
                    "batch %s: deadline exceeded; failed %d models still working",
                    batch_id,
                    len(done.deadline_failed),
                )
            return done
        lost = self.lost(batch_id, meta, models, open_ids, now=now)
        for model_id in lost:
            self._redispatch(batch_id, model_id, ids.index(model_id), meta, now=now)
            done.redispatched.append(model_id)
        if lost:
            logger.warning(
                "batch %s: %d models had no task, flight or outcome for %.0f s; "
                "dispatched again: %s",
                batch_id,
                len(lost),
                self.grace,
                ", ".join(lost[:10]),
            )
        done.chord_broken = self.ledger.meta(batch_id).get("chord_broken") == "1"
        return done

    def lost(
        self,
        batch_id: str,
        meta: dict[str, str],
        models: dict[str, dict[str, Any]],
        open_ids: list[str],
        *,
        now: float,
    ) -> list[str]:
        """The open models with no job for their task, quiet for longer than the grace.

        ``models`` was read before: a model may have finished since, its job released after
        its final record was written. So the jobs are looked at first, and the records of
        the models without one are read again after: a job gone before that look belongs to
        a model whose final record the second read sees (reading the records only before
        took models finishing during a look at 10,000 for lost ones).

        Parameters:
            batch_id: the batch.
            meta: its batch hash (``Ledger.meta``).
            models: its model records (``Ledger.models``), read before this call.
            open_ids: its models not final in ``models``.
            now: the Redis time.
        """
        quiet = [m for m in open_ids if self._quiet(meta, models[m], m, now=now)]
        if not quiet:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for model_id in quiet:
            pipe.hexists(c.JOBS_KEY, self.task_of(batch_id, meta, model_id))
        jobless = [m for m, alive in zip(quiet, pipe.execute(), strict=True) if not alive]
        if not jobless:
            return []
        now_records = self.ledger.model_records(batch_id, jobless)
        return [
            m
            for m in jobless
            if m in now_records
            and now_records[m]["state"] not in FINAL_STATES
            and self._quiet(meta, now_records[m], m, now=now)
        ]

    def _quiet(
        self, meta: dict[str, str], record: dict[str, Any], model_id: str, *, now: float
    ) -> bool:
        """The model's record, and its last re-dispatch, are older than the grace."""
        last = max(float(record["at"]), float(meta.get(f"redo_at:{model_id}", 0)))
        return now - last >= self.grace

    def task_of(self, batch_id: str, meta: dict[str, str], model_id: str) -> str:
        """The id of the task that works on ``model_id`` for the batch now.

        Parameters:
            batch_id: the batch.
            meta: its batch hash (``Ledger.meta``): a re-dispatch's task id, if any.
            model_id: the model.
        """
        return meta.get(f"task:{model_id}") or self.header_task_id(batch_id, model_id)

    def _redispatch(
        self, batch_id: str, model_id: str, index: int, meta: dict[str, str], *, now: float
    ) -> None:
        header = self.header_task_id(batch_id, model_id)
        template = self.lot.template(meta["header_tpl"]) if meta.get("header_tpl") else None
        returned = self.redis.exists(c.done_key(header)) == 1
        batch_key = c.batch_key(batch_id)
        if template is not None and not returned and not meta.get(f"task:{model_id}"):
            options = {**template["options"], "task_id": header, "group_index": index}
            self.lot.park(Job(template["name"], [model_id, batch_id], {}, options), 0.0)
            self.redis.hset(batch_key, f"redo_at:{model_id}", repr(now))
            return
        attempt = int(self.redis.hincrby(batch_key, "redispatches", 1))
        task_id = self.redo_task_id(batch_id, model_id, attempt)
        options = {"task_id": task_id, "queue": template_queue(template)}
        self.lot.park(Job("reload_model", [model_id, batch_id], {}, options), 0.0)
        self.redis.hset(
            batch_key, mapping={f"task:{model_id}": task_id, f"redo_at:{model_id}": repr(now)}
        )
        self._break_chord(batch_id)

    def _break_chord(self, batch_id: str) -> None:
        self.redis.hset(c.batch_key(batch_id), "chord_broken", 1)


def template_queue(template: dict[str, Any] | None) -> str:
    """The queue a re-dispatched task goes to: its chord template's, else ``reload``."""
    from worker.client import QUEUE

    if template is not None and template["options"].get("queue"):
        return str(template["options"]["queue"])
    return QUEUE
