#!lua name=sluice
--[[
sluice server-side functions (Redis 7 FUNCTION library "sluice").

Every move of a job between keys is one of these functions, so it is atomic and
fenced: a consumer can only settle an entry it still owns in the group's pending
list. Workers, the supervisor and the CLI load the library at start-up
(FUNCTION LOAD REPLACE when sluice_version differs), and any Redis client can
call the public ones (sluice_enqueue, sluice_enqueue_unique, sluice_schedule,
sluice_cancel) with FCALL (docs/enqueue.md, docs/cli.md "sluice jobs cancel").

Keys: every key of sluice, with its type and use, is listed once, in
docs/guarantees.md ("Keys"); a new key goes there. All keys of one queue share
the hash tag {Q}, so one queue is one cluster slot (sluice_promote writes to the
stream named inside each scheduled entry, always of the same {Q}). Callers
pass the keys in KEYS, built by common/keys.c, except these, which the
functions build themselves from a key they were given:
  <stream>:lease:G:ID   lease marker (lease_key): <stream> is sluice:{Q} or
                        sluice:{Q}:r:G
  <prefix><job id>      done-marker sluice:{Q}:done:G:ID (sluice_ack; the caller
                        passes the prefix sluice:{Q}:done:G: as ARGV)
  <sched>:bad           sluice:{Q}:sched:bad, parked members (sluice_promote)
  <stream>:run:G:ID     started record of entry ID in group G, written by
                        sluice_begin (see "Cancel" below), TTL from the caller
  <tag>:idem:K          the idempotency key of a unique job (field unique_key
                        K): <tag> is the sluice:{Q} its stream's name starts
                        with (release_unique)
  <cancels>:since       sluice:{Q}:cancels:since, when the cancel set last
                        became non-empty (server ms)
Time is always Redis server time (TIME), never a client's clock.
]]

-- Bump together with SL_FUNCTIONS_VERSION (common/functions.h) on every change:
-- a server holding an older version (or none) is replaced at start-up, never one
-- with the same or a newer version. So every version must accept the calls of
-- every older one (new KEYS/ARGV only as optional additions, replies only grow):
-- in a rolling upgrade old processes call the new library.
local VERSION = '10'

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Stream ids "ms-seq". Both parts go up to 2^64-1, beyond what a Lua number (a
-- double) holds, so they are kept as decimal strings: canonical ones (no
-- leading zeros) order by length, then as text. The one set of id helpers of
-- the library (the C side's is common/streamid.c).
local MAX_U64 = '18446744073709551615'

-- A stream id as two canonical decimal strings (ms, seq) and its canonical
-- text, or nil when malformed. A bare "ms" is seq 0, as in XRANGE. Ids as
-- Redis returns them take the fast path (sluice_ack's hot path: keep it so).
local function id_parts(id)
    local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
    if ms and (#ms == 1 or string.byte(ms, 1) ~= 48) and (#seq == 1 or string.byte(seq, 1) ~= 48)
        and #ms <= 20 and #seq <= 20 then
        return ms, seq, id
    end
    if not ms then
        ms, seq = string.match(id, '^(%d+)$'), '0'
        if not ms then return nil end
    end
    ms, seq = string.gsub(ms, '^0+(%d)', '%1'), string.gsub(seq, '^0+(%d)', '%1')
    if #ms > 20 or #seq > 20 then return nil end
    return ms, seq, ms .. '-' .. seq
end

-- a < b, both canonical decimal strings.
local function dec_less(a, b)
    if #a ~= #b then return #a < #b end
    return a < b
end

-- Id (ams, aseq) < id (bms, bseq), parts as id_parts returns them.
local function id_less(ams, aseq, bms, bseq)
    if ams ~= bms then return dec_less(ams, bms) end
    return dec_less(aseq, bseq)
end

-- s + 1, s a canonical decimal string.
local function dec_inc(s)
    local i = #s
    while i > 0 and string.sub(s, i, i) == '9' do i = i - 1 end
    if i == 0 then return '1' .. string.rep('0', #s) end
    return string.sub(s, 1, i - 1) .. tostring(tonumber(string.sub(s, i, i)) + 1) .. string.rep('0', #s - i)
end

-- The smallest id after (ms, seq) as text, or nil when there is none.
local function id_succ(ms, seq)
    if seq ~= MAX_U64 then return ms .. '-' .. dec_inc(seq) end
    if ms == MAX_U64 then return nil end
    return dec_inc(ms) .. '-0'
end

-- Owner and delivery count of a pending entry, or nil if it is not pending.
local function pending_owner(stream, group, id)
    local p = redis.call('XPENDING', stream, group, id, id, 1)
    if #p == 0 then return nil, 0 end
    return p[1][2], tonumber(p[1][4])
end

-- 1 if the entry is still in the stream (not deleted or trimmed).
local function entry_exists(stream, id)
    return #redis.call('XRANGE', stream, id, id, 'COUNT', 1) > 0
end

-- Lease marker of an owned entry that was deleted from its stream while pending
-- (XCLAIM cannot refresh such an entry: it would drop it from the pending list).
-- Holds the server time of the owner's last extension; sluice_reclaim leaves the
-- entry alone while that is fresher than the lease. Expires by itself.
local LEASE_MARKER_TTL_MS = 3600000
local function lease_key(stream, group, id)
    return stream .. ':lease:' .. group .. ':' .. id
end

-- The entry's field list, {} when it was deleted or trimmed.
local function entry_fields(stream, id)
    local r = redis.call('XRANGE', stream, id, id)
    if #r == 0 then return {} end
    return r[1][2]
end

-- Copy fields without the named ones.
local function without(fields, drop)
    local out = {}
    for i = 1, #fields, 2 do
        if not drop[fields[i]] then
            out[#out + 1] = fields[i]
            out[#out + 1] = fields[i + 1]
        end
    end
    return out
end

local function field(fields, name)
    for i = 1, #fields, 2 do
        if fields[i] == name then return fields[i + 1] end
    end
    return nil
end

local function xadd(stream, maxlen, fields)
    if maxlen and maxlen > 0 then
        return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(fields))
    end
    return redis.call('XADD', stream, '*', unpack(fields))
end

local function schedule(sched, due, target, fields)
    -- The member is the whole entry; its job id and attempt make it unique.
    local member = cjson.encode({s = target, f = fields})
    redis.call('ZADD', sched, due, member)
end

-- The sluice:{Q} a key of queue (or partition) Q starts with, nil if none.
local function tag_of(key)
    return string.match(key, '^(sluice:{[^}]*})')
end

-- A unique job (field unique_key K, written by sluice_enqueue_unique) is done
-- (completed, dead-lettered or cancelled): release its idempotency key
-- <tag>:idem:K, so the same key enqueues again at once, but only while the key
-- still names this job (one that took the key after it expired keeps it).
-- stream is any key of the job's queue; fields its entry's field list.
local function release_unique(stream, fields, job_id)
    local k, tag = field(fields, 'unique_key'), tag_of(stream)
    if not k or k == '' or not tag or not job_id or job_id == '' then return end
    local key = tag .. ':idem:' .. k
    if redis.call('GET', key) == job_id then redis.call('DEL', key) end
end

-- sluice_version() -> library version
redis.register_function{function_name = 'sluice_version', flags = {'no-writes'},
    callback = function(keys, args) return VERSION end}

--[[ sluice_ack: acknowledge entries this consumer still owns.
KEYS[1] stream, KEYS[2] (optional) the group's fence key sluice:{Q}:fence:G
ARGV[1] group, ARGV[2] consumer, ARGV[3] done-marker key prefix ("" = none),
ARGV[4] done-marker TTL seconds; with KEYS[2], ARGV[5] is the fence value the
caller read before any of these entries was delivered to it ("" = unknown);
then stream ids (with a prefix: pairs of stream id, job id; the marker is
prefix..job id, none for an empty job id). Ids may come in any order.
Owner check, slow path: one XPENDING of this consumer over the ids' range tells
which it owns (not one per id: a worker acks a whole read batch at once); those
are acked with one XACK per 1000 ids.
Fast path: when the fence still holds the caller's value, no pending entry of
the group changed owner since these were delivered (every owner change sluice
makes bumps it), so every id listed is still this consumer's or no longer
pending, and one XACK per 1000 ids is the whole fenced ack. Done-markers are set
for every listed job id then (each is a job this consumer finished).
An id listed twice counts once. Returns {acked, refused}, plus the fence value
now (0 when unset) with KEYS[2]: refused entries are pending under another
consumer (their lease lapsed and they were reclaimed) or no longer pending. A
malformed id is an error, and nothing is acked. ]]
local ACK_CHUNK = 1000 -- ids per XACK: unpack() of a few thousand values is safe in Redis' Lua

-- XACK of ids[1..n], ACK_CHUNK at a time; returns how many were acked.
local function xack_all(stream, group, ids, n)
    local acked = 0
    for c = 1, n, ACK_CHUNK do
        acked = acked + redis.call('XACK', stream, group, unpack(ids, c, math.min(c + ACK_CHUNK - 1, n)))
    end
    return acked
end

-- sluice_ack's fast path (the fence held): XACK every id, markers for every job id.
local function fast_ack(stream, group, args, first, step, prefix, ttl, fence)
    local n, acked = 0, 0
    if step == 1 then
        n = #args - first + 1
        for c = first, #args, ACK_CHUNK do
            acked = acked + redis.call('XACK', stream, group, unpack(args, c, math.min(c + ACK_CHUNK - 1, #args)))
        end
    else
        local ids = {}
        for i = first, #args, 2 do
            n = n + 1
            ids[n] = args[i]
        end
        acked = xack_all(stream, group, ids, n)
        for i = first + 1, #args, 2 do
            if args[i] ~= '' then redis.call('SET', prefix .. args[i], '1', 'EX', ttl) end
        end
    end
    return {acked, n - acked, tonumber(fence)}
end

-- allow-oom: acks free memory (pending-list entries), so they must work while
-- Redis refuses writes for want of it; done-markers are small.
redis.register_function{function_name = 'sluice_ack', flags = {'allow-oom'}, callback = function(keys, args)
    local stream, group, consumer = keys[1], args[1], args[2]
    local prefix, ttl = args[3], tonumber(args[4])
    local step = (prefix ~= '') and 2 or 1
    local first, fence = 5, nil
    if keys[2] then
        first = 6
        fence = redis.call('GET', keys[2]) or '0'
        -- (more ids than one XACK takes go the slow way, so a malformed one never leaves a partial ack)
        if args[5] == fence and #args >= first and #args - first < ACK_CHUNK then
            return fast_ack(stream, group, args, first, step, prefix, ttl, fence)
        end
    end
    -- The requested ids in canonical form (XPENDING replies are canonical), and their range.
    local want, n = {}, 0
    local lo_ms, lo_seq, hi_ms, hi_seq, lo, hi
    for i = first, #args, step do
        local ms, seq, id = id_parts(args[i])
        if not ms then return redis.error_reply('ERR sluice_ack: invalid stream ID ' .. args[i]) end
        n = n + 1
        want[n] = id
        if not lo or id_less(ms, seq, lo_ms, lo_seq) then lo_ms, lo_seq, lo = ms, seq, id end
        if not hi or id_less(hi_ms, hi_seq, ms, seq) then hi_ms, hi_seq, hi = ms, seq, id end
    end
    if n == 0 then return fence and {0, 0, tonumber(fence)} or {0, 0} end
    -- Entries this consumer owns in [lo, hi]: other pending entries of it may lie
    -- in between (prefetched ones not finished yet), so page until the range ends.
    local owned = {}
    local from, page = lo, n + 16
    while true do
        local p = redis.call('XPENDING', stream, group, from, hi, page, consumer)
        for j = 1, #p do owned[p[j][1]] = true end
        if #p < page then break end
        from = '(' .. p[#p][1]
    end
    local ack, nack = {}, 0
    for k = 1, n do
        local id = want[k]
        if owned[id] then
            owned[id] = nil -- a second listing of the same id is refused
            nack = nack + 1
            ack[nack] = id
            local job = step == 2 and args[first + (k - 1) * 2 + 1] or ''
            if job ~= '' then redis.call('SET', prefix .. job, '1', 'EX', ttl) end
        end
    end
    local acked = xack_all(stream, group, ack, nack)
    if fence then return {acked, n - acked, tonumber(fence)} end
    return {acked, n - acked}
end}

--[[ sluice_settle: move one owned entry to a retry or to the dead-letter stream,
atomically with its ack.
KEYS[1] stream the entry is pending in, KEYS[2] sched, KEYS[3] dlq,
KEYS[4] retry stream of the group
ARGV: [1] group [2] consumer [3] stream id [4] "retry" | "dead" | "defer"
      [5] retry delay ms [6] reason [7] error [8] attempt (of the run that ended)
      [9] deliveries [10] dlq MAXLEN (0 = uncapped) [11] job id
      [12] (optional, dead letters) keep at most this many bytes of the
      payload field ("" or absent = all of it)
A dead letter of a unique job (field unique_key) releases its idempotency key
(release_unique); a retry keeps it: the job is not done.
A retry is a copy of the entry with attempt+1, id = job id and last_error, put
in sched and moved by sluice_promote into the retry stream of this group only.
A deferral (a limit refused the job, docs/limits.md) is the same copy with the
attempt it had (ARGV[8]) and its last_error kept: it spends nothing; ARGV[12]
is then its rate reservations (field limit_at, "" = none).
A dead letter is the original fields plus reason, error, attempts, deliveries,
original_id, original_stream, group, consumer, failed_at (ms). With ARGV[12]
and a longer payload, the payload is cut to that many bytes and the field
payload_truncated holds its original length (an oversize entry is not copied
whole: Redis would hold it twice).
Returns 1, or 0 when refused (not owned by this consumer any more).
Not allow-oom, on purpose: unlike an ack it grows memory (a retry copies the
entry into sched, a dead letter into the DLQ), so under noeviction it waits
for memory like any other write. The worker keeps a refused settle and
resends it (workers/settle.c, sl_held_settle) instead of running the job
again. ]]
redis.register_function('sluice_settle', function(keys, args)
    local stream, sched, dlq, rstream = keys[1], keys[2], keys[3], keys[4]
    local group, consumer, id, action = args[1], args[2], args[3], args[4]
    -- Checked first, so a caller's bug is an error even for an entry it lost.
    if action ~= 'retry' and action ~= 'dead' and action ~= 'defer' then
        return redis.error_reply('ERR sluice_settle: unknown action ' .. tostring(action))
    end
    if pending_owner(stream, group, id) ~= consumer then return 0 end
    local fields = entry_fields(stream, id)
    local now = now_ms()
    if action == 'retry' then
        local copy = without(fields, {attempt = true, id = true, last_error = true, limit_at = true})
        copy[#copy + 1] = 'id'; copy[#copy + 1] = args[11]
        copy[#copy + 1] = 'attempt'; copy[#copy + 1] = tostring(tonumber(args[8]) + 1)
        copy[#copy + 1] = 'last_error'; copy[#copy + 1] = args[7]
        schedule(sched, now + tonumber(args[5]), rstream, copy)
    elseif action == 'defer' then
        local copy = without(fields, {attempt = true, id = true, limit_at = true})
        copy[#copy + 1] = 'id'; copy[#copy + 1] = args[11]
        if tonumber(args[8]) > 1 then copy[#copy + 1] = 'attempt'; copy[#copy + 1] = args[8] end
        if args[12] and args[12] ~= '' then copy[#copy + 1] = 'limit_at'; copy[#copy + 1] = args[12] end
        schedule(sched, now + tonumber(args[5]), rstream, copy)
    elseif action == 'dead' then
        local d = without(fields, {reason = true, error = true, attempts = true, deliveries = true,
            original_id = true, original_stream = true, group = true, consumer = true, failed_at = true,
            payload_truncated = true, limit_at = true})
        local excerpt = tonumber(args[12] or '')
        if excerpt and excerpt >= 0 then
            for i = 1, #d, 2 do
                if d[i] == 'payload' and #d[i + 1] > excerpt then
                    local len = #d[i + 1]
                    d[i + 1] = string.sub(d[i + 1], 1, excerpt)
                    d[#d + 1] = 'payload_truncated'; d[#d + 1] = tostring(len)
                    break
                end
            end
        end
        if field(d, 'id') == nil and args[11] ~= '' then
            d[#d + 1] = 'id'; d[#d + 1] = args[11]
        end
        local extra = {'reason', args[6], 'error', args[7], 'attempts', args[8],
            'deliveries', args[9], 'original_id', id, 'original_stream', stream,
            'group', group, 'consumer', consumer, 'failed_at', tostring(now)}
        for i = 1, #extra do d[#d + 1] = extra[i] end
        xadd(dlq, tonumber(args[10]), d)
        release_unique(stream, fields, args[11] ~= '' and args[11] or id)
    end
    redis.call('XACK', stream, group, id)
    return 1
end)

--[[ sluice_extend: keep owned entries' leases fresh (reset idle time) without
counting a delivery. Never claims an entry another consumer owns. For an entry
deleted or trimmed from the stream while pending, XCLAIM would silently drop it
from the pending list (Redis >= 7.0), so instead the extension is recorded in
its lease marker (see lease_key): sluice_reclaim then leaves it to its live
owner, who acks it or dead-letters it "trimmed".
KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, then stream ids.
Returns how many were extended. ]]
redis.register_function('sluice_extend', function(keys, args)
    local stream, group, consumer = keys[1], args[1], args[2]
    local n = 0
    for i = 3, #args do
        if pending_owner(stream, group, args[i]) == consumer then
            if entry_exists(stream, args[i]) then
                redis.call('XCLAIM', stream, group, consumer, 0, args[i], 'JUSTID')
            else
                redis.call('SET', lease_key(stream, group, args[i]), tostring(now_ms()), 'PX', LEASE_MARKER_TTL_MS)
            end
            n = n + 1
        end
    end
    return n
end)

--[[ sluice_release: give back owned entries without spending a delivery (graceful
stop: a job killed at shutdown_timeout, or prefetched and never started). The
entry stays pending under the same consumer with its delivery count lowered by
one, so the next delivery counts as the same one. An entry deleted or trimmed
from the stream is left pending untouched (not counted), as in sluice_extend:
its owner's next replay reads it as nil and dead-letters it as "trimmed".
KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, then stream ids.
Hand-off (a worker stopping with prefetched entries, e.g. at a scale-down):
with KEYS[2], the group's fence key, ARGV[3] is an idle time in ms (the lease)
and the ids follow it. The released entries are given that idle time, so the
next sluice_reclaim of any live consumer takes them over (XCLAIM, counting the
delivery given back here), and the fence is bumped: live workers see it move
in their sluice_ack replies and reclaim at once instead of waiting for their
next round. Ownership does not change here, so the fence rules hold; the
reclaim that moves them bumps the fence again.
Returns how many were released. ]]
redis.register_function('sluice_release', function(keys, args)
    local stream, group, consumer = keys[1], args[1], args[2]
    local first, idle = 3, nil
    if keys[2] then
        first, idle = 4, tonumber(args[3])
        if idle == nil or idle < 0 then
            return redis.error_reply('ERR sluice_release: the idle time must be a non-negative integer')
        end
    end
    local n = 0
    for i = first, #args do
        local owner, deliveries = pending_owner(stream, group, args[i])
        if owner == consumer and entry_exists(stream, args[i]) then
            local keep = deliveries > 0 and deliveries - 1 or 0
            if idle then
                redis.call('XCLAIM', stream, group, consumer, 0, args[i], 'IDLE', idle, 'RETRYCOUNT', keep, 'JUSTID')
            else
                redis.call('XCLAIM', stream, group, consumer, 0, args[i], 'RETRYCOUNT', keep, 'JUSTID')
            end
            n = n + 1
        end
    end
    if keys[2] and n > 0 then redis.call('INCR', keys[2]) end
    return n
end)

--[[ sluice_delconsumer: forget a consumer that no process will use again (the
supervisor calls it for a slot removed by a scale-down or a pool removal), so
XINFO CONSUMERS and the consumer gauges do not list it for ever. Only a
consumer with nothing pending is deleted: XGROUP DELCONSUMER drops the pending
entries of the consumer it deletes, and an entry no one owns is never
redelivered. One that still holds entries is kept; the lease reclaim moves them.
KEYS[1] stream; ARGV[1] group, ARGV[2] consumer.
Returns 1 deleted, 0 no such stream, group or consumer, -1 kept: it holds
pending entries. ]]
redis.register_function{function_name = 'sluice_delconsumer', flags = {'allow-oom'}, callback = function(keys, args)
    local stream, group, consumer = keys[1], args[1], args[2]
    if redis.call('EXISTS', stream) == 0 then return 0 end
    local consumers = redis.pcall('XINFO', 'CONSUMERS', stream, group)
    if consumers.err then return 0 end -- no such group
    for _, c in ipairs(consumers) do
        local name, pending
        for i = 1, #c, 2 do
            if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] end
        end
        if name == consumer then
            if pending > 0 then return -1 end
            redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
            return 1
        end
    end
    return 0
end}

--[[ sluice_reclaim: take over entries idle past the lease from consumers that
stopped working them (a dead host). Used instead of XAUTOCLAIM because in Redis
7.0 XAUTOCLAIM drops EVERY deleted entry it scans from the pending list before
it looks at idle time, fresh ones of live consumers included: a job still
running would then end both completed and dead-lettered. This function touches
only entries idle for at least min-idle:
  - still in the stream: XCLAIM (not JUSTID: the delivery count grows, so the
    crash budget holds) and returned to the caller to run;
  - deleted from the stream: dead-lettered "trimmed" and acked, atomically,
    unless its owner extended it within the lease (a live owner still running
    it: see sluice_extend), in which case it is left to the owner.
KEYS[1] stream, KEYS[2] dlq, KEYS[3] (optional) the group's fence key,
bumped when any entry changes owner (see sluice_ack)
ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms, ARGV[4] cursor ("0-0" to
start a pass), ARGV[5] count, ARGV[6] dlq MAXLEN (0 = uncapped)
Returns XAUTOCLAIM's shape: {next cursor ("0-0" when the pass is done),
{{id, fields}...}, {ids dead-lettered as trimmed}}. ]]
local function fresh_lease(stream, group, id, now, min_idle)
    local last = redis.call('GET', lease_key(stream, group, id))
    return last ~= false and last ~= nil and now - tonumber(last) < min_idle
end

redis.register_function('sluice_reclaim', function(keys, args)
    local stream, dlq = keys[1], keys[2]
    local group, consumer, min_idle, cursor = args[1], args[2], args[3], args[4]
    local count, maxlen = tonumber(args[5]), tonumber(args[6])
    local stale = redis.call('XPENDING', stream, group, 'IDLE', min_idle, cursor, '+', count)
    local claimed, deleted = {}, {}
    local now = now_ms()
    for _, p in ipairs(stale) do
        local id = p[1]
        if entry_exists(stream, id) then
            local c = redis.call('XCLAIM', stream, group, consumer, min_idle, id)
            if #c > 0 then claimed[#claimed + 1] = c[1] end
        elseif fresh_lease(stream, group, id, now, tonumber(min_idle)) then
            -- deleted, but its owner extended it within the lease: still running
        else
            redis.call('DEL', lease_key(stream, group, id))
            xadd(dlq, maxlen, {'id', id, 'reason', 'trimmed',
                'error', 'entry deleted from the stream while pending, found at reclaim',
                'attempts', '0', 'deliveries', tostring(p[4]), 'original_id', id,
                'original_stream', stream, 'group', group, 'consumer', p[2], 'failed_at', tostring(now)})
            redis.call('XACK', stream, group, id)
            deleted[#deleted + 1] = id
        end
    end
    if keys[3] and (#claimed > 0 or #deleted > 0) then redis.call('INCR', keys[3]) end
    local next = '0-0'
    if #stale == count then next = '(' .. stale[#stale][1] end
    return {next, claimed, deleted}
end)

--[[ sluice_promote: move due scheduled entries into their target streams.
KEYS[1] sched; ARGV[1] max entries to move. Safe to run from many supervisors
at once: each entry moves exactly once. A member that cannot be moved (not
sluice's JSON, or its target is not a stream) is parked in KEYS[1]..":bad"
with its score (and a warning in the Redis log) instead of failing the call, so
one bad member never blocks the queue's schedule. Returns how many moved. ]]
redis.register_function('sluice_promote', function(keys, args)
    local sched, limit = keys[1], tonumber(args[1])
    local due = redis.call('ZRANGEBYSCORE', sched, '-inf', now_ms(), 'WITHSCORES', 'LIMIT', 0, limit)
    local moved, parked = 0, 0
    for i = 1, #due, 2 do
        local member, score = due[i], due[i + 1]
        local ok, e = pcall(cjson.decode, member)
        local added = false
        if ok and type(e) == 'table' and type(e.s) == 'string' and type(e.f) == 'table' and #e.f > 0 then
            added = type(redis.pcall('XADD', e.s, '*', unpack(e.f))) == 'string'
        end
        if added then
            moved = moved + 1
        else
            redis.call('ZADD', sched .. ':bad', score, member)
            parked = parked + 1
        end
        redis.call('ZREM', sched, member)
    end
    if parked > 0 then
        redis.log(redis.LOG_WARNING, 'sluice_promote: parked ' .. parked .. ' unmovable member(s) in ' .. sched .. ':bad')
    end
    return moved
end)

-- Check the arguments of put before anything is written: a bad call must fail
-- whole. A scheduled entry with an odd field list would make every later
-- sluice_promote fail on it (XADD refuses it), blocking the queue's schedule.
-- Returns nil, or an error reply.
local function check_put(fname, mode, ms, fields)
    if mode ~= '' and mode ~= 'in' and mode ~= 'at' then
        return redis.error_reply('ERR ' .. fname .. ': mode must be "in" or "at"' ..
            (fname == 'sluice_enqueue' and ' or ""' or ''))
    end
    if #fields == 0 or #fields % 2 ~= 0 then
        return redis.error_reply('ERR ' .. fname .. ': expected field/value pairs')
    end
    if mode ~= '' then
        if not string.match(ms, '^%d+$') then
            return redis.error_reply('ERR ' .. fname .. ': ms must be a non-negative integer')
        end
        local id = field(fields, 'id')
        if id == nil or id == '' then
            return redis.error_reply('ERR ' .. fname .. ': a scheduled job needs an id field')
        end
    end
    return nil
end

-- Shared by sluice_schedule and sluice_enqueue: enqueue now or later (arguments
-- checked by check_put). mode "" = now (XADD), "in" = after ms, "at" = at
-- epoch ms. Returns the job id.
local function put(stream, sched, mode, ms, fields)
    if mode == '' then
        local sid = redis.call('XADD', stream, '*', unpack(fields))
        return field(fields, 'id') or sid
    end
    local due = (mode == 'in') and (now_ms() + tonumber(ms)) or tonumber(ms)
    schedule(sched, due, stream, fields)
    return field(fields, 'id')
end

--[[ sluice_schedule: enqueue a job for later (any client may call it).
KEYS[1] stream, KEYS[2] sched
ARGV[1] "in" | "at", ARGV[2] delay ms or epoch ms, then field/value pairs,
which must include id (the job id). Returns the job id.
  FCALL sluice_schedule 2 sluice:{q} sluice:{q}:sched in 30000 id job-1 type t payload {} ]]
redis.register_function('sluice_schedule', function(keys, args)
    local mode = args[1]
    if mode ~= 'in' and mode ~= 'at' then
        return redis.error_reply('ERR sluice_schedule: mode must be "in" or "at"')
    end
    local fields = {}
    for i = 3, #args do fields[#fields + 1] = args[i] end
    local bad = check_put('sluice_schedule', mode, args[2] or '', fields)
    if bad then return bad end
    return put(keys[1], keys[2], mode, args[2], fields)
end)

--[[ sluice_enqueue: idempotent enqueue (any client may call it). The first call
with key K enqueues and remembers the job id for TTL seconds; later calls with K
enqueue nothing and return the first id.
KEYS[1] stream, KEYS[2] sluice:{Q}:idem:K, KEYS[3] sched
ARGV[1] TTL seconds (1..9999999999), ARGV[2] "" | "in" | "at", ARGV[3] ms
(ignored with ""), then field/value pairs (with "in"/"at" they must include id).
Returns {job id, 1 if enqueued now / 0 if a duplicate}. Bad arguments are an
error reply and write nothing, even when K is already taken.
  FCALL sluice_enqueue 3 sluice:{q} sluice:{q}:idem:order-42 sluice:{q}:sched 86400 "" 0 type t payload {} ]]
-- sluice_enqueue's body; unique: the job carries unique_key K (K from KEYS[2]).
local function enqueue_idem(fname, keys, args, unique)
    -- The TTL is checked before the XADD: SET EX failing after it would leave
    -- the job enqueued without its key, and the caller's retry would add it again.
    local ttl = args[1] or ''
    if not string.match(ttl, '^%d+$') or #ttl > 10 or tonumber(ttl) == 0 then
        return redis.error_reply('ERR ' .. fname .. ': TTL must be a positive integer (seconds, at most 10 digits)')
    end
    local fields = {}
    for i = 4, #args do fields[#fields + 1] = args[i] end
    local bad = check_put(fname, args[2] or '', args[3] or '', fields)
    if bad then return bad end
    if unique then
        local prefix = (tag_of(keys[1]) or '') .. ':idem:'
        local k = string.sub(keys[2], #prefix + 1)
        if string.sub(keys[2], 1, #prefix) ~= prefix or k == '' then
            return redis.error_reply('ERR ' .. fname .. ': KEYS[2] must be the idempotency key ' .. prefix .. 'K of the stream')
        end
        fields = without(fields, {unique_key = true})
        fields[#fields + 1] = 'unique_key'; fields[#fields + 1] = k
    end
    local first = redis.call('GET', keys[2])
    if first then return {first, 0} end
    local id = put(keys[1], keys[3], args[2], args[3], fields)
    redis.call('SET', keys[2], id, 'EX', ttl)
    return {id, 1}
end

redis.register_function('sluice_enqueue', function(keys, args)
    return enqueue_idem('sluice_enqueue', keys, args, false)
end)

--[[ sluice_enqueue_unique: sluice_enqueue with "unique until done" (BullMQ's
simple deduplication): the same KEYS and ARGV; the job gets the field
unique_key K (K: KEYS[2] is sluice:{Q}:idem:K), and its key is released as
soon as the job completes, is dead-lettered or cancelled (sluice_complete,
sluice_settle, sluice_cancel), not only when its TTL ends. The TTL still bounds
it (a job lost with its queue's keys). A duplicate returns {first id, 0}.
  FCALL sluice_enqueue_unique 3 sluice:{q} sluice:{q}:idem:order-42 sluice:{q}:sched 86400 "" 0 type t payload {} ]]
redis.register_function('sluice_enqueue_unique', function(keys, args)
    return enqueue_idem('sluice_enqueue_unique', keys, args, true)
end)

--[[ sluice_complete: the fenced ack of one job that needs more than
sluice_ack's pipelined ack: a unique job (field unique_key) whose key is
released with its ack (release_unique), atomically.
KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] stream id, ARGV[4]
job id, ARGV[5] done-marker key prefix ("" = none), ARGV[6] its TTL seconds.
Returns 1, or 0 when refused (not this consumer's any more). ]]
redis.register_function{function_name = 'sluice_complete', flags = {'allow-oom'}, callback = function(keys, args)
    local stream, group, consumer, id, job_id = keys[1], args[1], args[2], args[3], args[4]
    if pending_owner(stream, group, id) ~= consumer then return 0 end
    release_unique(stream, entry_fields(stream, id), job_id)
    if (args[5] or '') ~= '' and job_id ~= '' then redis.call('SET', args[5] .. job_id, '1', 'EX', tonumber(args[6])) end
    redis.call('XACK', stream, group, id)
    return 1
end}

--[[ Cancel (sluice jobs cancel QUEUE ID; sluice_cancel() of the C API).
A job ends in the terminal state "cancelled" wherever it is. Two keys per
queue (partition) Q, besides the <cancels>:since and started records named at
the top:
  sluice:{Q}:cancels       zset, job id -> server ms of its cancel: cancelled
                           jobs an entry of which may still be delivered (held
                           by a consumer, or not read yet by some group).
                           While it is not empty, workers check each job with
                           sluice_begin before they start it (they learn that
                           from an EXISTS sent with each read), and
                           supervisors stop running jobs that are in it.
  sluice:{Q}:cancels:removed  hash, state -> how many cancels ended in the
                           call itself (a scheduled job removed, an unread
                           entry deleted): no worker counts those.
  sluice:{Q}:cancelled:ID  hash, the record of job ID's cancel (TTL: the
                           caller's, jobs.done_ttl): state (how far the job
                           was: scheduled, queued, delivered, running), at (ms),
                           open (places not settled yet), outcome (of the last
                           one settled: removed, skipped, stopped, killed).
A pending entry whose handler may have started is "running" when a worker
checked it with sluice_begin (its started record), "queued" when it was
delivered while the cancel set was not empty (its worker checks it before
starting it), else "delivered": read in a batch before any cancel, so it may
start; it is then stopped like a running job. ]]
local CANCEL_RANK = {scheduled = 1, queued = 2, delivered = 3, running = 4}

local function further(a, b)
    if a == nil then return b end
    if b == nil then return a end
    return CANCEL_RANK[b] > CANCEL_RANK[a] and b or a
end

local function run_key(stream, group, id)
    return stream .. ':run:' .. group .. ':' .. id
end

local function cancels_add(cancels, job_id, now)
    if redis.call('ZCARD', cancels) == 0 then redis.call('SET', cancels .. ':since', now) end
    redis.call('ZADD', cancels, now, job_id)
end

local function cancels_remove(cancels, job_id)
    redis.call('ZREM', cancels, job_id)
    if redis.call('ZCARD', cancels) == 0 then redis.call('DEL', cancels .. ':since') end
end

-- Verdict on a pending entry of group g (idle: its XPENDING idle ms).
local function pending_verdict(cancels, stream, g, id, idle, now)
    if redis.call('EXISTS', run_key(stream, g, id)) == 1 then return 'running' end
    local since = tonumber(redis.call('GET', cancels .. ':since') or '')
    if since and now - idle > since then return 'queued' end
    return 'delivered'
end

-- A held place of a cancelled job: group G still has to settle entry id of
-- stream (a field of the job's record, so sluice_cancel_sweep can find it).
local function held_field(group, id, stream)
    return 'h:' .. group .. ' ' .. id .. ' ' .. stream
end

-- Last-delivered id of every group of stream, by name.
local function groups_last(stream)
    local out, n = {}, 0
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
        local info = {}
        for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
        out[info['name']] = info['last-delivered-id']
        n = n + 1
    end
    return out, n
end

-- 1 when group still has to settle entry (ms, seq) of stream: pending, or not
-- read yet.
local function still_held(stream, group, last, sid, ms, seq)
    if #redis.call('XPENDING', stream, group, sid, sid, 1) > 0 then return true end
    local lms, lseq = id_parts(last)
    return id_less(lms, lseq, ms, seq)
end

-- Cancel the job's entry id of stream (the work stream, or a retry stream).
-- Returns nil when the entry is gone or another job's; 'finished' when every
-- group finished it; 'already' when an earlier cancel recorded each place that
-- holds it; else the cancel state, how many new (group) places are left to
-- settle (recorded in record), and the entry's fields.
local function cancel_entry(cancels, record, stream, id, job_id, now)
    local r = redis.call('XRANGE', stream, id, id)
    if #r == 0 then return nil end
    local sid, fields = r[1][1], r[1][2]
    if (field(fields, 'id') or sid) ~= job_id then return nil end
    local ms, seq = id_parts(sid)
    local last, ngroups = groups_last(stream)
    local state, held, unread = nil, {}, {}
    for g, lid in pairs(last) do
        local p = redis.call('XPENDING', stream, g, sid, sid, 1)
        if #p > 0 then
            held[#held + 1] = g
            state = further(state, pending_verdict(cancels, stream, g, sid, tonumber(p[1][3]), now))
        elseif still_held(stream, g, lid, sid, ms, seq) then
            unread[#unread + 1] = g
        end
    end
    if #held == 0 and #unread == 0 and ngroups > 0 then return 'finished' end
    if #held == 0 then
        -- no one holds it: gone before any group that has still to read it does
        redis.call('XDEL', stream, sid)
        return 'queued', 0, fields
    end
    local added = 0
    for _, list in ipairs({held, unread}) do
        for _, g in ipairs(list) do added = added + redis.call('HSETNX', record, held_field(g, sid, stream), '1') end
    end
    if added == 0 then return 'already' end -- every place recorded by an earlier cancel
    return further(state, #unread > 0 and 'queued' or nil), added, fields
end

--[[ sluice_cancel: cancel job ID (any client may call it). The decision is
made here, atomically, from what the places hold now, whatever the caller saw
when it looked for them:
  a scheduled entry (delayed job, retry waiting for its backoff) is removed;
  a stream entry no group holds is deleted (XDEL) before any group that has
  not read it does;
  an entry some consumer holds (pending), or that some group has still to
  read while another holds it, goes into sluice:{Q}:cancels: workers skip it
  when they come to it (sluice_begin), supervisors stop it when it runs, and
  each of those places settles it as cancelled (sluice_cancel_settle).
A unique job's idempotency key is released (release_unique) for the places
removed here; the others release it when they settle.
KEYS[1] sluice:{Q}, KEYS[2] sluice:{Q}:sched, KEYS[3] sluice:{Q}:cancels,
KEYS[4] sluice:{Q}:cancelled:ID
ARGV[1] ID, ARGV[2] TTL seconds of the record, then the places where the
caller found the job, as pairs: "sched" MEMBER (of KEYS[2]), "stream"
STREAM-ID (of KEYS[1]), "retry:G" STREAM-ID (of sluice:{Q}:r:G). With no
place and an ID that is a stream id, the entry ID of KEYS[1] is the place
(a job enqueued without an id field is known by its stream id). Bad
arguments (no ID, a TTL that is not positive, an odd place list, an unknown
place, a stream id that is not one) are an error reply that writes nothing.
Returns {verdict, state, open, moved}:
  "cancelled"  state: the furthest place ("scheduled", "queued", "delivered",
               "running"); open: places still to settle (0: all done here)
  "already"    it was cancelled before (state from its record), nothing new
  "finished"   every place is a finished run (completed or dead-lettered)
  "not_found"  no place
moved counts places that no longer hold the job (promoted, retried, trimmed
meanwhile): the caller should look again and call once more.
  FCALL sluice_cancel 4 sluice:{q} sluice:{q}:sched sluice:{q}:cancels sluice:{q}:cancelled:1700000000000-0 1700000000000-0 604800 ]]
redis.register_function('sluice_cancel', function(keys, args)
    local stream, sched, cancels, record = keys[1], keys[2], keys[3], keys[4]
    local job_id, ttl = args[1] or '', tonumber(args[2] or '')
    if job_id == '' or not ttl or ttl <= 0 then
        return redis.error_reply('ERR sluice_cancel: expected a job id and a positive TTL (seconds)')
    end
    if #args % 2 ~= 0 then
        return redis.error_reply('ERR sluice_cancel: expected (place, what) pairs after the TTL')
    end
    -- Every place is checked before anything is written: a bad one is an error
    -- reply that cancels none of the others.
    local places = {}
    for i = 3, #args - 1, 2 do
        local where, what = args[i], args[i + 1]
        if where == 'stream' or string.sub(where, 1, 6) == 'retry:' then
            if not id_parts(what) then return redis.error_reply('ERR sluice_cancel: invalid stream ID ' .. what) end
        elseif where ~= 'sched' then
            return redis.error_reply('ERR sluice_cancel: unknown place ' .. where)
        end
        places[#places + 1] = {where, what}
    end
    if #places == 0 and id_parts(job_id) then places[1] = {'stream', job_id} end
    local now = now_ms()
    redis.call('ZREMRANGEBYSCORE', cancels, '-inf', '(' .. string.format('%.0f', now - ttl * 1000))
    if redis.call('ZCARD', cancels) == 0 then redis.call('DEL', cancels .. ':since') end
    local state, open, moved, finished, cancelled = nil, 0, 0, 0, 0
    for _, pl in ipairs(places) do
        local where, what = pl[1], pl[2]
        if where == 'sched' then
            local ok, e = pcall(cjson.decode, what)
            if ok and type(e) == 'table' and type(e.f) == 'table' and type(e.s) == 'string'
                and field(e.f, 'id') == job_id and redis.call('ZREM', sched, what) == 1 then
                release_unique(stream, e.f, job_id)
                state, cancelled = further(state, 'scheduled'), cancelled + 1
            else
                moved = moved + 1
            end
        else -- "stream" or "retry:G", checked above
            local s = where == 'stream' and stream or (stream .. ':r:' .. string.sub(where, 7))
            local st, n, fields = cancel_entry(cancels, record, s, what, job_id, now)
            if st == nil then
                moved = moved + 1
            elseif st == 'finished' then
                finished = finished + 1
            elseif st ~= 'already' then
                if n == 0 and st == 'queued' then release_unique(stream, fields, job_id) end
                state, open, cancelled = further(state, st), open + n, cancelled + 1
            end
        end
    end
    local before = redis.call('HGET', record, 'state')
    if cancelled == 0 then
        if before then return {'already', before, 0, moved} end
        if finished > 0 then return {'finished', '', 0, moved} end
        return {'not_found', '', 0, moved}
    end
    state = further(before or nil, state)
    redis.call('HSET', record, 'state', state, 'job_id', job_id)
    redis.call('HSETNX', record, 'at', now)
    local left = redis.call('HINCRBY', record, 'open', open)
    if left <= 0 then
        redis.call('HSET', record, 'outcome', 'removed')
        -- Ended here, with no worker to count it: counted for the metrics
        -- (sluice_cancels_removed_total, sampled by the supervisors).
        if not before then redis.call('HINCRBY', cancels .. ':removed', state, 1) end
    end
    redis.call('EXPIRE', record, ttl)
    if open > 0 then cancels_add(cancels, job_id, now) end
    return {'cancelled', state, open, moved}
end)

-- One place of record settled (its field gone): count it, and once no place
-- is open, take the job out of the cancel set.
local function place_settled(cancels, record, hfield, job_id)
    local open = 0
    if redis.call('HDEL', record, hfield) == 1 then
        open = redis.call('HINCRBY', record, 'open', -1)
    elseif redis.call('EXISTS', record) == 1 then
        open = tonumber(redis.call('HGET', record, 'open') or '0')
    end
    if open <= 0 then cancels_remove(cancels, job_id) end
end

-- Settle a held place of a cancelled job: ack the entry (this consumer's), drop
-- its started record, release a unique job's key, record the outcome.
-- 1, or 0 (not owned).
local function settle_cancelled(stream, cancels, record, group, consumer, id, job_id, outcome)
    if pending_owner(stream, group, id) ~= consumer then return 0 end
    release_unique(stream, entry_fields(stream, id), job_id)
    redis.call('XACK', stream, group, id)
    redis.call('DEL', run_key(stream, group, id))
    if redis.call('EXISTS', record) == 1 then redis.call('HSET', record, 'outcome', outcome) end
    place_settled(cancels, record, held_field(group, id, stream), job_id)
    return 1
end

--[[ sluice_begin: a worker's check before it starts a job, made while the
cancel set of the job's queue is not empty (the hot path never calls it
otherwise). Atomic with sluice_cancel: a job cancelled before it is skipped
here (settled as cancelled, outcome "skipped"); one that passes gets a started
record, so a cancel after it knows the job runs.
KEYS[1] stream the entry is pending in, KEYS[2] sluice:{Q}:cancels, KEYS[3]
sluice:{Q}:cancelled:ID
ARGV[1] group, ARGV[2] consumer, ARGV[3] stream id, ARGV[4] job id ID,
ARGV[5] TTL ms of the started record (the job's hard timeout and lease)
Returns 0: run it; 1: cancelled, acked here: do not run it; -1: cancelled,
and the entry is not this consumer's any more: do not run it either. ]]
redis.register_function('sluice_begin', function(keys, args)
    local stream, cancels, record = keys[1], keys[2], keys[3]
    local group, consumer, id, job_id = args[1], args[2], args[3], args[4]
    if redis.call('ZSCORE', cancels, job_id) then
        return settle_cancelled(stream, cancels, record, group, consumer, id, job_id, 'skipped') == 1 and 1 or -1
    end
    redis.call('SET', run_key(stream, group, id), '1', 'PX', tonumber(args[5]))
    return 0
end)

--[[ sluice_cancel_settle: a cancelled job that ran is settled as cancelled,
never retried: by its worker when the handler returned after it was told to
stop (outcome "stopped"), or by the supervisor that killed the worker after
jobs.cancel_grace (outcome "killed").
KEYS[1] stream the entry is pending in, KEYS[2] sluice:{Q}:cancels, KEYS[3]
sluice:{Q}:cancelled:ID
ARGV[1] group, ARGV[2] consumer, ARGV[3] stream id, ARGV[4] job id ID,
ARGV[5] outcome. Returns 1, or 0 when refused (not this consumer's). ]]
redis.register_function('sluice_cancel_settle', function(keys, args)
    return settle_cancelled(keys[1], keys[2], keys[3], args[1], args[2], args[3], args[4], args[5] or 'stopped')
end)

--[[ sluice_cancel_sweep: forget held places of cancelled jobs that were
settled some other way (a job delivered before its cancel that completed before
its supervisor could stop it; an entry trimmed, a group deleted), so the cancel
set empties and workers stop checking (sluice_begin). Supervisors call it every
few seconds per queue while the set is not empty.
KEYS[1] sluice:{Q}:cancels; ARGV[1] most members looked at.
Returns how many jobs left the set. ]]
redis.register_function('sluice_cancel_sweep', function(keys, args)
    local cancels, prefix = keys[1], (tag_of(keys[1]) or '') .. ':cancelled:'
    local done = 0
    for _, job_id in ipairs(redis.call('ZRANGE', cancels, 0, (tonumber(args[1]) or 100) - 1)) do
        local record = prefix .. job_id
        for _, f in ipairs(redis.call('HKEYS', record)) do
            local group, sid, stream = string.match(f, '^h:(%S+) (%S+) (.+)$')
            if group then
                local ms, seq = id_parts(sid)
                local ok, last = pcall(groups_last, stream)
                if not (ok and last[group] and ms and still_held(stream, group, last[group], sid, ms, seq)) then
                    place_settled(cancels, record, f, job_id)
                end
            end
        end
        if redis.call('EXISTS', record) == 0 then cancels_remove(cancels, job_id) end
        if not redis.call('ZSCORE', cancels, job_id) then done = done + 1 end
    end
    return done
end)

--[[ sluice_dlq_replay: send dead letters back to the group that failed them
(sluice dlq replay), each one atomically: XADD to the group's retry stream, then
XDEL from the DLQ, so an entry is never both replayed and kept, nor lost. The
copy is the original job: the DLQ bookkeeping fields (reason, error, attempts,
deliveries, original_id, original_stream, group, consumer, failed_at,
last_error, payload_truncated) and attempt are dropped, so the attempt budget starts afresh; the
job id is kept (id, else original_id). Only this group reads its retry stream,
so other groups of the queue see nothing new.
KEYS[1] dlq, KEYS[2] retry stream of the same group; ARGV dlq entry ids.
Returns one element per id: the new retry stream id, or false (nil) when the
id is not in the DLQ (already replayed or purged). ]]
local DLQ_FIELDS = {reason = true, error = true, attempts = true, deliveries = true, original_id = true,
    original_stream = true, group = true, consumer = true, failed_at = true, last_error = true, attempt = true,
    payload_truncated = true}

redis.register_function('sluice_dlq_replay', function(keys, args)
    local dlq, rstream = keys[1], keys[2]
    local out = {}
    for i = 1, #args do
        local r = redis.call('XRANGE', dlq, args[i], args[i])
        if #r == 0 then
            out[i] = false
        else
            local fields = r[1][2]
            local copy = without(fields, DLQ_FIELDS)
            if field(copy, 'id') == nil then
                local orig = field(fields, 'original_id')
                if orig ~= nil and orig ~= '' then
                    copy[#copy + 1] = 'id'; copy[#copy + 1] = orig
                end
            end
            if #copy == 0 then copy = {'id', args[i]} end
            out[i] = redis.call('XADD', rstream, '*', unpack(copy))
            redis.call('XDEL', dlq, args[i])
        end
    end
    return out
end)

--[[ sluice_trim: retention of a stream (run by the supervisor every
retention.interval). Never removes an entry that some consumer group of the
stream has not both received and acknowledged:
  floor = the smallest, over every group (XINFO GROUPS), of its oldest pending
          id (XPENDING summary) and the successor of its last-delivered id (the
          first entry it has not received yet);
  policy = entries older than max age ("<now - max_age>-0", Redis time), and
          the oldest entries beyond max length; whichever removes more;
  trim point = the policy's point, lowered to the floor; XTRIM MINID, exact
          (not ~: ~ could only keep more, but exact makes "what was removed"
          precise; an exact MINID costs the same as the entries removed).
The entries to remove are counted with XRANGE below the floor, at most `limit`
per call (a call that returns `limit` should be repeated), so the work of one
call is bounded by what it removes, never by max length or the stream's size.
No group at all: the policy alone applies.
KEYS[1] stream
ARGV[1] max age ms (0 = none), ARGV[2] max length (0 = none),
ARGV[3] limit (entries removed at most, default 10000),
ARGV[4] "acked" (optional): no policy, remove everything every group has
received and acknowledged (retry streams, whose entries are copies); nothing
when the stream has no group.
Returns {entries removed, trim point ("0-0": none), floor ("" when no group)}.
Runs when Redis is out of memory (flag allow-oom).
  FCALL sluice_trim 1 sluice:{q} 604800000 1000000 ]]
-- The parts of an id Redis returned (see id_parts); a malformed one is an error.
local function trim_parts(id)
    local ms, seq = id_parts(id)
    if not ms then error('ERR sluice_trim: bad stream id ' .. tostring(id)) end
    return ms, seq
end

-- The lowest id some group still needs (see sluice_trim), nil when no group
-- bounds it (no groups, or every group read up to the largest possible id);
-- and the number of groups.
local function trim_floor(stream)
    local floor, fms, fseq = nil, nil, nil
    local function lower(id)
        if not id then return end
        local ms, seq = trim_parts(id)
        if floor == nil or id_less(ms, seq, fms, fseq) then floor, fms, fseq = id, ms, seq end
    end
    local groups = redis.call('XINFO', 'GROUPS', stream)
    for _, g in ipairs(groups) do
        local info = {}
        for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
        if tonumber(info['pending']) > 0 then
            lower(redis.call('XPENDING', stream, info['name'])[2])
        end
        lower(id_succ(trim_parts(info['last-delivered-id'])))
    end
    return floor, #groups
end

-- allow-oom: trimming is how memory comes back, so it must run when Redis is
-- out of memory (noeviction refuses every other sluice function then); it only
-- reads and removes.
redis.register_function{function_name = 'sluice_trim', flags = {'allow-oom'}, callback = function(keys, args)
    local stream = keys[1]
    local max_age, max_len = tonumber(args[1]), tonumber(args[2])
    local limit = tonumber(args[3] or '')
    local acked = args[4] == 'acked'
    if max_age == nil or max_age < 0 or max_len == nil or max_len < 0 then
        return redis.error_reply('ERR sluice_trim: max age and max length must be non-negative integers')
    end
    if args[4] ~= nil and not acked then
        return redis.error_reply('ERR sluice_trim: the 4th argument must be "acked"')
    end
    if limit == nil or limit <= 0 then limit = 10000 end
    if redis.call('TYPE', stream)['ok'] ~= 'stream' then return {0, '0-0', ''} end
    local floor, groups = trim_floor(stream)
    local upper = floor and ('(' .. floor) or '+'
    -- The longest prefix of the stream below the floor the policy removes.
    local last, n = nil, 0
    local function take(r)
        if #r > n then n, last = #r, r[#r][1] end
    end
    if acked then
        if groups > 0 then take(redis.call('XRANGE', stream, '-', upper, 'COUNT', limit)) end
    else
        if max_age > 0 then
            local cutoff = now_ms() - max_age
            if cutoff > 0 then
                local cms = string.format('%.0f', cutoff)
                local c = cms .. '-0'
                local to = (floor == nil or id_less(cms, '0', trim_parts(floor))) and ('(' .. c) or upper
                take(redis.call('XRANGE', stream, '-', to, 'COUNT', limit))
            end
        end
        if max_len > 0 then
            local excess = redis.call('XLEN', stream) - max_len
            if excess > n then
                take(redis.call('XRANGE', stream, '-', upper, 'COUNT', math.min(excess, limit)))
            end
        end
    end
    if n == 0 then return {0, '0-0', floor or ''} end
    local point = id_succ(trim_parts(last))
    if point == nil then   -- last is the largest possible id: everything goes
        return {redis.call('XTRIM', stream, 'MAXLEN', 0), MAX_U64 .. '-' .. MAX_U64, floor or ''}
    end
    return {redis.call('XTRIM', stream, 'MINID', point), point, floor or ''}
end}

-- sluice_schema_put(KEYS: registry hash sluice:{:schemas}, its version
-- sluice:{:schemas}:version; ARGV: type, had ("1": the caller compared with a
-- stored schema, "0": with none), the schema it compared with, the new
-- schema) -> 1 stored (HSET + INCR version), 0 the stored schema is no longer
-- the one compared with (someone registered in between: read and compare
-- again). The schema registry's check-and-set (common/registry.c): the
-- compatibility check is the caller's (the JSON Schema comparison is C), the
-- swap is this one call on the registry's slot, so it needs no WATCH/MULTI
-- connection state and works the same through a Redis Cluster.
redis.register_function('sluice_schema_put', function(keys, args)
    local cur = redis.call('HGET', keys[1], args[1])
    if args[2] == '1' then
        if cur ~= args[3] then return 0 end
    elseif cur then
        return 0
    end
    redis.call('HSET', keys[1], args[1], args[4])
    redis.call('INCR', keys[2])
    return 1
end)

--[[ Schedules (docs/scheduling.md). A schedule NAME of queue partition P has
  sluice:{P}:cron:NAME         hash: paused, last_tick, last_job, enqueued
  sluice:{P}:cron:NAME:ticks   zset of the ticks handled (member and score:
                               tick ms), the latest CRON_TICKS_KEPT
and every supervisor running it calls sluice_cron_fire for each tick. The
zset makes each tick enqueue at most once however many supervisors call, in
whatever order; its maximum is the last tick handled, from which a starting
supervisor counts the missed ones (sluice_cron_last). ]]
local CRON_TICKS_KEPT = 1000

--[[ sluice_cron_fire: enqueue the job of one tick of a schedule, once.
KEYS[1] stream, KEYS[2] sched, KEYS[3] sluice:{P}:cron:NAME, KEYS[4] its :ticks
ARGV[1] tick (epoch ms), ARGV[2] due (epoch ms: the tick plus its jitter),
ARGV[3] "tick" | "trigger", then the job's field/value pairs (with id).
"trigger" (sluice schedules trigger) enqueues now, paused or not, and records
no tick. Returns {outcome, server time ms}, outcome one of
  "enqueued"   the job is in the stream (or in sched until due)
  "duplicate"  another call handled this tick already (or it is older than
               every tick kept)
  "paused"     the schedule is paused: the tick is recorded, nothing enqueued
  "early"      the tick is later than the server's clock: nothing done ]]
redis.register_function('sluice_cron_fire', function(keys, args)
    local stream, sched, state, ticks = keys[1], keys[2], keys[3], keys[4]
    local tick, due, mode = args[1] or '', args[2] or '', args[3] or ''
    if not string.match(tick, '^%d+$') or not string.match(due, '^%d+$') or #tick > 15 or #due > 15 then
        return redis.error_reply('ERR sluice_cron_fire: tick and due must be epoch milliseconds')
    end
    if mode ~= 'tick' and mode ~= 'trigger' then
        return redis.error_reply('ERR sluice_cron_fire: mode must be "tick" or "trigger"')
    end
    local fields = {}
    for i = 4, #args do fields[#fields + 1] = args[i] end
    local bad = check_put('sluice_cron_fire', 'at', due, fields)
    if bad then return bad end
    local now = now_ms()
    if mode == 'tick' then
        local t = tonumber(tick)
        if t > now then return {'early', now} end
        if redis.call('ZSCORE', ticks, tick) then return {'duplicate', now} end
        if redis.call('ZCARD', ticks) >= CRON_TICKS_KEPT then
            local oldest = redis.call('ZRANGE', ticks, 0, 0, 'WITHSCORES')
            if oldest[2] and t < tonumber(oldest[2]) then return {'duplicate', now} end
        end
        redis.call('ZADD', ticks, t, tick)
        redis.call('ZREMRANGEBYRANK', ticks, 0, -(CRON_TICKS_KEPT + 1))
        local last = redis.call('HGET', state, 'last_tick')
        if not last or t > tonumber(last) then redis.call('HSET', state, 'last_tick', tick) end
        if redis.call('HEXISTS', state, 'paused') == 1 then return {'paused', now} end
    end
    local d = tonumber(due)
    put(stream, sched, d > now and 'at' or '', due, fields)
    redis.call('HSET', state, 'last_job', field(fields, 'id'), 'last_enqueued_at', now)
    redis.call('HINCRBY', state, 'enqueued', 1)
    return {'enqueued', now}
end)

--[[ sluice_cron_last: where a schedule stands, for a supervisor that starts
(and counts the ticks it missed) and for sluice schedules list.
KEYS[1] sluice:{P}:cron:NAME, KEYS[2] its :ticks. Returns {last tick handled
or -1, server time ms, 1 if paused else 0}. ]]
redis.register_function{function_name = 'sluice_cron_last', flags = {'no-writes'}, callback = function(keys, args)
    local last = redis.call('ZRANGE', keys[2], -1, -1, 'WITHSCORES')
    return {last[2] and tonumber(last[2]) or -1, now_ms(), redis.call('HEXISTS', keys[1], 'paused')}
end}

--[[ sluice_cron_define: publish a schedule's definition for the CLI
(sluice schedules list|next|trigger), with when a supervisor last did.
KEYS[1] sluice:{:cron} (hash: name -> definition JSON), KEYS[2]
sluice:{:cron}:seen (hash: name -> server time ms). ARGV: name, JSON, then
more name, JSON pairs. Returns the server time ms. ]]
redis.register_function('sluice_cron_define', function(keys, args)
    local now = now_ms()
    for i = 1, #args - 1, 2 do
        redis.call('HSET', keys[1], args[i], args[i + 1])
        redis.call('HSET', keys[2], args[i], now)
    end
    return now
end)

--[[ Limits (docs/limits.md). A limit NAME has one bucket per value V of its
key field (V is "" without a key): sluice:{:limit:NAME:V}, its own hash tag,
so buckets spread over a cluster's masters and each call is one slot. A
worker asks before it runs a job of a limited type; a job refused waits in the
queue's schedule, with no attempt spent (sluice_settle "defer"). ]]

--[[ sluice_limit_rate: GCRA (the generic cell rate algorithm: a token bucket
kept as one timestamp) on Redis server time.
KEYS[1] the bucket (a string: the theoretical arrival time, ms)
ARGV[1] emission interval ms (per / rate), ARGV[2] burst (jobs at once)
Returns 0 when the job may start now, else the ms until its turn. Either way
the bucket is charged: a refused job has reserved that turn (the caller defers
it to then and does not ask again), so waiting jobs come back spread at the
limit's rate instead of all at once. ]]
redis.register_function('sluice_limit_rate', function(keys, args)
    local t, burst = tonumber(args[1]), tonumber(args[2])
    if not t or t < 1 or not burst or burst < 1 then
        return redis.error_reply('ERR sluice_limit_rate: interval and burst must be positive')
    end
    local now = now_ms()
    local tat = tonumber(redis.call('GET', keys[1]) or '0') or 0
    if tat < now then tat = now end
    local new = tat + t
    local start = new - t * burst -- its turn: when now >= new - burst*t
    redis.call('SET', keys[1], new, 'PX', math.max(new - now, 1))
    if start > now then return start - now end
    return 0
end)

--[[ sluice_limit_acquire: take one of a bucket's concurrency slots.
KEYS[1] the bucket (a zset: member = holder, score = when its hold lapses)
ARGV[1] slots, ARGV[2] holder, ARGV[3] hold ms (jobs.lease: the supervisor
extends it while the job runs, so a killed worker's slot lapses within it)
Returns {1, 0} when taken (or already held by this holder), else {0, ms until
the first hold lapses}. Lapsed holds are dropped first. ]]
redis.register_function('sluice_limit_acquire', function(keys, args)
    local slots, holder, hold = tonumber(args[1]), args[2], tonumber(args[3])
    if not slots or slots < 1 or not holder or holder == '' or not hold or hold < 1 then
        return redis.error_reply('ERR sluice_limit_acquire: expected slots, holder and hold ms')
    end
    local now = now_ms()
    redis.call('ZREMRANGEBYSCORE', keys[1], '-inf', now)
    if redis.call('ZSCORE', keys[1], holder) or redis.call('ZCARD', keys[1]) < slots then
        redis.call('ZADD', keys[1], now + hold, holder)
        redis.call('PEXPIRE', keys[1], hold * 2)
        return {1, 0}
    end
    local first = redis.call('ZRANGE', keys[1], 0, 0, 'WITHSCORES')
    return {0, math.max(tonumber(first[2]) - now, 1)}
end)

--[[ sluice_limit_release: give a slot back. KEYS[1] bucket, ARGV[1] holder.
Returns 1 if it was held. ]]
redis.register_function{function_name = 'sluice_limit_release', flags = {'allow-oom'}, callback = function(keys, args)
    return redis.call('ZREM', keys[1], args[1])
end}

--[[ sluice_limit_extend: keep a running job's slot (the supervisor, with the
lease extension). KEYS[1] bucket, ARGV[1] holder, ARGV[2] hold ms. Returns 1
if it was still held (a lapsed hold is not revived). ]]
redis.register_function{function_name = 'sluice_limit_extend', flags = {'allow-oom'}, callback = function(keys, args)
    local hold = tonumber(args[2])
    if not hold or hold < 1 then return redis.error_reply('ERR sluice_limit_extend: hold ms must be positive') end
    local now = now_ms()
    local score = redis.call('ZSCORE', keys[1], args[1])
    if not score or tonumber(score) <= now then return 0 end
    redis.call('ZADD', keys[1], 'XX', now + hold, args[1])
    redis.call('PEXPIRE', keys[1], hold * 2)
    return 1
end}
