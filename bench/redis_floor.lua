#!lua name=cast
--
-- A FLOOR, NOT THE PRODUCT: bench-only, never loaded by nginx or the
-- daemons.  The least Lua that decides bench/redis_micro.sh's votes (one
-- name, count 1, the current ticket, no idempotency key, no client share)
-- with the same Redis commands' work as lib/redis/cast.lua: the ticket
-- read and checked (id, expiry, uses), the counts and versions read,
-- added to and written, one reply per vote as cast_votes makes it, one
-- outbox entry per call in the same packed format (docs/redis.md), the
-- leaderboard and the total.  It checks nothing else: no readiness, no
-- next or previous ticket, no argument, no limit, no duplicate name in a
-- batch.  What it costs per vote is what any Lua function deciding these
-- votes costs at least (README, "CPU per accepted vote").
--

-- Lua's own functions as upvalues, read on the first call (a library's
-- loading sees only `redis.register_function`; a global read at run time
-- goes through the globals' __index)
local function globals()
    return redis.call, string.format, unpack, table.concat
end

local call, format, unpack, concat

-- falses to make a table at its final size in one step: {unpack(FALSE,
-- 1, n)} (a table grown one element at a time is rehashed at each power
-- of two)
local FALSE = {}
for i = 1, 8000 do
    FALSE[i] = false
end

-- a voter's or a name's length as text, for the bench's short ones
local LEN = {}
for i = 0, 64 do
    LEN[i] = '' .. i
end

local function vote_batch(_, args)
    if not call then
        call, format, unpack, concat = globals()
    end

    local t = call('TIME')
    local now = t[1] * 1000 + (t[2] - t[2] % 1000) / 1000
    local tk = call('HMGET', '{cast}:ticket', 'id', 'expires', 'max', 'used',
                    'seq')
    local id, expires, max, used, seq = tk[1], tk[2] + 0, tk[3] + 0,
                                        tk[4] + 0, tk[5]

    local nargs = #args
    local names, k = {unpack(FALSE, 1, nargs / 9)}, 0

    for i = 8, nargs, 9 do
        k = k + 1
        names[k] = args[i]
    end

    local c = call('HMGET', '{cast}:count', unpack(names, 1, k))
    local v = call('HMGET', '{cast}:version', unpack(names, 1, k))

    local total, ver = {}, {}
    local replies = {unpack(FALSE, 1, k)}
    local cargs = {unpack(FALSE, 1, 2 * k)}
    local vargs = {unpack(FALSE, 1, 2 * k)}
    local zargs = {unpack(FALSE, 1, 2 * k)}
    local e = {format('%d', now), seq, format('%d', used + 1),
               unpack(FALSE, 1, 6 * k)}
    local taken, j, m = 0, 0, 3

    for i = 1, k do
        local a = 9 * i - 8

        if args[a] ~= id or now >= expires then
            replies[i] = {'EXPIRED', 'Ticket expired', ''}
        elseif used >= max then
            replies[i] = {'EXHAUSTED', 'Ticket usage limit exceeded', 0}
        else
            local name = names[i]
            local count = (total[name] or c[i] or 0) + 1
            local n = (ver[name] or v[i] or 0) + 1

            total[name], ver[name] = count, n

            used, taken = used + 1, taken + 1

            local ct, vt = format('%d', count), format('%d', n)

            replies[i] = count

            j = j + 2
            cargs[j - 1], cargs[j] = name, ct
            vargs[j - 1], vargs[j] = name, vt
            zargs[j - 1], zargs[j] = '-' .. ct, name

            local voter = args[a + 1]

            e[m + 1], e[m + 2] = LEN[#voter], voter
            e[m + 3], e[m + 4] = LEN[#name], name
            e[m + 5], e[m + 6] = ct, vt
            m = m + 6
        end
    end

    if taken > 0 then
        call('HSET', '{cast}:count', unpack(cargs, 1, j))
        call('HSET', '{cast}:version', unpack(vargs, 1, j))
        call('ZADD', '{cast}:top', unpack(zargs, 1, j))
        call('INCRBY', '{cast}:total', taken)
        call('HINCRBY', '{cast}:ticket', 'used', taken)
        call('XADD', '{cast}:outbox', '*', 'p', concat(e, '\n', 1, m))
    end

    return replies
end

redis.register_function('cast_votes', vote_batch)
