"""The batch ledger's and keep-warm's Lua scripts, one named constant per atomic operation.

A batch's keys (``worker.constants``), each script naming those it takes:

- ``reload:batch:{id}``: hash of ``total``, ``created_at``, ``callback_url``, ``ids`` (JSON,
  input order), ``status`` (``open`` → ``completing`` → ``done``), ``claim``/``claim_until``,
  ``summary`` (once done), ``launched``, ``last_final_at``;
- ``reload:batch:{id}:models``: hash model id → ``{state, reason, at, calls}`` (JSON);
- ``reload:batch:{id}:counts``: hash state → how many models are in it;
- ``reload:batches:open`` (open batches by creation time) and ``reload:outbox`` (webhooks to
  deliver, by when the sweep sends their task again): sorted sets.

``SELECT`` is keep-warm's (``worker.batch.keepwarm``).
"""

from __future__ import annotations

__all__ = ["CANCEL", "CLAIM", "COMPLETE", "CREATE", "SELECT", "SET_STATE"]

# KEYS[1] models hash, KEYS[2] counts hash, KEYS[3] batch hash
# ARGV[1] model id, ARGV[2] new state, ARGV[3] record JSON, ARGV[4] now
# Returns 1 if the state changed, 0 if the model was unknown, already final or unchanged,
# -1 if it was cancelled (final too: unchanged).
SET_STATE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local old_state = cjson.decode(old)['state']
if old_state == 'cancelled' then return -1 end
local final = ARGV[2] == 'warm' or ARGV[2] == 'failed' or ARGV[2] == 'cancelled'
if old_state == 'warm' or old_state == 'failed' or old_state == 'cancelled' then return 0 end
if old_state == ARGV[2] and not final then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], old_state, -1)
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if final then
  redis.call('HSET', KEYS[3], 'last_final_at', ARGV[4])
end
return 1
"""

# KEYS[1] batch hash, KEYS[2] models hash, KEYS[3] counts hash
# ARGV[1] now
# Every model of an open batch that is not final becomes 'cancelled' (a final state).
# Returns {'missing'}, {'done'} (the batch is complete: nothing changes) or
# {'cancelled', model ids...}.
CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'done' then return {'done'} end
local out = {'cancelled'}
local ids = cjson.decode(redis.call('HGET', KEYS[1], 'ids'))
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local record = cjson.decode(raw)
    local state = record['state']
    if state ~= 'warm' and state ~= 'failed' and state ~= 'cancelled' then
      local new = cjson.encode({state = 'cancelled', reason = 'cancelled', at = tonumber(ARGV[1]),
                                calls = record['calls'] or 0})
      redis.call('HSET', KEYS[2], id, new)
      redis.call('HINCRBY', KEYS[3], state, -1)
      redis.call('HINCRBY', KEYS[3], 'cancelled', 1)
      table.insert(out, id)
    end
  end
end
redis.call('HSET', KEYS[1], 'cancelled_at', ARGV[1], 'last_final_at', ARGV[1])
return out
"""

# KEYS[1] batch hash, KEYS[2] counts hash
# ARGV[1] claimant, ARGV[2] now, ARGV[3] claim seconds
# Returns 'claimed' | 'done' | 'busy' | 'not_final' | 'missing'.
CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'done' then return 'done' end
local now = tonumber(ARGV[2])
if status == 'completing' and tonumber(redis.call('HGET', KEYS[1], 'claim_until')) > now
   and redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then
  return 'busy'
end
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
local final = tonumber(redis.call('HGET', KEYS[2], 'warm') or '0')
            + tonumber(redis.call('HGET', KEYS[2], 'failed') or '0')
            + tonumber(redis.call('HGET', KEYS[2], 'cancelled') or '0')
if final < total then return 'not_final' end
redis.call('HSET', KEYS[1], 'status', 'completing', 'claim', ARGV[1],
           'claim_until', now + tonumber(ARGV[3]))
return 'claimed'
"""

# KEYS[1] batch hash, KEYS[2] models hash, KEYS[3] counts hash, KEYS[4] open batches
# ARGV[1] batch id, ARGV[2] now, ARGV[3] ttl, ARGV[4] created_at, ARGV[5] ids JSON,
# ARGV[6] callback url ('' = none), ARGV[7] record JSON of a queued model, ARGV[8..] model ids
# Returns 1 when created, 0 when the batch exists already (nothing is changed).
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = #ARGV - 7
redis.call('HSET', KEYS[1], 'total', n, 'created_at', ARGV[4], 'callback_url', ARGV[6],
           'ids', ARGV[5], 'status', 'open', 'launched', 0)
for i = 8, #ARGV do redis.call('HSET', KEYS[2], ARGV[i], ARGV[7]) end
redis.call('HSET', KEYS[3], 'queued', n)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return 1
"""

# KEYS[1] batch hash, KEYS[2] models hash, KEYS[3] counts hash, KEYS[4] open batches,
# KEYS[5] outbox
# ARGV[1] claimant, ARGV[2] summary JSON, ARGV[3] batch id, ARGV[4] ttl,
# ARGV[5] when the outbox's delivery is due (the sweep sends it again if it is not done)
# Returns 1 when this claimant completed the batch, 0 when it had lost its claim.
# A batch with a callback URL gets its outbox record in the same step: a crash right
# after the completion still leaves the webhook to deliver.
COMPLETE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'completing'
   or redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'done', 'summary', ARGV[2])
local url = redis.call('HGET', KEYS[1], 'callback_url')
if url and url ~= '' then
  redis.call('HSET', KEYS[1], 'webhook', 'pending', 'webhook_attempts', 0)
  redis.call('ZADD', KEYS[5], ARGV[5], ARGV[3])
end
redis.call('ZREM', KEYS[4], ARGV[3])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return 1
"""

# KEYS[1] warmed (model -> time), KEYS[2] asked (model -> time), KEYS[3] this run's record
# ARGV[1] period (s), ARGV[2] record ttl (s), ARGV[3] history kept (s), ARGV[4..] model ids
# Returns the run's record, JSON {at, due: [ids], warm: n, asked: n}, and 1 if new, 0 if
# this run chose before.
SELECT = """
local prior = redis.call('GET', KEYS[3])
if prior then return {prior, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cutoff = now - tonumber(ARGV[1])
local due, warm, asked = {}, 0, 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local w = redis.call('ZSCORE', KEYS[1], id)
  local a = redis.call('ZSCORE', KEYS[2], id)
  if w and tonumber(w) > cutoff then
    warm = warm + 1
  elseif a and tonumber(a) > cutoff then
    asked = asked + 1
  else
    due[#due + 1] = id
    redis.call('ZADD', KEYS[2], now, id)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf',
           '(' .. (now - math.max(tonumber(ARGV[1]), tonumber(ARGV[3]))))
local record = cjson.encode({at = now, due = due, warm = warm, asked = asked})
redis.call('SET', KEYS[3], record, 'EX', ARGV[2])
return {record, 1}
"""
