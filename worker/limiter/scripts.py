"""The limiter's Lua scripts, one named constant per atomic operation.

Scripts read the clock with ``redis.call('TIME')``, never the client's. Times travel as
``"%.6f"`` strings: a Lua number returned from a script is truncated to an integer and
``tostring`` keeps only 14 digits.

The keys of one scope, ``{prefix}limiter:{scope}:...``; each expires (PEXPIRE) when it no
longer matters, so an idle scope leaves nothing behind and nothing is kept per model:

- ``calls``: zset grant id -> the time the grant counts from (its grant, then its send:
  STARTED, then its answer, measured by the caller: RELEASE, RENEW), the grants of the
  last ``window`` seconds; expires a window after the last.
- ``leases``: zset lease id -> lease expiry, the live leases; expires at the latest one.
- ``pause``: the pause's end time; expires then.
- ``turns``: the next turn handed to a waiting caller (ACQUIRE); expires then.
- ``slots``: zset caller -> since when, the callers with an id waiting for a slot, each
  handed the slot a release frees (RELEASE) or a pump finds free (HAND_FREE_SLOTS); expires
  a minute after the latest backstop of those in it.
- ``high``, ``hturns``: waiting high-priority callers (zset caller -> turn) and their next
  turn; expire 2 s after the last turn.
- ``firsts``, ``lturns``: normal callers waiting for the rate (zset caller -> turn; a
  confirmation does not take their grants) and the confirmations' next turn; expire 2 s
  after the last turn.
- ``ahead:{caller}``: a grant taken ahead for a caller's next execution (ACQUIRE with an
  ahead time, the pump's): ``"<lease> <grant>"``; expires then, or when the caller picks it up.
- ``cap``, ``cap:ok``: the in-flight cap lowered by 429s and the successes counted since
  (SHRINK, GROW); expire after ``limiter.CAP_MEMORY`` seconds.
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE",
    "BREAKER_CHECK",
    "BREAKER_FAILED",
    "BREAKER_SUCCEEDED",
    "GROW",
    "HAND_FREE_SLOTS",
    "IN_FLIGHT",
    "PAUSE",
    "PAUSED_FOR",
    "RELEASE",
    "RENEW",
    "SHRINK",
    "STARTED",
]

# The line of callers waiting for a slot (ACQUIRE, RELEASE) is forgotten this long after
# the last one joined it (nobody is waiting any more).
SLOT_LINE_SECONDS = 60.0

# A first call more than this late for its turn no longer holds a confirmation back
# (ACQUIRE): the grant goes to whoever is there.
QUEUE_LATE_SECONDS = 0.1

# The helpers every script starts with: the Redis clock as float seconds, a float
# as a "%.6f" string, and a PEXPIRE that is never 0 ms (PEXPIRE 0 deletes the key).
_PRELUDE = """
local function redis_now()
    local t = redis.call('TIME')
    return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x)
    return string.format('%.6f', x)
end
local function pexpire_at_least(key, seconds)
    redis.call('PEXPIRE', key, math.max(1, math.ceil(seconds * 1000)))
end
-- Keep a key at least this long from now, never shortening what it has: a line of waiters
-- must outlive the longest wait of anyone in it, and the rate window the latest grant in it
-- (one taken ahead counts from a moment after now).
local function keep_at_least(key, seconds)
    local ms = math.max(1, math.ceil(seconds * 1000))
    if redis.call('PTTL', key) < ms then
        redis.call('PEXPIRE', key, ms)
    end
end
-- A grant whose call has no answer yet stays in the rate's window, however old it is: its
-- request may reach the upstream at any moment until the answer (a slow answer, a busy
-- CPU after the send). `unanswered` holds such grants -> when they stop counting so (a
-- lease's lifetime after the send: a dead holder's call is over by then). STARTED adds
-- them and ANSWERED removes them; trim_window keeps them, counted from now, when they
-- would leave.
local function still_out(unanswered, grant, now)
    local till = redis.call('ZSCORE', unanswered, grant)
    return till ~= false and tonumber(till) > now
end
local function trim_window(calls, unanswered, now, window)
    local horizon = fmt(now - window)
    local old = redis.call('ZRANGEBYSCORE', calls, '-inf', horizon)
    if #old == 0 then
        return
    end
    local kept = false
    for _, grant in ipairs(old) do
        if still_out(unanswered, grant, now) then
            redis.call('ZADD', calls, 'XX', fmt(now), grant)
            kept = true
        end
    end
    redis.call('ZREMRANGEBYSCORE', calls, '-inf', horizon)
    if kept then
        keep_at_least(calls, window)
    end
end
-- The in-flight cap: the configured one, or lower while 429s have lowered it (see SHRINK;
-- it grows back, GROW).
local function cap_of(cap_key, max_in_flight)
    local lowered = tonumber(redis.call('GET', cap_key) or '0')
    if lowered > 0 and lowered < max_in_flight then
        return lowered
    end
    return max_in_flight
end
"""

# ACQUIRE: one decision on pause, then in-flight cap, then sliding-window rate.
#   KEYS[1] calls   (ZREMRANGEBYSCORE, ZCARD, ZRANGE, ZADD, PEXPIRE)
#   KEYS[2] leases  (ZREMRANGEBYSCORE, ZCARD, ZRANGE, ZADD, PEXPIRE)
#   KEYS[3] pause   (GET)
#   KEYS[4] turns   (GET, SET PX) the next free turn for a waiter, per scope
#   ARGV[1] rate_count     grants allowed per window
#   ARGV[2] window         rate_period + skew, seconds
#   ARGV[3] max_in_flight  live leases allowed
#   ARGV[4] lease_seconds  a new lease lives until now + lease_seconds
#   ARGV[5] lease id       member stored in both sets when granted
#   ARGV[6] in-flight retry cap, seconds (suggested wait when the cap is reached)
#   ARGV[7] held lease id, or '' — a caller already holding a live lease (a loading
#           model that keeps its slot) needs only a rate grant: the cap is skipped and
#           the held lease is extended instead of a new one being taken
#   KEYS[5] workers (ZSCORE) worker id -> last heartbeat (worker.messaging)
#   KEYS[6] cap (GET, EXISTS) the in-flight cap as lowered by 429s (SHRINK), if it is
#   ARGV[8] dead after, seconds: a lease "<worker id>|<id>" whose worker's heartbeat is
#           older than this is dropped when the cap is reached (0: never)
#   KEYS[7] high  (ZSET) waiting high-priority callers -> their turn
#   KEYS[8] hturns (GET, SET PX) the next free turn for a high-priority waiter
#   ARGV[9] 'high' or 'normal', ARGV[10] the caller's id (a task id; '' for none)
#   KEYS[9] slots (ZSET) callers waiting for a slot -> since when (high ones first)
#   ARGV[11] the longest in-flight wait of a caller with an id (it is woken sooner:
#            RELEASE names the first caller in line when it frees a slot)
#   KEYS[10] firsts (ZSET) normal callers waiting for the rate -> their turn
#   KEYS[11] lturns (GET, SET PX) the next free turn for a waiting 'low' caller
#   KEYS[12] ahead:{caller} (GET, DEL, SET PX) a grant taken ahead for the caller's next
#            execution: "<lease> <grant>" (any key when ARGV[10] is '')
#   ARGV[12] ahead seconds: '' for a call made now; else the grant is taken for the caller's
#            next execution (the pump, before it publishes the caller's task), stored in
#            KEYS[12] for that long, its new lease living that long too
#   KEYS[13] the key's breaker (HGET): while it is open, no grant is taken ahead (returns
#            {0, 0, 'breaker'}: the caller's task is published and asks the breaker itself)
#   ARGV[13] lead seconds ('' for none; only with ARGV[12]): a grant taken ahead may be for
#            a call sent up to this long after now, when the rate's window has room: it is
#            counted from that moment, and the caller's pickup says how long to wait for it
#   KEYS[14] unanswered (ZSET) grants whose call was sent and has no answer yet (STARTED)
#            -> until when they stay in the window (trim_window)
# A caller with an id first looks for a grant taken ahead for it (KEYS[12]): if its lease is
# live and its grant still in the window, it is the caller's, counted from now (the moment
# it is picked up, as STARTED would) or from the moment it was taken for, if later, with its
# lease extended; else the usual decision.
# ARGV[9] may also be 'low': a call that confirms a reload. It waits ('queue') rather than
# take a grant a first call waiting in KEYS[10] has its turn for, and its turns come after
# every first call's.
# A normal caller is told to wait ('priority') while a high one is due within a pace.
# Returns {1, now, lease, grant, hold back, lowered} when granted (lease = the held one if it
# was live, else ARGV[5]; grant = ARGV[5], the grant's member in the calls set; hold back = the
# seconds before its call may be sent, > 0 only for a grant picked up before its lead ran out;
# lowered = 1 while 429s keep the cap lowered (KEYS[6] exists: only then has GROW work), else
# {0, seconds, reason} with the longest wait among the blocking conditions
# ("paused" | "in_flight" | "rate"); seconds > 0.
ACQUIRE = (
    _PRELUDE
    + f"local SLOT_LINE_SECONDS, QUEUE_LATE = {SLOT_LINE_SECONDS!r}, {QUEUE_LATE_SECONDS!r}\n"
    + """
local rate_count = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_in_flight = cap_of(KEYS[6], tonumber(ARGV[3]))
local lease_seconds = tonumber(ARGV[4])
local lease = ARGV[5]
local in_flight_retry = tonumber(ARGV[6])
-- The longest wait for a slot: a caller with an id is woken by the release that frees it,
-- so its wait is a backstop (ARGV[11]); one without looks again soon.
local slot_wait = in_flight_retry
if ARGV[10] ~= '' then slot_wait = tonumber(ARGV[11]) end
local now = redis_now()
local wait, reason = 0, ''
local ahead = tonumber(ARGV[12]) or 0
-- A grant taken ahead may count from a moment up to its lead after now (its caller's
-- execution sends the call no sooner than that moment).
local rate_now = now
if ahead > 0 then rate_now = now + (tonumber(ARGV[13]) or 0) end

local taken = ARGV[10] ~= '' and redis.call('GET', KEYS[12])
if taken then
    local held, grant = string.match(taken, '^(%S+) (%S+)$')
    local expiry = held and redis.call('ZSCORE', KEYS[2], held)
    local live = expiry and tonumber(expiry) > now
    if ahead > 0 then
        -- The pump asks for a caller that was handed a slot already (HAND_OFF): that grant.
        if live then
            return {1, fmt(now), held, grant, '0', redis.call('EXISTS', KEYS[6])}
        end
    else
        redis.call('DEL', KEYS[12])
        local counted = live and redis.call('ZSCORE', KEYS[1], grant)
        if counted then
            local from = math.max(now, tonumber(counted))
            redis.call('ZADD', KEYS[1], 'XX', fmt(from), grant)
            keep_at_least(KEYS[1], from - now + window)
            redis.call('ZADD', KEYS[2], fmt(math.max(tonumber(expiry), now + lease_seconds)), held)
            local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
            pexpire_at_least(KEYS[2], tonumber(last[2]) - now)
            return {1, fmt(now), held, grant, fmt(from - now), redis.call('EXISTS', KEYS[6])}
        end
    end
end

if ahead > 0 and redis.call('HGET', KEYS[13], 'state') == 'open' then
    return {0, '0', 'breaker'}
end

local pause_end = tonumber(redis.call('GET', KEYS[3]) or '0')
if pause_end > now then
    wait, reason = pause_end - now, 'paused'
end

-- A lease whose expiry has passed belongs to a dead holder: its slot comes back.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
local live = redis.call('ZCARD', KEYS[2])
local holding = ARGV[7] ~= '' and redis.call('ZSCORE', KEYS[2], ARGV[7]) ~= false
local dead_after = tonumber(ARGV[8])
if not holding and live >= max_in_flight and dead_after > 0 then
    -- So does the lease of a worker whose heartbeat stopped ("<worker id>|<lease>"), unless
    -- it was granted less than dead_after ago: then its worker was alive since (right
    -- after a Redis stall every heartbeat is old for a moment).
    local leases = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    for i = 1, #leases, 2 do
        local member, granted = leases[i], tonumber(leases[i + 1]) - lease_seconds
        local owner = string.match(member, '^(.-)|')
        if owner and granted < now - dead_after then
            local beat = redis.call('ZSCORE', KEYS[5], owner)
            if beat and tonumber(beat) < now - dead_after then
                redis.call('ZREM', KEYS[2], member)
            end
        end
    end
    live = redis.call('ZCARD', KEYS[2])
end
if not holding and live >= max_in_flight then
    -- The slot that frees first if nobody releases: live - max_in_flight + 1 must go.
    local freeing = redis.call('ZRANGE', KEYS[2], live - max_in_flight, live - max_in_flight,
                               'WITHSCORES')
    local w = math.min(tonumber(freeing[2]) - now, slot_wait)
    if w > wait then
        wait, reason = w, 'in_flight'
    end
end

-- Grants at or before now - window have left the window. The grant counts from now, or,
-- taken ahead, from the moment within its lead when the window has room.
trim_window(KEYS[1], KEYS[14], now, window)
local used = redis.call('ZCARD', KEYS[1])
local from = now
if used >= rate_count then
    -- Room appears when the grant at index used - rate_count leaves the window (every grant
    -- in the window counts, those counted from a moment after now too).
    local leaving = redis.call('ZRANGE', KEYS[1], used - rate_count, used - rate_count,
                               'WITHSCORES')
    local left_at = tonumber(leaving[2])
    -- A call still out does not leave at its time + window: it stays until its answer
    -- (trim_window), a window from now at the soonest.
    if still_out(KEYS[14], leaving[1], now) then
        left_at = math.max(left_at, now)
    end
    local frees = left_at + window
    if frees > rate_now then
        if frees - rate_now > wait then
            wait, reason = frees - rate_now, 'rate'
        end
    else
        from = frees
    end
end

-- Priority: a high caller waiting for its turn gets the grant before any normal caller.
-- KEYS[7] holds the waiting high callers and their turns; one that has not come back
-- within HIGH_GRACE of its turn is forgotten (it went elsewhere, or died).
local high = ARGV[9] == 'high'
local rate_pace = window / rate_count
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', fmt(now - 2.0))
if not high and wait == 0 then
    local first = redis.call('ZRANGE', KEYS[7], 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= now + rate_pace then
        wait, reason = math.max(tonumber(first[2]) - now, 0) + rate_pace, 'priority'
    end
end
-- A confirmation ('low') does not take the grant a first call waiting for the rate has
-- its turn for (KEYS[10]: normal callers waiting for the rate -> their turn; one late by
-- more than QUEUE_LATE no longer holds it back): it queues behind the first calls, so a
-- rate-bound batch makes its last first call, and so ends, soonest.
local low = ARGV[9] == 'low'
redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', fmt(now - 2.0))
if low and wait == 0 and not holding then
    local ahead = redis.call('ZRANGEBYSCORE', KEYS[10], fmt(now - QUEUE_LATE),
                             fmt(now + rate_pace), 'LIMIT', 0, 1)
    if ahead[1] then
        wait, reason = rate_pace, 'queue'
    end
end

-- A caller back at its turn (a high caller, or a first call) that finds no room for the rate
-- yet keeps its place in line: it comes back the moment the next grant leaves the window
-- (wait is exactly that), instead of taking a new turn at the back.
local keeps_place = false
if wait > 0 and reason == 'rate' and not low and ARGV[10] ~= '' then
    local line = KEYS[10]
    if high then line = KEYS[7] end
    local turn = redis.call('ZSCORE', line, ARGV[10])
    keeps_place = turn ~= false and tonumber(turn) <= now
end

-- A caller with an id waiting for a slot is in the slot line (KEYS[9]) and woken by the
-- release that frees one: its wait is a backstop, spread by its place in line, and it takes
-- none of the turns the rate's waiters share (a crowd in line for slots pushed every first
-- call's turn back by their backstops).
local in_slot_line = reason == 'in_flight' and ARGV[10] ~= ''
if wait > 0 then
    if (reason == 'rate' or reason == 'in_flight' or reason == 'queue') and not keeps_place
            and not in_slot_line then
        -- Give each waiter its own turn instead of telling all of them the same moment:
        -- turns are spaced by the rate's pace (or a share of the longest slot wait), so a
        -- crowd of waiting tasks comes back one at a time instead of as a herd that
        -- would all be turned away again. High callers have turns of their own (KEYS[8]),
        -- ahead of the normal ones.
        local pace = rate_pace
        if reason == 'in_flight' then
            pace = slot_wait / max_in_flight
        end
        local turns = KEYS[4]
        if high then turns = KEYS[8] end
        local turn = math.max(now + wait, tonumber(redis.call('GET', turns) or '0'))
        if low and reason ~= 'in_flight' then
            -- Confirmations have turns of their own (KEYS[11]), behind the first calls'.
            turns = KEYS[11]
            turn = math.max(turn, tonumber(redis.call('GET', turns) or '0'))
        end
        local after = turn + pace
        redis.call('SET', turns, fmt(after), 'PX', math.ceil((after - now) * 1000) + 1)
        wait = turn - now
    end
    if high and ARGV[10] ~= '' then
        redis.call('ZADD', KEYS[7], fmt(now + wait), ARGV[10])
        keep_at_least(KEYS[7], wait + 2.0)
    end
    if reason == 'rate' and not high and not low and ARGV[10] ~= '' then
        redis.call('ZADD', KEYS[10], fmt(now + wait), ARGV[10])
        keep_at_least(KEYS[10], wait + 2.0)
    end
    if in_slot_line then
        -- In line for a slot, first come first woken (high callers ahead): NX keeps the
        -- place of one that was already waiting. The line outlives every waiter's backstop.
        local since = now
        if high then since = now - 1000000 end
        redis.call('ZADD', KEYS[9], 'NX', fmt(since), ARGV[10])
        wait = wait + redis.call('ZRANK', KEYS[9], ARGV[10]) * slot_wait / max_in_flight
        keep_at_least(KEYS[9], wait + SLOT_LINE_SECONDS)
    end
    return {0, fmt(math.max(wait, 0.000001)), reason}
end
if ARGV[10] ~= '' then
    if high then
        redis.call('ZREM', KEYS[7], ARGV[10])
    elseif not low then
        redis.call('ZREM', KEYS[10], ARGV[10])
    end
    redis.call('ZREM', KEYS[9], ARGV[10])
end

redis.call('ZADD', KEYS[1], fmt(from), lease)
if holding then
    lease = ARGV[7]
end
if ahead > 0 then
    -- Taken ahead: the lease lives until the caller picks the grant up (a held lease keeps
    -- its own expiry), and the grant waits for it in KEYS[12].
    local expiry = now + ahead
    if holding then
        expiry = math.max(expiry, tonumber(redis.call('ZSCORE', KEYS[2], lease)))
    end
    redis.call('ZADD', KEYS[2], fmt(expiry), lease)
    redis.call('SET', KEYS[12], lease .. ' ' .. ARGV[5], 'PX', math.max(1, math.ceil(ahead * 1000)))
else
    redis.call('ZADD', KEYS[2], fmt(now + lease_seconds), lease)
end
keep_at_least(KEYS[1], from - now + window)
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
pexpire_at_least(KEYS[2], tonumber(last[2]) - now)
return {1, fmt(now), lease, ARGV[5], fmt(from - now), redis.call('EXISTS', KEYS[6])}
"""
)

# ANSWERED: the helper RENEW and RELEASE end with. A call's answer is back, so the request
# reached the upstream before the answer came: its grant counts from the answer's time
# (the caller's measure, an upper bound in Redis time: Limiter.answered), or from now if
# it gave none, never from later than now and never earlier than before (see STARTED).
# Whatever delayed the request between STARTED and its arrival upstream (a busy CPU, a
# slow event loop) is then inside the window, not outside it. Until then the grant was
# kept in the window as unanswered (trim_window); from now on its time alone counts.
_ANSWERED = """
local function answered(calls_key, unanswered, grant, window, now, reported)
    if grant == '' then
        return
    end
    redis.call('ZREM', unanswered, grant)
    local answer = now
    if reported and reported ~= '' and tonumber(reported) < now then
        answer = tonumber(reported)
    end
    local at = redis.call('ZSCORE', calls_key, grant)
    if at and answer > tonumber(at) then
        redis.call('ZADD', calls_key, 'XX', fmt(answer), grant)
        keep_at_least(calls_key, window)
    end
end
"""

# STREAK_ENDS: the helper RENEW and RELEASE end with when the call was answered (not an
# error): the breaker's streak of failures alike "in a row" is over (decision 0008), whenever
# the call was granted. An open breaker is left to BREAKER_SUCCEEDED (the answer of a call
# checked after a failure, or the probe's), which closes it and the worker logs it.
# The keys are the breaker's (worker.limiter.breaker): its hash and its streak set.
_STREAK_ENDS = """
local function streak_ends(breaker, streak)
    if redis.call('EXISTS', breaker) == 1 and redis.call('HGET', breaker, 'state') ~= 'open' then
        redis.call('DEL', breaker, streak)
    end
end
"""

# RENEW: move a live lease's expiry to now + seconds (never earlier than it was), and
# count the call just answered from its answer (ANSWERED).
#   KEYS[1] leases  (ZREMRANGEBYSCORE, ZSCORE, ZADD, ZRANGE, PEXPIRE)
#   KEYS[2] calls   (ZSCORE, ZADD XX, PEXPIRE)
#   KEYS[3] the key's breaker, KEYS[4] its streak (EXISTS, HGET, DEL: STREAK_ENDS)
#   KEYS[5] unanswered (ZREM: ANSWERED)
#   ARGV[1] lease id
#   ARGV[2] seconds
#   ARGV[3] grant id of the call just answered, or '' (none)
#   ARGV[4] window seconds
#   ARGV[5] when the call was answered (Redis time, "%.6f"), or '' (now)
#   ARGV[6] '1' if the call was answered (not an error): the breaker's streak ends
# Returns 1 if the lease was live and is renewed, 0 if it is gone (expired or released).
RENEW = (
    _PRELUDE
    + _ANSWERED
    + _STREAK_ENDS
    + """
local now = redis_now()
answered(KEYS[2], KEYS[5], ARGV[3], tonumber(ARGV[4]), now, ARGV[5])
if ARGV[6] == '1' then
    streak_ends(KEYS[3], KEYS[4])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then
    return 0
end
local wanted = now + tonumber(ARGV[2])
if wanted > tonumber(expiry) then
    redis.call('ZADD', KEYS[1], fmt(wanted), ARGV[1])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
pexpire_at_least(KEYS[1], tonumber(last[2]) - now)
return 1
"""
)

# HAND_OFF: the helper RELEASE and HAND_FREE_SLOTS use. A free slot goes to the first caller
# in line for one (high callers first), as a grant taken ahead for it (see ACQUIRE's KEYS[12]):
# a lease of that slot living `ahead` seconds and a grant in the rate window, so that nobody
# else takes the slot between the wake and the caller's ACQUIRE. Nobody in line, a pause, an
# open breaker (its probe decides when calls go again, and a slot handed to a task the
# breaker holds back would go unused) or no room in the rate window: nothing is handed
# (returns nil).
_HAND_OFF = """
local function hand_off(leases, calls, slots, pause, now, ho)
    if tonumber(redis.call('GET', pause) or '0') > now then
        return nil
    end
    if redis.call('HGET', ho.breaker, 'state') == 'open' then
        return nil
    end
    local first = redis.call('ZRANGE', slots, 0, 0)
    local head = first[1]
    if not head then
        return nil
    end
    trim_window(calls, ho.unanswered, now, ho.window)
    if redis.call('ZCARD', calls) >= ho.rate_count then
        return nil
    end
    redis.call('ZREM', slots, head)
    local id = head .. ':' .. fmt(now)
    local lease, grant = ho.owner .. '|h:' .. id, 'h:' .. id
    redis.call('ZADD', calls, fmt(now), grant)
    keep_at_least(calls, ho.window)
    redis.call('ZADD', leases, fmt(now + ho.ahead), lease)
    keep_at_least(leases, ho.ahead)
    redis.call('SET', ho.prefix .. head, lease .. ' ' .. grant, 'PX',
               math.max(1, math.ceil(ho.ahead * 1000)))
    return head
end
"""

# RELEASE: free a lease's slot, and count the call just answered from its answer (ANSWERED);
# the freed slot is handed to the first caller in line for one (HAND_OFF).
#   KEYS[1] leases  (ZREM, ZCARD, ZADD)
#   KEYS[2] calls   (ZSCORE, ZADD, PEXPIRE)
#   KEYS[3] slots   (ZRANGE, ZREM) the callers waiting for a slot (ACQUIRE)
#   KEYS[4] pause   (GET), KEYS[5] cap (GET), KEYS[6] the key's breaker (HGET; and with
#   KEYS[8] its streak, EXISTS and DEL: STREAK_ENDS), KEYS[7] unanswered (ZREM: ANSWERED;
#   ZSCORE: HAND_OFF's trim_window)
#   ARGV[1] lease id
#   ARGV[2] grant id of the call just answered, or '' (none)
#   ARGV[3] window seconds
#   ARGV[4] when the call was answered (Redis time, "%.6f"), or '' (now)
#   ARGV[5] rate_count, ARGV[6] max_in_flight, ARGV[7] ahead seconds, ARGV[8] this
#   worker's id (the owner of a lease handed off), ARGV[9] the prefix of the callers' ahead
#   keys ("{prefix}limiter:{scope}:ahead:"), ARGV[10] '1' if the call was answered (not an
#   error): the breaker's streak ends
# Returns {leases removed (0 or 1), the caller to wake ('' : none)}: the first in line for
# a slot, taken out of the line, when a slot was freed (its grant taken ahead if the rate
# allows, else it asks anew when woken).
RELEASE = (
    _PRELUDE
    + _ANSWERED
    + _STREAK_ENDS
    + _HAND_OFF
    + """
local now = redis_now()
answered(KEYS[2], KEYS[7], ARGV[2], tonumber(ARGV[3]), now, ARGV[4])
if ARGV[10] == '1' then
    streak_ends(KEYS[6], KEYS[8])
end
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
local next_in_line = ''
if removed == 1 then
    local ho = {window = tonumber(ARGV[3]), rate_count = tonumber(ARGV[5]),
                ahead = tonumber(ARGV[7]), owner = ARGV[8], prefix = ARGV[9],
                breaker = KEYS[6], unanswered = KEYS[7]}
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
    local head = nil
    if redis.call('ZCARD', KEYS[1]) < cap_of(KEYS[5], tonumber(ARGV[6])) then
        head = hand_off(KEYS[1], KEYS[2], KEYS[3], KEYS[4], now, ho)
    end
    if head then
        next_in_line = head
    else
        local first = redis.call('ZRANGE', KEYS[3], 0, 0)
        if first[1] then
            next_in_line = first[1]
            redis.call('ZREM', KEYS[3], next_in_line)
        end
    end
end
return {removed, next_in_line}
"""
)

# HAND_FREE_SLOTS: every free slot goes to the first caller in line for one (HAND_OFF), for
# the slots a release did not hand over (a lease that expired: a dead holder, a grant taken
# ahead that nobody picked up; a wake that found its task busy). The pumps call it on every
# heartbeat, so a free slot never waits long for a caller in line.
#   KEYS[1] leases, KEYS[2] calls, KEYS[3] slots, KEYS[4] pause, KEYS[5] cap, KEYS[6] breaker,
#   KEYS[7] unanswered
#   ARGV[1] max_in_flight, ARGV[2] rate_count, ARGV[3] window, ARGV[4] ahead seconds,
#   ARGV[5] this worker's id, ARGV[6] the prefix of the callers' ahead keys
# Returns the callers handed a slot, to wake.
HAND_FREE_SLOTS = (
    _PRELUDE
    + _HAND_OFF
    + """
local now = redis_now()
local ho = {window = tonumber(ARGV[3]), rate_count = tonumber(ARGV[2]),
            ahead = tonumber(ARGV[4]), owner = ARGV[5], prefix = ARGV[6], breaker = KEYS[6],
            unanswered = KEYS[7]}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
local free = cap_of(KEYS[5], tonumber(ARGV[1])) - redis.call('ZCARD', KEYS[1])
local out = {}
while free > 0 do
    local head = hand_off(KEYS[1], KEYS[2], KEYS[3], KEYS[4], now, ho)
    if not head then
        break
    end
    table.insert(out, head)
    free = free - 1
end
return out
"""
)

# PAUSE: pause the scope until now + seconds, never shortening an existing pause.
#   KEYS[1] pause  (GET, SET PX)
#   ARGV[1] seconds (>= 0)
# Returns the pause end (Redis time; now when there is no pause and seconds is 0).
PAUSE = (
    _PRELUDE
    + """
local now = redis_now()
local wanted = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= wanted then
    return fmt(math.max(current, now))
end
if wanted > now then
    redis.call('SET', KEYS[1], fmt(wanted), 'PX', math.max(1, math.ceil((wanted - now) * 1000)))
end
return fmt(wanted)
"""
)

# IN_FLIGHT: count the live leases (expiry after now). Read-only.
#   KEYS[1] leases  (ZCOUNT)
# Returns an integer.
# STARTED: move a grant's time in the calls set to now, the moment its request is sent,
# and keep it in the window until its answer (ANSWERED) or for the longest call.
#   KEYS[1] calls  (ZSCORE, ZADD XX, PEXPIRE)
#   KEYS[2] unanswered (ZREMRANGEBYSCORE, ZADD, PEXPIRE)
#   ARGV[1] grant id
#   ARGV[2] window seconds
#   ARGV[3] lease seconds: the longest call; a grant unanswered after that (its holder
#           died) is counted from its last time in the window
# A grant is counted from when it was given; a worker slowed down between the grant
# and the send (a busy CPU) would otherwise let the upstream see more than rate_count
# requests in one window. Never moves a grant earlier. Returns 1 if the grant was there.
STARTED = (
    _PRELUDE
    + """
local now = redis_now()
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at then
    return 0
end
if now > tonumber(at) then
    redis.call('ZADD', KEYS[1], 'XX', fmt(now), ARGV[1])
end
local expiry = now + tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
redis.call('ZADD', KEYS[2], fmt(expiry), ARGV[1])
keep_at_least(KEYS[2], expiry - now)
keep_at_least(KEYS[1], math.max(tonumber(ARGV[2]), expiry - now))
return 1
"""
)

IN_FLIGHT = (
    _PRELUDE
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. fmt(redis_now()), '+inf')
"""
)

# PAUSED_FOR: seconds of pause left, 0 when none. Read-only.
#   KEYS[1] pause  (GET)
# Returns a "%.6f" string.
PAUSED_FOR = (
    _PRELUDE
    + """
local pause_end = tonumber(redis.call('GET', KEYS[1]) or '0')
return fmt(math.max(0, pause_end - redis_now()))
"""
)

# SHRINK: the upstream answered 429 "too many queued requests": the account's real limit
# is below the cap. Lower the cap by one (never below 1), like TCP's multiplicative
# decrease but one step at a time, so the next calls stop drawing 429s.
#   KEYS[1] cap (GET, SET PX), KEYS[2] cap:ok (DEL), KEYS[3] leases (ZCARD),
#   KEYS[4] 429s (INCR, PEXPIRE) the 429s in a row, until an answer (GROW)
#   ARGV[1] configured max_in_flight, ARGV[2] memory seconds (how long a lowered cap lasts)
# Returns {the new cap, the 429s in a row}.
SHRINK = """
local cap = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
local live = redis.call('ZCARD', KEYS[3])
local memory = math.ceil(tonumber(ARGV[2]) * 1000)
cap = math.max(1, math.min(cap, live) - 1)
redis.call('SET', KEYS[1], cap, 'PX', memory)
redis.call('DEL', KEYS[2])
local streak = redis.call('INCR', KEYS[4])
redis.call('PEXPIRE', KEYS[4], memory)
return {cap, streak}
"""

# GROW: a call was answered without a 429. After as many successes as the cap, the cap
# grows by one (additive increase) until it is the configured one again.
#   KEYS[1] cap (GET, SET PX, DEL), KEYS[2] cap:ok (INCR, DEL, PEXPIRE), KEYS[3] 429s (DEL)
#   ARGV[1] configured max_in_flight, ARGV[2] memory seconds
# Returns the cap in force.
GROW = """
redis.call('DEL', KEYS[3])
local cap = tonumber(redis.call('GET', KEYS[1]) or '0')
if cap == 0 then return tonumber(ARGV[1]) end
local ok = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[2]) * 1000))
if ok >= cap then
  cap = cap + 1
  redis.call('DEL', KEYS[2])
  if cap >= tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[1])
    return tonumber(ARGV[1])
  end
  redis.call('SET', KEYS[1], cap, 'PX', math.ceil(tonumber(ARGV[2]) * 1000))
end
return cap
"""

# ---- the account's circuit breaker (worker.limiter.breaker) ------------------------------
# KEYS of every breaker script: KEYS[1] breaker (hash: state, kind, reason, until, opens,
# probe, probe_until, sig), KEYS[2] streak (set: models that failed alike in a row).

# BREAKER_CHECK: may a call be made for this key now?
#   ARGV[1] caller (task id), ARGV[2] probe seconds (how long one probe may take)
# Returns {'go', n} (closed; n: how many of KEYS[1..2] exist, 0 when no failure was counted
# since the last success, so that a success has no open breaker to close), {'probe', reason}
# (half-open: this caller is the one probe, and stays it, asking again, until its probe
# seconds are up),
# {'wait', seconds, reason} or {'fail', seconds, reason} (open: permanent errors fail).
BREAKER_CHECK = (
    _PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'open' then return {'go', redis.call('EXISTS', KEYS[1], KEYS[2])} end
local now = redis_now()
local reason = redis.call('HGET', KEYS[1], 'reason') or ''
local left = tonumber(redis.call('HGET', KEYS[1], 'until') or '0') - now
if left > 0 then
    local verdict = 'wait'
    if redis.call('HGET', KEYS[1], 'kind') == 'permanent' then verdict = 'fail' end
    return {verdict, fmt(left), reason}
end
local probe_left = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0') - now
if probe_left > 0 and redis.call('HGET', KEYS[1], 'probe') == ARGV[1] then
    return {'probe', reason}  -- back after a wait for the limiter: still the probe
end
if probe_left <= 0 then
    redis.call('HSET', KEYS[1], 'probe', ARGV[1], 'probe_until', fmt(now + tonumber(ARGV[2])))
    return {'probe', reason}
end
return {'wait', fmt(math.min(probe_left, 1.0)), reason}
"""
)

# BREAKER_FAILED: a call failed with an error that may be the account's.
#   ARGV[1] model id, ARGV[2] caller, ARGV[3] signature (the error, model id left out),
#   ARGV[4] reason, ARGV[5] kind ('permanent' | 'transient'), ARGV[6] 1 if the error is
#   the account's by its nature (a bad key, no credits: it opens at once), ARGV[7]
#   threshold (different models failing alike in a row), ARGV[8] first open seconds,
#   ARGV[9] longest open seconds
# Returns {'opened' | 'reopened', seconds} or {'closed', streak} or {'open', 0}.
BREAKER_FAILED = (
    _PRELUDE
    + """
local now = redis_now()
local first, cap = tonumber(ARGV[8]), tonumber(ARGV[9])
if redis.call('HGET', KEYS[1], 'state') == 'open' then
    if redis.call('HGET', KEYS[1], 'probe') ~= ARGV[2] then return {'open', 0} end
    -- The probe failed: open again, for twice as long (up to the cap).
    local opens = redis.call('HINCRBY', KEYS[1], 'opens', 1)
    local seconds = math.min(cap, first * 2 ^ (opens - 1))
    redis.call('HSET', KEYS[1], 'until', fmt(now + seconds), 'kind', ARGV[5], 'reason', ARGV[4])
    redis.call('HDEL', KEYS[1], 'probe', 'probe_until')
    return {'reopened', fmt(seconds)}
end
if redis.call('HGET', KEYS[1], 'sig') ~= ARGV[3] then
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'sig', ARGV[3])
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], 3600)
redis.call('EXPIRE', KEYS[1], 86400)
local streak = redis.call('SCARD', KEYS[2])
if tonumber(ARGV[6]) == 1 or streak >= tonumber(ARGV[7]) then
    redis.call('HSET', KEYS[1], 'state', 'open', 'kind', ARGV[5], 'reason', ARGV[4],
               'opens', 1, 'until', fmt(now + first))
    redis.call('HDEL', KEYS[1], 'probe', 'probe_until')
    redis.call('DEL', KEYS[2])
    return {'opened', fmt(first)}
end
return {'closed', streak}
"""
)

# BREAKER_SUCCEEDED: a call was answered: the streak ends and an open breaker closes.
# Returns 1 if the breaker was open.
BREAKER_SUCCEEDED = """
local was_open = redis.call('HGET', KEYS[1], 'state') == 'open'
redis.call('DEL', KEYS[1], KEYS[2])
if was_open then return 1 end
return 0
"""
