"""Single-flight: at most one reload of a model at a time, whoever asked for it.

A *flight* (the hash ``reload:flight:{model_id}``) is the one reload of a model in progress.
Every ``reload_model`` task for that model attaches to it, and any attached task may advance
it, one at a time under a short step lock; the flight's fields decide when the upstream is
called. Its outcome is returned by every attached task. A model confirmed warm is remembered
for ``RELOAD_FRESH_SECONDS`` (eviction takes 7 idle days). Scripts: ``worker.reload.scripts``.
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
    """How a flight ended: what ``reload_model`` returns (plus the task's own fields).

    Parameters:
        model_id: the model.
        state: ``"warm"``, ``"failed"`` or ``"cancelled"``.
        reason: why it failed or was cancelled; None when warm.
        upstream_calls: the calls the flight made.
        flight_id: the flight that ended.
        finished_at: when, in Redis time (seconds).
    """

    model_id: str
    state: Literal["warm", "failed", "cancelled"]
    reason: str | None
    upstream_calls: int
    flight_id: str
    finished_at: float

    def to_json(self) -> str:
        """The outcome as a JSON object, as stored in Redis."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Outcome:
        """The outcome ``to_json`` wrote."""
        data = json.loads(text)
        return cls(**data)


@dataclass(frozen=True)
class Attachment:
    """The flight a task is attached to, or the fresh outcome that made one unnecessary.

    Parameters:
        how: ``"attached"`` (the task already was), ``"joined"`` (a flight in progress),
            ``"created"`` (a new flight) or ``"fresh"`` (warm moments ago: no flight).
        flight_id: the flight (for ``"fresh"``, the one that warmed it).
        fresh: the remembered outcome, for ``"fresh"`` only.
        flight: the flight's fields as ``read`` returns them (None: the flight is gone, or
            the model's hash is another flight's: it ended).
        locked: the task took the model's step lock (asked for, and the step was due).
    """

    how: Literal["attached", "joined", "created", "fresh"]
    flight_id: str
    fresh: Outcome | None = None
    flight: dict[str, str] | None = None
    locked: bool = False


class FlightStore:
    """The Redis operations of single-flight; each one atomic.

    Parameters:
        client: the Redis of the shared state.
        ttl_seconds: how long a flight and a task's pointer to it live (the deadline and more).
        lock_seconds: how long a step lock lives unless released (the longest step).
        owner: this worker's id; step locks are held as ``"<owner>|<task id>"``.
        dead_after: seconds after which a lock's owner without a heartbeat is dead and its
            lock taken over at once (0: never, wait for the lock's expiry).
    """

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
        self,
        model_id: str,
        task_id: str,
        *,
        new_id: str,
        now: float,
        deadline: float,
        lock_if_due: bool = False,
    ) -> Attachment:
        """Attach ``task_id`` to the model's flight, creating one if there is none, and read
        it (one round trip: a task's whole look at its flight).

        Parameters:
            model_id: the model.
            task_id: the ``reload_model`` task.
            new_id: the id of the flight to create, if one is needed.
            now: the Redis time, the new flight's start; the step is due if its
                ``next_at`` is not later.
            deadline: the Redis time by which a new flight must end.
            lock_if_due: also take the step lock (as ``lock`` does) if the step is due;
                the caller ``unlock``s it after the step.

        Returns:
            How the task is attached, the flight's fields and the lock (see ``Attachment``).
        """
        keys = [
            c.task_flight_key(task_id, model_id),
            c.flight_key(model_id),
            c.last_warm_key(model_id),
            c.step_lock_key(model_id),
            c.WORKERS_KEY,
        ]
        holder = f"{self._owner}|{task_id}" if lock_if_due else ""
        args: list[str | int | float] = [
            new_id, repr(now), repr(deadline), self._ttl, holder, self._lock_ms, self._dead_after
        ]  # fmt: skip
        how, value, raw, locked = self._attach(keys=keys, args=args)
        how, value = _text(how), _text(value)
        if how == "fresh":
            fresh = Outcome.from_json(value)
            return Attachment("fresh", fresh.flight_id, fresh)
        assert how in ("attached", "joined", "created")
        pairs = iter(_text(item) for item in raw)
        flight = dict(zip(pairs, pairs, strict=True)) or None
        return Attachment(how, value, flight=flight, locked=int(locked) > 0)  # type: ignore[arg-type]

    def detach(self, task_id: str, model_id: str) -> None:
        """Forget which flight ``task_id`` is attached to for the model (it is done with it).

        Parameters:
            task_id: the ``reload_model`` task.
            model_id: the model.
        """
        self._redis.delete(c.task_flight_key(task_id, model_id))

    def outcome(self, flight_id: str) -> Outcome | None:
        """The outcome of the ended flight ``flight_id``; None if not ended (or expired)."""
        raw = self._redis.get(c.outcome_key(flight_id))
        return None if raw is None else Outcome.from_json(raw)

    def read(self, model_id: str, flight_id: str) -> dict[str, str] | None:
        """The flight's fields, or None if it is gone or is another flight now.

        Parameters:
            model_id: the model.
            flight_id: the flight the caller is attached to.
        """
        raw = self._redis.hgetall(c.flight_key(model_id))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return fields if fields.get("id") == flight_id else None

    def update(self, model_id: str, **fields: Any) -> None:
        """Set fields of the model's flight.

        Parameters:
            model_id: the model.
            fields: field names and values (bool, int, float or str).

        Raises:
            TypeError: a value of another type.
        """
        self._redis.hset(c.flight_key(model_id), mapping={k: _field(v) for k, v in fields.items()})

    def count_call(self, model_id: str) -> int:
        """Count an upstream call before it is made (a worker may die during it).

        Returns:
            The flight's calls, this one included.
        """
        return int(self._redis.hincrby(c.flight_key(model_id), "calls", 1))

    def lock(self, model_id: str, task_id: str) -> bool:
        """Take the model's step lock for ``task_id`` (taken over from a dead worker's holder).

        Parameters:
            model_id: the model.
            task_id: the ``reload_model`` task that is to advance the flight.

        Returns:
            True if taken (or taken over); False if a live holder has it.
        """
        keys = [c.step_lock_key(model_id), c.WORKERS_KEY]
        holder = f"{self._owner}|{task_id}"
        return int(self._lock(keys=keys, args=[holder, self._lock_ms, self._dead_after])) > 0

    def unlock(self, model_id: str, task_id: str) -> None:
        """Release the model's step lock, if ``task_id`` still holds it.

        Parameters:
            model_id: the model.
            task_id: the ``reload_model`` task that took it.
        """
        self._unlock(keys=[c.step_lock_key(model_id)], args=[f"{self._owner}|{task_id}"])

    def finish(self, outcome: Outcome, *, fresh_seconds: float) -> None:
        """End the flight: store its outcome, drop the flight and its step lock.

        Parameters:
            outcome: how it ended.
            fresh_seconds: for a warm outcome, how long a new task returns it without a call;
                a warm model's time is also recorded for keep-warm.
        """
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
