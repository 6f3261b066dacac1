"""Single-flight: at most one reload of a model at a time, whoever asked for it.

A *flight* is the one reload of a model in progress, a Redis hash at
``reload:flight:{model_id}``. Every ``reload_model`` task asking for that
model *attaches* to it (``reload:task:{task_id}`` remembers which flight), and
any attached task may advance it, one at a time under a short step lock, when
its next action is due. The flight's fields, not the tasks, decide when the
upstream is called, so a hundred tasks attached to one flight make the calls
of one. When the flight ends its outcome is written under
``reload:outcome:{flight_id}`` and every attached task returns it.

A model confirmed warm is remembered for ``RELOAD_FRESH_SECONDS``; a task
arriving in that time returns warm without calling (eviction takes 7 idle
days, so a model warm minutes ago is warm).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

import redis

from worker import constants as c
from worker.reload import scripts

__all__ = ["Attachment", "FlightStore", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """How a flight ended: what ``reload_model`` returns (plus the task's own fields)."""

    model_id: str
    state: Literal["warm", "failed", "cancelled"]
    reason: str | None
    upstream_calls: int
    flight_id: str
    finished_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Outcome:
        data = json.loads(text)
        return cls(**data)


@dataclass(frozen=True)
class Attachment:
    """The flight a task is attached to, or the fresh outcome that made one unnecessary."""

    how: Literal["attached", "joined", "created", "fresh"]
    flight_id: str
    fresh: Outcome | None = None


class FlightStore:
    """The Redis operations of single-flight; each one atomic."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_seconds: float,
        lock_seconds: float,
        owner: str = "",
        dead_after: float = 0.0,
    ) -> None:
        self._redis = client
        self._ttl = max(1, int(ttl_seconds))
        self._lock_ms = max(1, int(lock_seconds * 1000))
        # Step locks are held as "<owner>|<task id>"; a lock whose owner's heartbeat is
        # older than ``dead_after`` is taken over at once instead of after its TTL.
        self._owner = owner
        self._dead_after = dead_after
        self._lock = client.register_script(scripts.LOCK)
        self._attach = client.register_script(scripts.ATTACH)
        self._finish = client.register_script(scripts.FINISH)
        self._unlock = client.register_script(scripts.UNLOCK)

    def attach(
        self, model_id: str, task_id: str, *, new_id: str, now: float, deadline: float
    ) -> Attachment:
        keys = [
            c.task_flight_key(task_id, model_id),
            c.flight_key(model_id),
            c.last_warm_key(model_id),
        ]
        how, value = self._attach(keys=keys, args=[new_id, repr(now), repr(deadline), self._ttl])
        how, value = _text(how), _text(value)
        if how == "fresh":
            fresh = Outcome.from_json(value)
            return Attachment("fresh", fresh.flight_id, fresh)
        assert how in ("attached", "joined", "created")
        return Attachment(how, value)  # type: ignore[arg-type]

    def detach(self, task_id: str, model_id: str) -> None:
        self._redis.delete(c.task_flight_key(task_id, model_id))

    def outcome(self, flight_id: str) -> Outcome | None:
        raw = self._redis.get(c.outcome_key(flight_id))
        return None if raw is None else Outcome.from_json(raw)

    def read(self, model_id: str, flight_id: str) -> dict[str, str] | None:
        """The flight's fields, or None if it is gone or is another flight now."""
        raw = self._redis.hgetall(c.flight_key(model_id))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return fields if fields.get("id") == flight_id else None

    def update(self, model_id: str, **fields: Any) -> None:
        self._redis.hset(c.flight_key(model_id), mapping={k: _field(v) for k, v in fields.items()})

    def count_call(self, model_id: str) -> int:
        """Count an upstream call before it is made (a worker may die during it)."""
        return int(self._redis.hincrby(c.flight_key(model_id), "calls", 1))

    def lock(self, model_id: str, task_id: str) -> bool:
        """Take the model's step lock for ``task_id``; False if a live holder has it."""
        keys = [c.step_lock_key(model_id), c.WORKERS_KEY]
        holder = f"{self._owner}|{task_id}"
        return int(self._lock(keys=keys, args=[holder, self._lock_ms, self._dead_after])) > 0

    def unlock(self, model_id: str, task_id: str) -> None:
        self._unlock(keys=[c.step_lock_key(model_id)], args=[f"{self._owner}|{task_id}"])

    def finish(self, outcome: Outcome, *, fresh_seconds: float) -> None:
        model_id = outcome.model_id
        keys = [
            c.flight_key(model_id),
            c.outcome_key(outcome.flight_id),
            c.last_warm_key(model_id),
            c.step_lock_key(model_id),
            c.WARMED_KEY,
        ]
        warm = outcome.state == "warm"
        fresh = round(fresh_seconds * 1000) if warm else 0
        at = repr(outcome.finished_at) if warm else ""
        args: list[str | int] = [
            outcome.flight_id, outcome.to_json(), c.RESULT_TTL_SECONDS, fresh, model_id, at
        ]  # fmt: skip
        self._finish(keys=keys, args=args)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a flight")
