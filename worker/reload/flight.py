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


# KEYS[1] task -> flight, KEYS[2] the model's flight hash, KEYS[3] the model's fresh-warm memo
# ARGV[1] new flight id, ARGV[2] now, ARGV[3] deadline, ARGV[4] ttl seconds
# Returns {how, flight id or fresh outcome JSON}.
ATTACH = """
local fid = redis.call('GET', KEYS[1])
if fid then
  return {'attached', fid}
end
fid = redis.call('HGET', KEYS[2], 'id')
if fid then
  redis.call('SET', KEYS[1], fid, 'EX', ARGV[4])
  return {'joined', fid}
end
local fresh = redis.call('GET', KEYS[3])
if fresh then
  return {'fresh', fresh}
end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'started', ARGV[2], 'deadline', ARGV[3],
           'next_at', ARGV[2], 'calls', 0, 'errors', 0, 'polls', 0,
           'accepted', 0, 'loading_seen', 0, 'timer', 0, 'reason', '')
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
return {'created', ARGV[1]}
"""

# KEYS[1] the model's flight hash, KEYS[2] outcome key, KEYS[3] fresh-warm memo, KEYS[4] step lock,
# KEYS[5] last confirmed warm (model -> Redis time; worker.batch.keepwarm)
# ARGV[1] flight id, ARGV[2] outcome JSON, ARGV[3] outcome ttl (s), ARGV[4] fresh ttl (ms; 0: none),
# ARGV[5] model id, ARGV[6] finished at if warm ('' if not)
FINISH = """
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
end
if ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[5])
end
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[4])
return 1
"""

# KEYS[1] step lock, KEYS[2] workers (worker id -> last heartbeat)
# ARGV[1] holder "<worker id>|<task id>", ARGV[2] lock ms, ARGV[3] dead after seconds (0: never)
# Takes the lock if it is free, or if its holder's worker stopped heartbeating.
# Returns 1 (taken), 2 (taken over from a dead worker) or 0 (busy).
LOCK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local holder = redis.call('GET', KEYS[1])
local owner = holder and string.match(holder, '^(.-)|')
if owner and tonumber(ARGV[3]) > 0 then
  local beat = redis.call('ZSCORE', KEYS[2], owner)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  -- The lock's age from its TTL: one taken less than dead_after ago is its holder's (alive
  -- since; right after a Redis stall every heartbeat is old for a moment).
  local age = (tonumber(ARGV[2]) - redis.call('PTTL', KEYS[1])) / 1000
  if beat and tonumber(beat) < now - tonumber(ARGV[3]) and age > tonumber(ARGV[3]) then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 2
  end
end
return 0
"""

# KEYS[1] step lock; ARGV[1] holder. Deletes the lock only if this holder still has it.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


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
        self._lock = client.register_script(LOCK)
        self._attach = client.register_script(ATTACH)
        self._finish = client.register_script(FINISH)
        self._unlock = client.register_script(UNLOCK)

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
