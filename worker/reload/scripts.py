"""Single-flight's Lua scripts (``worker.reload.flight.FlightStore``), one constant per atomic step.

Each names the keys (``worker.constants``) and arguments it takes and what it returns: a
model's flight hash, task -> flight pointers, outcome, fresh-warm memo and step lock, and
keep-warm's account-wide "last confirmed warm" sorted set.
"""

from __future__ import annotations

__all__ = ["ATTACH", "FINISH", "LOCK", "UNLOCK"]

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

# take_lock(lock, workers, holder, lock ms, dead after): the step lock, shared by LOCK and
# ATTACH. Takes the lock if it is free, or if its holder's worker stopped heartbeating.
# Returns 1 (taken), 2 (taken over from a dead worker) or 0 (busy).
_TAKE_LOCK = """
local function take_lock(lock, workers, holder, lock_ms, dead_after)
  if redis.call('SET', lock, holder, 'NX', 'PX', lock_ms) then return 1 end
  local current = redis.call('GET', lock)
  local owner = current and string.match(current, '^(.-)|')
  if owner and tonumber(dead_after) > 0 then
    local beat = redis.call('ZSCORE', workers, owner)
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    -- The lock's age from its TTL: one taken less than dead_after ago is its holder's (alive
    -- since; right after a Redis stall every heartbeat is old for a moment).
    local age = (tonumber(lock_ms) - redis.call('PTTL', lock)) / 1000
    if beat and tonumber(beat) < now - tonumber(dead_after) and age > tonumber(dead_after) then
      redis.call('SET', lock, holder, 'PX', lock_ms)
      return 2
    end
  end
  return 0
end
"""

# KEYS[1] step lock, KEYS[2] workers (worker id -> last heartbeat)
# ARGV[1] holder "<worker id>|<task id>", ARGV[2] lock ms, ARGV[3] dead after seconds (0: never)
# Returns take_lock's answer: 1 (taken), 2 (taken over from a dead worker) or 0 (busy).
LOCK = _TAKE_LOCK + "return take_lock(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])\n"

# KEYS[1] task -> flight, KEYS[2] the model's flight hash, KEYS[3] the model's fresh-warm memo,
# KEYS[4] step lock, KEYS[5] workers (worker id -> last heartbeat)
# ARGV[1] new flight id, ARGV[2] now, ARGV[3] deadline, ARGV[4] ttl seconds,
# ARGV[5] lock holder ('' : take no lock), ARGV[6] lock ms, ARGV[7] dead after seconds
# Returns {how, flight id or fresh outcome JSON, the flight's fields (HGETALL; empty when the
# hash is gone or is another flight's), lock}: lock is take_lock's answer when a holder was
# given and the flight's next step is due (next_at <= now), else 0. The fields are read
# after the lock is taken, so they are the ones the holder advances.
ATTACH = (
    _TAKE_LOCK
    + """
local current = redis.call('HGET', KEYS[2], 'id')  -- the model's flight now, if any
local how, fid = 'attached', redis.call('GET', KEYS[1])
if not fid and current then
  how, fid = 'joined', current
  redis.call('SET', KEYS[1], fid, 'EX', ARGV[4])
elseif not fid then
  local fresh = redis.call('GET', KEYS[3])
  if fresh then
    return {'fresh', fresh, {}, 0}
  end
  how, fid, current = 'created', ARGV[1], ARGV[1]
  redis.call('HSET', KEYS[2], 'id', fid, 'started', ARGV[2], 'deadline', ARGV[3],
             'next_at', ARGV[2], 'calls', 0, 'errors', 0, 'polls', 0,
             'accepted', 0, 'loading_seen', 0, 'timer', 0, 'reason', '')
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  redis.call('SET', KEYS[1], fid, 'EX', ARGV[4])
end
if current ~= fid then  -- attached to a flight that ended (the hash is gone or another's)
  return {how, fid, {}, 0}
end
local locked = 0
local next_at = tonumber(redis.call('HGET', KEYS[2], 'next_at') or '0')
if ARGV[5] ~= '' and next_at <= tonumber(ARGV[2]) then
  locked = take_lock(KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[7])
end
return {how, fid, redis.call('HGETALL', KEYS[2]), locked}
"""
)

# KEYS[1] step lock; ARGV[1] holder. Deletes the lock only if this holder still has it.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
