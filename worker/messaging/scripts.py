"""The Lua scripts of parked waits, one named constant per atomic step.

Every script takes its time from ``redis.call('TIME')``. The keys (see
``worker.constants``): ``jobs`` (hash: task id -> job JSON), ``due`` (zset: task
id -> due time), ``sending`` (zset: task id -> when a pump's claim lapses),
``sent`` (zset: task id -> publish time), ``held:{worker}`` (set of task ids),
``due:high`` and ``high`` (the high-priority lane: zset and set of its ids),
``workers`` (zset: worker id -> last heartbeat), ``workers:gone`` (zset),
``workers:slots`` (hash: worker id -> pool slots),
``done:{task id}`` (string: who finished it), ``tpl:{digest}`` (string),
``admissions`` (hash: task id -> what its next execution needs before the pump publishes
it: opaque JSON, handed to the pump's admission check); a wake publishes on the channel
``pump:bell``, which the pumps listen to while they wait.

A task id is in at most one of ``due``, ``sending``, ``sent`` and the ``held``
sets at a time; each script below moves it from one to the next. The two due
lanes, the high-priority id set and the admissions are named once, in the prelude
every script shares (``_NOW``), so they are not among a script's ``KEYS``.
"""

from __future__ import annotations

from worker import constants as c

__all__ = [
    "FINISH",
    "HEARTBEAT",
    "HOLD",
    "LEAVE",
    "PARK",
    "RECLAIM",
    "REGRASP",
    "RELEASE",
    "SENT",
    "TAKEOVER",
    "TAKE_DUE",
    "UNSEND",
]

_NOW = (
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.6f', x) end
"""
    + f"""
-- The two lanes of due jobs: a high-priority task is due in DUE_HIGH, others in DUE.
local DUE, DUE_HIGH, HIGH_IDS = '{c.DUE_KEY}', '{c.DUE_HIGH_KEY}', '{c.HIGH_IDS_KEY}'
-- What a parked job's next execution needs before it is published (the pump's admission).
local ADMISSIONS = '{c.ADMISSIONS_KEY}'
-- A pump waiting for its next look hears the bell and looks at once.
local BELL = '{c.PUMP_BELL_CHANNEL}'
"""
    + """
local function make_due(id, score)
  if redis.call('SISMEMBER', HIGH_IDS, id) == 1 then
    redis.call('ZADD', DUE_HIGH, score, id)
  else
    redis.call('ZADD', DUE, score, id)
  end
end
local function ring() redis.call('PUBLISH', BELL, fmt(now)) end
local function undue(id)
  redis.call('ZREM', DUE, id)
  redis.call('ZREM', DUE_HIGH, id)
end
"""
)

# PARK: store a task's job and make it due in ARGV[4] seconds, in its lane.
#   KEYS[1] jobs, KEYS[2] tpl:{digest}, KEYS[3] held:{worker},
#   KEYS[4] done:{id}
#   ARGV[1] task id, ARGV[2] job JSON, ARGV[3] template JSON ('' = already stored),
#   ARGV[4] delay seconds, ARGV[5] template TTL seconds, ARGV[6] 'high' or 'normal',
#   ARGV[7] the admission its next execution needs (JSON; '' = none: published when due)
# Returns the due time, or '' when the task has finished already (nothing parked). A job due
# now rings the pumps' bell (a batch's models go out as they are parked).
PARK = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[4]) == 1 then return '' end
undue(ARGV[1])
if ARGV[6] == 'high' then
  redis.call('SADD', HIGH_IDS, ARGV[1])
else
  redis.call('SREM', HIGH_IDS, ARGV[1])
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
else
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
local due = now + math.max(0, tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[7] ~= '' then
  redis.call('HSET', ADMISSIONS, ARGV[1], ARGV[7])
else
  redis.call('HDEL', ADMISSIONS, ARGV[1])
end
make_due(ARGV[1], fmt(due))
redis.call('SREM', KEYS[3], ARGV[1])
if due <= now then ring() end
return fmt(due)
"""
)

# TAKE_DUE: a pump claims due entries, at most ARGV[1], and keeps no more than ARGV[3]
# messages published (or being published, by any pump) and not yet received (flow control).
#   KEYS[1] sending, KEYS[2] sent, KEYS[3] jobs; high-priority jobs first
#   ARGV[1] most to take, ARGV[2] claim seconds, ARGV[3] most unreceived,
#   ARGV[4] receive within seconds
# First, entries whose pump died mid-publish (claim lapsed) are due again, and so are
# messages no worker received in time (lost between the broker and a worker that died,
# or purged): at worst a second copy, which finds its flight and carries on.
# Returns {now, next due time or '', id1, job1, admission1, id2, ...}; a job may be false
# (its body is gone: the caller reports it), an admission false (none).
TAKE_DUE = (
    _NOW
    + """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
for _, id in ipairs(lapsed) do
  make_due(id, fmt(now))
  redis.call('ZREM', KEYS[1], id)
end
local unreceived = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', fmt(now - tonumber(ARGV[4])))
for _, id in ipairs(unreceived) do
  redis.call('ZREM', KEYS[2], id)
  if redis.call('HEXISTS', KEYS[3], id) == 1 then make_due(id, fmt(now)) end
end
local waiting = redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[1])
local room = math.min(tonumber(ARGV[1]), tonumber(ARGV[3]) - waiting)
local out = {fmt(now), ''}
for _, lane in ipairs({DUE_HIGH, DUE}) do
  if room > 0 then
    local ids = redis.call('ZRANGEBYSCORE', lane, '-inf', fmt(now), 'LIMIT', 0, room)
    for _, id in ipairs(ids) do
      redis.call('ZREM', lane, id)
      redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[2])), id)
      table.insert(out, id)
      table.insert(out, redis.call('HGET', KEYS[3], id))
      table.insert(out, redis.call('HGET', ADMISSIONS, id))
    end
    room = room - #ids
  end
end
for _, lane in ipairs({DUE_HIGH, DUE}) do
  local first = redis.call('ZRANGE', lane, 0, 0, 'WITHSCORES')
  if first[2] and (out[2] == '' or tonumber(first[2]) < tonumber(out[2])) then
    out[2] = first[2]
  end
end
return out
"""
)

# SENT: the pump published these ids; they wait in the broker until a worker holds one.
#   KEYS[1] sending, KEYS[2] sent;  ARGV: task ids
# An id a worker received already (HOLD took it out of sending) is not counted.
SENT = (
    _NOW
    + """
for _, id in ipairs(ARGV) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('ZADD', KEYS[2], fmt(now), id)
  end
end
return #ARGV
"""
)

# UNSEND: a publish failed; the entry is due again in ARGV[2] seconds (nothing is lost).
#   KEYS[1] sending;  ARGV[1] task id, ARGV[2] seconds
UNSEND = (
    _NOW
    + """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  make_due(ARGV[1], fmt(now + tonumber(ARGV[2])))
  return 1
end
return 0
"""
)

# HOLD: a worker received the task's message; it holds the task until it parks or ends.
#   KEYS[1] held:{worker}, KEYS[2] sending, KEYS[3] sent, KEYS[4] jobs,
#   KEYS[5] tpl:{digest} (or any key when ARGV[2] is '')
#   ARGV[1] task id, ARGV[2] job JSON ('' = the caller has not built it), ARGV[3] template
#   JSON, ARGV[4] template TTL seconds
# Returns 1 when held, 0 when no job is stored and none was given (call again with it).
HOLD = (
    _NOW
    + """
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then
  if ARGV[2] == '' then return 0 end
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
  redis.call('SET', KEYS[5], ARGV[3], 'EX', ARGV[4])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
undue(ARGV[1])
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""
)

# FINISH: the task is about to return its result: only one execution of it may.
#   KEYS[1] done:{id}, KEYS[2] jobs, KEYS[3] held:{worker}, KEYS[4] workers
#   ARGV[1] task id, ARGV[2] this execution "<worker id>|<token>", ARGV[3] done TTL,
#   ARGV[4] dead after seconds
# Returns {1} when this execution returns the result; {0, holder, alive} when another
# did (alive: 1 if that worker still heartbeats). Either way the job is cleared.
FINISH = (
    _NOW
    + """
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', ADMISSIONS, ARGV[1])
undue(ARGV[1])
redis.call('SREM', HIGH_IDS, ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
local holder = redis.call('GET', KEYS[1])
if holder then
  local beat = redis.call('ZSCORE', KEYS[4], string.match(holder, '^(.-)|') or holder)
  local alive = 0
  if beat and tonumber(beat) > now - tonumber(ARGV[4]) then alive = 1 end
  return {0, holder, alive}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return {1}
"""
)

# RECLAIM: finish a task whose finisher died before storing its result, if no other
# execution reclaimed it first (compare and set).
#   KEYS[1] done:{id};  ARGV[1] the dead finisher, ARGV[2] this execution, ARGV[3] done TTL
# Returns 1 when this execution now finishes the task, else 0.
RECLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

# RELEASE: the task ended without a result to guard (a failure, a plain return):
# forget its job and the hold.
#   KEYS[1] jobs, KEYS[2] held:{worker};  ARGV[1] task id
RELEASE = (
    _NOW
    + """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', ADMISSIONS, ARGV[1])
undue(ARGV[1])
redis.call('SREM', HIGH_IDS, ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""
)

# HEARTBEAT: this worker is alive, with ARGV[2] pool slots.
#   KEYS[1] workers, KEYS[2] workers:slots (hash: worker id -> pool slots)
#   ARGV[1] worker id, ARGV[2] its pool slots, ARGV[3] dead after seconds
# Returns {now, the pool slots of every live worker together}.
HEARTBEAT = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], fmt(now), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local total = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], fmt(now - tonumber(ARGV[3])), '+inf')) do
  total = total + tonumber(redis.call('HGET', KEYS[2], id) or '0')
end
return {fmt(now), total}
"""
)

# TAKEOVER: every task held by a worker whose heartbeat is older than ARGV[1] is due, as
# of that last heartbeat: ahead of everything that became due since.
#   KEYS[1] workers, KEYS[2] workers:gone, KEYS[3] jobs, KEYS[4] workers:slots
#   ARGV[1] dead after seconds, ARGV[2] key prefix (held sets are prefix..'held:'..id),
#   ARGV[3] this worker's id, ARGV[4] forget gone workers after seconds
# Returns {worker, tasks taken, seconds since its heartbeat, ...} for each dead worker
# seen for the first time. Gone workers keep their last heartbeat in workers:gone (and in
# workers) so that a lease or lock they held is known to be dead, until ARGV[4] passes.
TAKEOVER = (
    _NOW
    + """
local forget = now - tonumber(ARGV[4])
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(forget))
end
local out = {}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now - tonumber(ARGV[1])),
                        'WITHSCORES')
for i = 1, #dead, 2 do
  local id, beat = dead[i], dead[i + 1]
  if id ~= ARGV[3] then
    local held = ARGV[2] .. 'held:' .. id
    local taken = 0
    for _, task in ipairs(redis.call('SMEMBERS', held)) do
      if redis.call('HEXISTS', KEYS[3], task) == 1 then
        make_due(task, beat)
        taken = taken + 1
      end
    end
    redis.call('DEL', held)
    redis.call('HDEL', KEYS[4], id)
    if redis.call('ZADD', KEYS[2], 'NX', beat, id) == 1 or taken > 0 then
      table.insert(out, id)
      table.insert(out, taken)
      table.insert(out, fmt(now - tonumber(beat)))
    end
  end
end
return out
"""
)

# REGRASP: tasks this worker's hold set names but the worker no longer has in hand (a
# message dropped by a broker reconnect, a requeue that failed, a pool process that died)
# are due now, so they go on instead of waiting for the broker's visibility timeout.
#   KEYS[1] held:{worker}, KEYS[2] jobs;  ARGV: task ids
# Returns how many were made due.
REGRASP = (
    _NOW
    + """
local n = 0
for _, id in ipairs(ARGV) do
  if redis.call('SREM', KEYS[1], id) == 1 and redis.call('HEXISTS', KEYS[2], id) == 1 then
    make_due(id, fmt(now))
    n = n + 1
  end
end
return n
"""
)

# LEAVE: a clean shutdown. Tasks the worker still holds were handed back to the broker
# by Celery, so the hold is dropped, and so is the heartbeat.
#   KEYS[1] workers, KEYS[2] held:{worker}, KEYS[3] workers:slots;  ARGV[1] worker id
LEAVE = """
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

# WAKE_ALL: every parked job is due now, published without admission (a key stopped for
# good: its waiters fail at once, with no call).
#   No keys.  Returns how many were woken.
WAKE_ALL = (
    _NOW
    + """
redis.call('DEL', ADMISSIONS)
local woken = 0
for _, lane in ipairs({DUE, DUE_HIGH}) do
  local later = redis.call('ZRANGEBYSCORE', lane, '(' .. fmt(now), '+inf')
  for _, id in ipairs(later) do redis.call('ZADD', lane, fmt(now), id) end
  woken = woken + #later
end
if woken > 0 then ring() end
return woken
"""
)

# WAKE: these parked jobs are due now: a task a freed slot waits for ('admitted': its
# admission is kept), or a cancelled batch's tasks ('unadmitted': they end with no call).
# The bell rings, so that a waiting pump publishes them at once.
#   No keys;  ARGV[1] 'admitted' or 'unadmitted', ARGV[2..]: task ids.
#   Returns how many were parked and woken.
WAKE = (
    _NOW
    + """
local woken = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if ARGV[1] == 'unadmitted' then redis.call('HDEL', ADMISSIONS, id) end
  for _, lane in ipairs({DUE, DUE_HIGH}) do
    if redis.call('ZADD', lane, 'XX', 'CH', fmt(now), id) == 1 then woken = woken + 1 end
  end
end
if woken > 0 then ring() end
return woken
"""
)
