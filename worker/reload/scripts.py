"""Single-flight's Lua scripts (``worker.reload.flight.FlightStore``), one constant per atomic step.

Each names the keys (``worker.constants``) and arguments it takes and what it returns: a
model's flight hash, task -> flight pointers, outcome, fresh-warm memo and step lock, and
keep-warm's account-wide "last confirmed warm" sorted set.
"""

from __future__ import annotations

__all__ = ["ATTACH", "FINISH", "LOCK", "UNLOCK"]

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
