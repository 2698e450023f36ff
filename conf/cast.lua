#!lua name=cast
--
-- CAST Redis function library: tickets, votes, the outbox, restore.
-- Key layout, replies and the event format: docs/redis.md.
--

local K_TICKET  = '{cast}:ticket'
local K_PREV    = '{cast}:ticket:prev'
local K_NEXT    = '{cast}:ticket:next'
local K_LEASE   = '{cast}:lease'
local K_COUNT   = '{cast}:count'
local K_VERSION = '{cast}:version'
local K_OUTBOX  = '{cast}:outbox'
local K_READY   = '{cast}:ready'
local K_IDEM    = '{cast}:idem:'

local IDEM_TTL_MS = 600000
local MAX_NAMES   = 1000
local MAX_ADD     = 1000000

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function not_ready()
    return redis.call('EXISTS', K_READY) == 0
end

local function unavailable(why)
    return redis.error_reply('UNAVAILABLE ' .. why)
end


-- the minter's lease: acquire when free, renew when ours

local function lease(_, args)
    local owner, ttl = args[1], tonumber(args[2])
    local holder = redis.call('GET', K_LEASE)

    if holder == owner then
        redis.call('PEXPIRE', K_LEASE, ttl)
        return 1
    end

    if holder then
        return 0
    end

    redis.call('SET', K_LEASE, owner, 'PX', ttl)
    return 1
end

local function release(_, args)
    if redis.call('GET', K_LEASE) == args[1] then
        redis.call('DEL', K_LEASE)
        return 1
    end
    return 0
end

-- The ticket valid now: the current one, or the next one, minted ahead,
-- once its period has begun.  Read-only callers look; writers promote.
local function effective(now)
    local start = redis.call('HGET', K_NEXT, 'issued')

    if start and now >= tonumber(start) then
        return K_NEXT
    end
    return K_TICKET
end

local function seq_of(key)
    return tonumber(redis.call('HGET', key, 'seq') or -1)
end

-- sequences only grow: a next ticket not above the current one is dropped
local function promote(now)
    if effective(now) ~= K_NEXT then
        return
    end

    if seq_of(K_NEXT) <= seq_of(K_TICKET) then
        redis.call('DEL', K_NEXT)
        return
    end

    if redis.call('EXISTS', K_TICKET) == 1 then
        redis.call('RENAME', K_TICKET, K_PREV)
    end
    redis.call('RENAME', K_NEXT, K_TICKET)
end

-- A ticket whose period has begun becomes the current one; one minted
-- ahead waits in {cast}:ticket:next, so rotation leaves no gap.
local function mint(_, args)
    local owner, seq, issued = args[1], tonumber(args[2]), tonumber(args[4])
    local now = now_ms()

    if redis.call('GET', K_LEASE) ~= owner then
        return 0
    end

    promote(now)

    -- minted ahead and now in place: the minter's call for its period
    -- finds it; marked once, so a second minter is refused as usual
    local cur = seq_of(K_TICKET)
    if seq == cur and redis.call('HDEL', K_TICKET, 'ahead') == 1 then
        return 1
    end

    if seq <= cur then
        return 0
    end

    local key = K_NEXT

    if issued <= now then
        key = K_TICKET
        if redis.call('EXISTS', K_TICKET) == 1 then
            redis.call('RENAME', K_TICKET, K_PREV)
        end
        if seq_of(K_NEXT) <= seq then
            redis.call('DEL', K_NEXT)
        end

    elseif seq <= seq_of(K_NEXT) then
        return 0
    end

    redis.call('HSET', key, 'id', args[3], 'seq', args[2],
               'issued', args[4], 'expires', args[5], 'max', args[6],
               'used', 0, 'grace', args[7])
    if key == K_NEXT then
        redis.call('HSET', key, 'ahead', 1)
    end
    return 1
end


-- votes

-- The ticket a vote may consume: the current one while it lasts, the
-- previous one inside the grace window.  Returns its key, seq, max and
-- used, or nil and the rejection.
local function usable_ticket(ticket, seq_hint, now)
    local cur = redis.call('HMGET', K_TICKET, 'id', 'expires', 'seq', 'max',
                           'used', 'grace')

    if cur[1] == ticket then
        if now < tonumber(cur[2]) then
            return K_TICKET, cur[3], tonumber(cur[4]), tonumber(cur[5])
        end
        return nil, 'EXPIRED'
    end

    local prev = redis.call('HMGET', K_PREV, 'id', 'expires', 'seq', 'max',
                            'used')
    if prev[1] == ticket then
        if now < tonumber(prev[2]) + tonumber(cur[6] or 0) then
            return K_PREV, prev[3], tonumber(prev[4]), tonumber(prev[5])
        end
        return nil, 'EXPIRED'
    end

    if cur[3] and seq_hint > 0 and seq_hint < tonumber(cur[3]) then
        return nil, 'EXPIRED'
    end

    return nil, 'INVALID'
end

local REJECT = {
    INVALID   = 'Invalid ticket',
    EXPIRED   = 'Ticket expired',
    EXHAUSTED = 'Ticket usage limit exceeded',
}

-- Duplicate names are merged, counts summed, in order of first appearance.
local function merge(args, first, n)
    local names, adds, at = {}, {}, {}

    for i = 0, n - 1 do
        local name = args[first + 2 * i]
        local add = tonumber(args[first + 2 * i + 1])

        if not name or name == '' or not add or add < 1 or add > MAX_ADD
           or add ~= math.floor(add)
        then
            return nil
        end

        local j = at[name]
        if j then
            adds[j] = adds[j] + add
        else
            names[#names + 1] = name
            adds[#names] = add
            at[name] = #names
        end
    end

    return names, adds
end

local function vote(_, args)
    local ticket, voter, idem = args[1], args[2], args[3]
    local seq_hint, n = tonumber(args[4]) or 0, tonumber(args[5])

    if not_ready() then
        return unavailable('counts not restored')
    end

    if not n or n < 1 or n > MAX_NAMES or #args ~= 5 + 2 * n then
        return redis.error_reply('ERR cast_vote: bad arguments')
    end

    local names, adds = merge(args, 6, n)
    if not names then
        return redis.error_reply('ERR cast_vote: bad name or count')
    end

    if idem ~= '' then
        local done = redis.call('GET', K_IDEM .. idem)
        if done then
            return cjson.decode(done)
        end
    end

    local now = now_ms()
    promote(now)

    local key, seq, max, used = usable_ticket(ticket, seq_hint, now)
    if not key then
        return {seq, REJECT[seq], ''}
    end

    if used >= max then
        return {'EXHAUSTED', REJECT.EXHAUSTED, ''}
    end

    local use = redis.call('HINCRBY', key, 'used', 1)
    local id = seq .. '-' .. use
    local reply = {'OK', 'Votes recorded successfully', id}
    local votes = {}

    for i, name in ipairs(names) do
        local total = redis.call('HINCRBY', K_COUNT, name, adds[i])
        local ver = redis.call('HINCRBY', K_VERSION, name, 1)

        reply[#reply + 1] = name
        reply[#reply + 1] = total
        votes[i] = {u = name, n = adds[i], c = total, ver = ver}
    end

    local event = cjson.encode({
        v = 1, id = id, ts = now, ticket = tonumber(seq),
        voter = (voter ~= '' and voter) or cjson.null, votes = votes,
    })
    redis.call('XADD', K_OUTBOX, '*', 'e', event)

    if idem ~= '' then
        redis.call('SET', K_IDEM .. idem, cjson.encode(reply),
                   'PX', IDEM_TTL_MS)
    end

    return reply
end


-- reads

local function cas()
    local now = now_ms()
    local t = redis.call('HMGET', effective(now), 'id', 'expires', 'max',
                         'used', 'seq')

    if not t[1] or now >= tonumber(t[2]) then
        return unavailable('no current ticket')
    end

    local left = tonumber(t[3]) - tonumber(t[4])
    if left < 0 then
        left = 0
    end

    return {t[1], tonumber(t[2]), left, tonumber(t[5])}
end

local function query(_, args)
    if not_ready() then
        return unavailable('counts not restored')
    end
    return tonumber(redis.call('HGET', K_COUNT, args[1]) or 0)
end

-- {counts ready, a current ticket exists, its seq}: the readiness probe
local function state()
    local now = now_ms()
    local t = redis.call('HMGET', effective(now), 'seq', 'expires')
    local current = t[1] and now < tonumber(t[2])

    return {not_ready() and 0 or 1, current and 1 or 0, tonumber(t[1] or 0)}
end


-- restore from PostgreSQL: a name is written only when its version is
-- newer than what Redis holds

local function restore(_, args)
    local written = 0

    if #args % 3 ~= 0 then
        return redis.error_reply('ERR cast_restore: name count version')
    end

    -- all checked before anything is written: functions do not roll back
    for i = 1, #args, 3 do
        local count, ver = tonumber(args[i + 1]), tonumber(args[i + 2])

        if not count or count < 0 or count ~= math.floor(count)
           or not ver or ver < 0 or ver ~= math.floor(ver)
        then
            return redis.error_reply('ERR cast_restore: bad count or version')
        end
    end

    for i = 1, #args, 3 do
        local name, count, ver = args[i], args[i + 1], tonumber(args[i + 2])
        local have = tonumber(redis.call('HGET', K_VERSION, name) or -1)

        if ver > have then
            redis.call('HSET', K_COUNT, name, count)
            redis.call('HSET', K_VERSION, name, ver)
            written = written + 1
        end
    end

    return written
end

local function ready()
    redis.call('SET', K_READY, '1')
    return 1
end


local RO = {'no-writes'}

redis.register_function('cast_lease', lease)
redis.register_function('cast_release', release)
redis.register_function('cast_mint', mint)
redis.register_function('cast_vote', vote)
redis.register_function{function_name = 'cast_cas', callback = cas,
                        flags = RO}
redis.register_function{function_name = 'cast_query', callback = query,
                        flags = RO}
redis.register_function{function_name = 'cast_state', callback = state,
                        flags = RO}
redis.register_function('cast_restore', restore)
redis.register_function('cast_ready', ready)
