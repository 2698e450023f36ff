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
local K_SHARE   = '{cast}:share:'
local K_TOP     = '{cast}:top'
local K_TOTAL   = '{cast}:total'
local K_PACKED  = '{cast}:relay:packed'

-- The functions of Lua and Redis that the library calls, as upvalues.  A
-- function library's globals are an empty table whose __index is Lua's
-- globals (Redis 7.0, function_lua.c), so each read of a global such as
-- `tonumber` or `redis` is a missed lookup, the metamethod and a second
-- lookup; an upvalue is one step.  Loading sees none of them (only
-- `redis.register_function`), so the first call sets them (entry()).
local function globals()
    return redis.call, tonumber, unpack, string.format, math.floor,
           math.min, math.max, ipairs, table.concat
end

local call, tonumber, unpack, format, floor, min, max, ipairs, concat

-- the text of the small counts (a vote's adds, its number of names), so
-- that the usual vote formats only its totals
local DIGITS

local function init()
    call, tonumber, unpack, format, floor, min, max, ipairs, concat =
        globals()

    DIGITS = {}
    for i = 0, 1024 do
        DIGITS[i] = format('%d', i)
    end
end

-- f as registered: the upvalues above set by the library's first call
local function entry(f)
    return function(keys, args)
        if not call then
            init()
        end
        return f(keys, args)
    end
end

-- A table of n falses, made at its final size in one step: one filled
-- an element at a time is rehashed at each power of two (the arrays of a
-- batch, read up to a count they keep).  Larger ones grow as usual.
local FALSE = {}

for i = 1, 4000 do
    FALSE[i] = false
end

local function sized(n)
    if n > 4000 then
        return {}
    end
    return {unpack(FALSE, 1, n)}
end

local IDEM_TTL_MS = '600000'
local MAX_NAMES   = 1000
local MAX_ADD     = 1000000
local MAX_SHARE   = 1000000
local MAX_CLIENT  = 32

local function now_ms()
    local t = call('TIME')
    return tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end

local function not_ready()
    return call('EXISTS', K_READY) == 0
end

local function unavailable(why)
    return redis.error_reply('UNAVAILABLE ' .. why)
end


-- the minter's lease: acquire when free, renew when ours

local function lease(_, args)
    local owner, ttl = args[1], tonumber(args[2])
    local holder = call('GET', K_LEASE)

    if holder == owner then
        call('PEXPIRE', K_LEASE, ttl)
        return 1
    end

    if holder then
        return 0
    end

    call('SET', K_LEASE, owner, 'PX', ttl)
    return 1
end

local function release(_, args)
    if call('GET', K_LEASE) == args[1] then
        call('DEL', K_LEASE)
        return 1
    end
    return 0
end

-- The ticket valid now: the current one, or the next one, minted ahead,
-- once its period has begun.  Read-only callers look; writers promote.
local function effective(now)
    local start = call('HGET', K_NEXT, 'issued')

    if start and now >= tonumber(start) then
        return K_NEXT
    end
    return K_TICKET
end

local function seq_of(key)
    return tonumber(call('HGET', key, 'seq') or -1)
end

-- sequences only grow: a next ticket not above the current one is dropped
local function promote(now)
    if effective(now) ~= K_NEXT then
        return
    end

    if seq_of(K_NEXT) <= seq_of(K_TICKET) then
        call('DEL', K_NEXT)
        return
    end

    if call('EXISTS', K_TICKET) == 1 then
        call('RENAME', K_TICKET, K_PREV)
    end
    call('RENAME', K_NEXT, K_TICKET)
end

-- A ticket whose period has begun becomes the current one; one minted
-- ahead waits in {cast}:ticket:next, so rotation leaves no gap.
local function mint(_, args)
    local owner, seq, issued = args[1], tonumber(args[2]), tonumber(args[4])
    local now = now_ms()

    if call('GET', K_LEASE) ~= owner then
        return 0
    end

    promote(now)

    -- minted ahead and now in place: the minter's call for its period
    -- finds it; marked once, so a second minter is refused as usual
    local cur = seq_of(K_TICKET)
    if seq == cur and call('HDEL', K_TICKET, 'ahead') == 1 then
        return 1
    end

    if seq <= cur then
        return 0
    end

    local key = K_NEXT

    if issued <= now then
        key = K_TICKET
        if call('EXISTS', K_TICKET) == 1 then
            call('RENAME', K_TICKET, K_PREV)
        end
        if seq_of(K_NEXT) <= seq then
            call('DEL', K_NEXT)
        end

    elseif seq <= seq_of(K_NEXT) then
        return 0
    end

    call('HSET', key, 'id', args[3], 'seq', args[2],
               'issued', args[4], 'expires', args[5], 'max', args[6],
               'used', 0, 'grace', args[7])
    if key == K_NEXT then
        call('HSET', key, 'ahead', 1)
    end
    return 1
end


-- votes

-- A ticket as a batch uses it: the uses it takes are counted in `taken`
-- and written back once (take_uses).
local function ticket_at(key)
    local t = call('HMGET', key, 'id', 'expires', 'seq', 'max', 'used',
                         'grace', 'issued')

    return {key = key, id = t[1], expires = tonumber(t[2]), seq = t[3],
            max = tonumber(t[4]), used = tonumber(t[5]),
            grace = tonumber(t[6] or 0), issued = tonumber(t[7] or 0),
            taken = 0}
end

-- The tickets a batch may consume, read once: the current one and, when
-- a vote names it, the previous one.
local function tickets()
    return {cur = ticket_at(K_TICKET)}
end

local function prev_ticket(ts)
    ts.prev = ts.prev or ticket_at(K_PREV)
    return ts.prev
end

-- The ticket a vote may consume: the current one while it lasts, the
-- previous one inside the grace window; or nil and the rejection.
local function usable_ticket(ts, ticket, seq_hint, now)
    local cur = ts.cur

    if cur.id == ticket then
        if now < cur.expires then
            return cur
        end
        return nil, 'EXPIRED'
    end

    local prev = prev_ticket(ts)
    if prev.id == ticket then
        if now < prev.expires + cur.grace then
            return prev
        end
        return nil, 'EXPIRED'
    end

    seq_hint = tonumber(seq_hint) or 0
    if cur.seq and seq_hint > 0 and seq_hint < tonumber(cur.seq) then
        return nil, 'EXPIRED'
    end

    return nil, 'INVALID'
end

-- How many ms more a spent ticket is surely refused as EXHAUSTED: its
-- uses never come back, so until it stops being usable.  The current one
-- is until it expires (a rotation then keeps it as the previous one, still
-- usable), the previous one until its grace ends or the current one
-- expires (the next rotation drops it).  nginx refuses the ticket itself
-- for that long (ngx_http_cast_vote.c).
local function exhausted_for(ts, t, now)
    local stop = t.expires

    if t ~= ts.cur then
        stop = t.expires + ts.cur.grace
        if ts.cur.expires and ts.cur.expires < stop then
            stop = ts.cur.expires
        end
    end

    return max(stop - now, 0)
end

-- A client's share of a ticket: {cast}:share:<seq>, client key -> uses
-- it took, read on demand (t.clients) and written back once.  Only an
-- accepted use writes a field, so a ticket's hash holds at most `max`
-- fields.
local function share_used(t, client)
    t.clients = t.clients or {}

    local used = t.clients[client]
    if not used then
        used = tonumber(call('HGET', K_SHARE .. t.seq, client) or 0)
        t.clients[client] = used
    end

    return used
end

local function share_take(t, client)
    local used = share_used(t, client)

    if not t.grew then
        t.grew, t.grown = {}, {}
    end

    if not t.grew[client] then
        t.grew[client] = true
        t.grown[#t.grown + 1] = client
    end

    t.clients[client] = used + 1
end

-- The clients whose uses grew in this batch (t.grew, in order t.grown)
-- are written once.  Their records last as long as a vote may use the
-- ticket: as the previous ticket, until the grace of the one after it
-- ends or that one expires, a period later; the longest of the ticket's
-- period, its grace and the current ticket's grace covers both.
local function take_shares(ts, t)
    if not t.grown then
        return
    end

    local key = K_SHARE .. t.seq
    local period = t.issued > 0 and t.expires - t.issued or 0

    -- in chunks that unpack() can take
    for first = 1, #t.grown, 500 do
        local args = {}

        for i = first, min(first + 499, #t.grown) do
            args[#args + 1] = t.grown[i]
            args[#args + 1] = format('%d', t.clients[t.grown[i]])
        end
        call('HSET', key, unpack(args))
    end

    call('PEXPIREAT', key,
               t.expires + max(period, t.grace, ts.cur.grace))
end

local function take_uses(ts)
    for _, t in ipairs({ts.cur, ts.prev}) do
        if t.taken > 0 then
            call('HINCRBY', t.key, 'used', t.taken)
            take_shares(ts, t)
        end
    end
end

local REJECT = {
    INVALID   = 'Invalid ticket',
    EXPIRED   = 'Ticket expired',
    EXHAUSTED = 'Ticket usage limit exceeded',
    SHARE     = 'Client share of this ticket used up',
}

-- A vote's names and counts, duplicates merged and counts summed in
-- order of first appearance, go into the vote's array part as pairs
-- name, count; their number, or nil when one is bad.
local function merge(v, args, first, n)
    local at, m = n > 1 and {} or nil, 0

    for k = first, first + 2 * n - 2, 2 do
        local name, add = args[k], args[k + 1]

        -- the usual count first: tonumber() is a call
        if add == '1' then
            add = 1
        else
            add = tonumber(add)
        end

        if not name or name == '' or not add or add < 1 or add > MAX_ADD
           or add % 1 ~= 0
        then
            return nil
        end

        local j = at and at[name]
        if j then
            v[j + 1] = v[j + 1] + add
        else
            v[m + 1], v[m + 2] = name, add
            if at then
                at[name] = m + 1
            end
            m = m + 2
        end
    end

    return m / 2
end

-- Counts and versions are exact integers up to 2^53 - 1 (Lua numbers).
local COUNT_MAX = 9007199254740991
local CHUNK     = 1000

-- Arguments of one outbox XADD at most: unpack() takes about 8000, and a
-- vote of MAX_NAMES names needs 4 + 4 * MAX_NAMES.
local ENTRY_ARGS = 6000

-- HMGET of many fields, in chunks that unpack() can take
local function hmget(key, fields)
    local out = {}

    for first = 1, #fields, CHUNK do
        local got = call('HMGET', key,
                               unpack(fields, first,
                                      min(first + CHUNK - 1, #fields)))
        for i = 1, #got do
            out[first + i - 1] = tonumber(got[i] or 0)
        end
    end

    return out
end

-- `cmd` key and the m pairs in args, in chunks that unpack() can take
-- (HSET, ZADD)
local function put(cmd, key, args, m)
    for first = 1, 2 * m, 2 * CHUNK do
        call(cmd, key, unpack(args, first, min(first + 2 * CHUNK - 1, 2 * m)))
    end
end

-- A vote's client share: 0 for none, else 1..MAX_SHARE uses of a ticket
-- for a client key of 1..MAX_CLIENT bytes; nil when bad.
local function client_share(client, share)
    if share == '0' and #client <= MAX_CLIENT then
        return 0
    end

    share = tonumber(share)

    if not share or share < 0 or share > MAX_SHARE
       or share ~= floor(share) or #client > MAX_CLIENT
       or (share > 0 and client == '')
    then
        return nil
    end

    return share
end

-- The votes of a batch, each "ticket voter idem seq client share n name1
-- add1 ... nameN addN", and their number of names; nil when the
-- arguments do not split into votes.
-- A vote is a table: `at`, where its arguments start (args[at] its
-- ticket, args[at + 1] voter, + 2 idem, + 3 seq, + 4 client), its
-- `share`, `n` names merged and their pairs name, count (merge()); a
-- vote with a bad name, count or client share has no `n`.  Made with
-- every field it gets (preload(): `t`, `why`) and, for one name, its
-- pair, so that it is never resized (a rehash costs more than a field).
local function parse(args)
    local votes, i, k, nargs, names = {}, 1, 0, #args, 0

    while i <= nargs do
        local n = args[i + 6]

        if n == '1' then
            n = 1
        else
            n = tonumber(n)
        end

        if not n or n < 1 or n > MAX_NAMES or n % 1 ~= 0
           or i + 6 + 2 * n > nargs
        then
            return nil
        end

        -- the usual vote without a share first: client_share() is a call
        local client, share = args[i + 4], args[i + 5]

        if share == '0' and #client <= MAX_CLIENT then
            share = 0
        else
            share = client_share(client, share)
        end

        local v, name = nil, args[i + 7]

        -- the usual vote, one name counted once, first: merge() is a call
        if n == 1 and share and args[i + 8] == '1' and name ~= '' then
            v = {name, 1, at = i, share = share, n = 1, t = false,
                 why = false}
        else
            v = {false, false, at = i, share = share, n = false, t = false,
                 why = false}

            if share then
                v.n = merge(v, args, i + 7, n) or false
            end
        end

        k = k + 1
        votes[k] = v
        i = i + 7 + 2 * n
        names = names + n
    end

    return votes, names
end

-- The counts and versions a batch keeps running, read on demand and
-- written back once: the `m` touched names, in order, are the pairs name,
-- text of `cargs` (counts) and `vargs` (versions), the text as written,
-- %d, by the last event that touched each, and the pairs score, name of
-- `zargs`, the leaderboard's; `at`: where a touched name's pair starts.
-- They are HSET's and ZADD's arguments as they stand, sized for the
-- batch's `names`.
-- The leaderboard is a sorted set scored by minus the count, so that its
-- order (ZRANGE) is votes descending, ties by username ascending.  Kept
-- in the step that writes the counts, so it never differs from them.
local function counts(names)
    return {total = {}, ver = {}, at = {}, m = 0, cargs = sized(2 * names),
            vargs = sized(2 * names), zargs = sized(2 * names), added = 0}
end

-- Reads the counts and versions of missing[1..m], names not read yet,
-- each marked with a count of false till then, in chunks that unpack()
-- can take.
local function load(st, missing, m)
    local total, ver = st.total, st.ver

    for first = 1, m, CHUNK do
        local last = min(first + CHUNK - 1, m)
        local c = call('HMGET', K_COUNT, unpack(missing, first, last))
        local n = call('HMGET', K_VERSION, unpack(missing, first, last))

        for i = first, last do
            local name, j = missing[i], i - first + 1

            total[name], ver[name] = (c[j] or 0) + 0, (n[j] or 0) + 0
        end
    end
end

-- Adds to missing[1..m] the names of vote v not read yet, marking each
-- with a count of false; returns the new m.
local function add_missing(total, v, missing, m)
    for j = 1, 2 * v.n, 2 do
        local name = v[j]

        if total[name] == nil then
            total[name] = false
            m = m + 1
            missing[m] = name
        end
    end

    return m
end

-- The names of the votes that may be accepted: a ticket that is usable
-- and has a use left for them, in order.  They are read in one go; a
-- refused vote reads no count, so a spent, expired or forged ticket costs
-- Redis the same whatever the number of names.  (A vote found out later
-- to pass COUNT_MAX leaves its use to a later vote, whose names decide()
-- then reads.)  Each vote keeps its ticket (`t`) or why it has none
-- (`why`) for decide().
local function preload(st, ts, args, votes, names, now)
    local left, missing, m, total = {}, sized(names), 0, st.total
    local cur = ts.cur
    local id = cur.id
    local usable = id and cur.expires and now < cur.expires

    for k = 1, #votes do
        local v = votes[k]

        if v.n then
            local at, t, why = v.at, cur, nil

            -- the usual ticket first: usable_ticket() is a call
            if not usable or args[at] ~= id then
                t, why = usable_ticket(ts, args[at], args[at + 3], now)
            end

            if t then
                v.t = t

                local l = left[t] or t.max - t.used

                if l > 0 then
                    m = add_missing(total, v, missing, m)
                    l = l - 1
                end
                left[t] = l
            else
                v.why = why
            end
        end
    end

    load(st, missing, m)
end

-- Reads the names of a vote that preload() did not.
local function load_vote(st, v)
    local missing = {}

    load(st, missing, add_missing(st.total, v, missing, 0))
end

-- whether a vote keeps every count and version it touches exact (its
-- names read first when preload() did not)
local function fits(st, v)
    local total, ver = st.total, st.ver

    for j = 1, 2 * v.n, 2 do
        local c = total[v[j]]

        if not c then
            load_vote(st, v)
            return fits(st, v)
        end

        if c > COUNT_MAX - v[j + 1] or ver[v[j]] >= COUNT_MAX then
            return false
        end
    end
    return true
end

-- The outbox entries of a batch (docs/redis.md, "Outbox entry"): one
-- stream entry holds the events of many votes as plain strings, and the
-- relay formats each event's JSON.  Lua formats no JSON: at 10 votes a
-- call that was a third of Redis's instructions per vote.  `size`: the
-- strings of an entry holding every vote of the batch; `last`: the entry
-- votes go into; `packed`: whether the relay reads packed entries.
local function outbox(votes, names, packed)
    return {size = min(3 + 6 * votes + 4 * names, ENTRY_ARGS), last = false,
            packed = packed}
end

-- The batch entry ("b") that follows the batch's last one in `ob`.
local function new_entry(ob, now)
    local e = sized(ob.size)

    e[1], e[2], e.m = 'b', format('%d', now), 2
    ob[#ob + 1] = e
    ob.last = e

    return e
end

-- The packed entry ("p") that follows the batch's last one in `ob`: the
-- votes of one name counted once of ticket `seq`, its uses from `first`
-- on, one after the other, each as six strings (its voter's length and
-- its voter, its name's length and its name, the total, the version),
-- joined with its head into one value as it is written (write()).  XADD
-- takes two arguments, where a batch entry takes eight a vote: Redis
-- converts, stores and writes to its AOF each argument, half of its work
-- per vote at 11 votes a call.
local function new_packed(ob, now, seq, first)
    local e = sized(ob.size)

    e[1], e[2], e[3], e.m = format('%d', now), seq, format('%d', first), 3
    e.seq, e.next = seq, first
    ob[#ob + 1] = e
    ob.last = e

    return e
end

-- Adds an accepted vote `v`, its ticket `t`'s use `use`, to the running
-- counts and to the outbox entries `ob`: its event goes into the batch's
-- last entry when of its kind (packed: a vote of one name counted once,
-- the next use of that entry's ticket), or a new one, also when the last
-- would pass ENTRY_ARGS.
-- Its reply, which it returns, lists the totals as they stand right
-- after it, and so does its event; with `short` (cast_votes, a vote
-- without an idempotency key), a vote of one name counted once replies
-- that name's total alone.  Numbers are written with %d.
local function count(st, ob, now, t, use, voter, v, short)
    local e, n, seq = ob.last, v.n, t.seq
    local usual = n == 1 and v[2] == 1
    local packed = ob.packed and usual

    if packed then
        if not (e and e.next == use and e.seq == seq
                and e.m + 6 <= ENTRY_ARGS)
        then
            e = new_packed(ob, now, seq, use)
        end
        e.next = use + 1

    elseif not e or e.next or e.m + 4 + 4 * n > ENTRY_ARGS then
        e = new_entry(ob, now)
    end

    local total, ver, pos, cargs, vargs, zargs = st.total, st.ver, st.at,
                                                 st.cargs, st.vargs, st.zargs
    local m, r = e.m, 3

    use = format('%d', use)

    -- sized for one name
    local reply = {'OK', 'Votes recorded successfully', seq .. '-' .. use,
                   false, false}

    if packed then
        local name = v[1]

        e[m + 1], e[m + 2] = DIGITS[#voter] or format('%d', #voter), voter
        e[m + 3], e[m + 4] = DIGITS[#name] or format('%d', #name), name
        m = m + 4
    else
        e[m + 1], e[m + 2], e[m + 3] = seq, use, voter
        e[m + 4] = DIGITS[n] or format('%d', n)
        m = m + 4
    end

    for j = 1, 2 * n, 2 do
        local name, add = v[j], v[j + 1]
        local c, k = total[name] + add, ver[name] + 1

        total[name], ver[name] = c, k
        st.added = st.added + add

        local p = pos[name]
        if not p then
            p = 2 * st.m + 1
            st.m = st.m + 1
            pos[name] = p
            cargs[p], vargs[p], zargs[p + 1] = name, name, name
        end

        reply[r + 1], reply[r + 2] = name, c
        r = r + 2

        local text = format('%d', c)

        -- a count below 1 only when Redis held a negative one
        if c > 0 then
            zargs[p] = '-' .. text
        else
            zargs[p] = format('%d', -c)
        end

        k = format('%d', k)
        cargs[p + 1], vargs[p + 1] = text, k

        if packed then
            e[m + 1], e[m + 2] = text, k
            m = m + 2
        else
            e[m + 1], e[m + 2], e[m + 3], e[m + 4] =
                name, DIGITS[add] or format('%d', add), text, k
            m = m + 4
        end
    end

    e.m = m

    if short and usual then
        return reply[5]
    end

    return reply
end

-- The idempotency record of an accepted vote's reply: JSON, its counts
-- (reply[5], [7], ...) as %d text, since cjson writes numbers with 14
-- digits and a count may be up to COUNT_MAX.
local function record(reply)
    local r = {}

    for i = 1, #reply do
        r[i] = reply[i]
    end
    for i = 5, #r, 2 do
        r[i] = format('%d', r[i])
    end

    return cjson.encode(r)
end

-- The reply a record stored, its counts numbers again (exact up to
-- COUNT_MAX; a record written as numbers reads as before).
local function replayed(done)
    local r = cjson.decode(done)

    for i = 5, #r, 2 do
        r[i] = tonumber(r[i])
    end

    return r
end

-- The reply recorded for a retry's key, as cast_votes gives it: at most
-- the `n` names the retry carries, which is all nginx reads of it.  The
-- record may hold a thousand names (its first vote's) where the retry
-- names one: whole, a retry of some 150 bytes was answered up to 180 KB
-- as hiredis holds it, past what nginx's link allows for it (1 MB and
-- 64 bytes a byte of the commands in flight), and a few hundred such
-- retries at once dropped the link with every call on it.
local function cut(reply, n)
    local m = 3 + 2 * n

    if #reply <= m then
        return reply
    end

    local r = {}
    for i = 1, m do
        r[i] = reply[i]
    end

    return r
end

-- Decides one vote, in order, against the batch's tickets and counts: its
-- reply, and when it is accepted, its event in the outbox entries `ob`.
local function decide(ts, st, seen, now, args, v, ob, short)
    local at = v.at
    local idem = args[at + 2]

    if idem ~= '' then
        local done = seen[idem]

        if not done then
            done = call('GET', K_IDEM .. idem)
            done = done and replayed(done)
        end

        if done then
            return short and cut(done, tonumber(args[at + 6])) or done
        end
    end

    local t = v.t
    if not t then
        -- a ticket expired for good (not the current one) names the
        -- current seq: the current one past its expiry is usable again,
        -- as the previous ticket, if the next is minted late
        if v.why == 'EXPIRED' and args[at] ~= ts.cur.id and ts.cur.seq then
            return {'EXPIRED', REJECT.EXPIRED, tonumber(ts.cur.seq)}
        end
        return {v.why, REJECT[v.why], ''}
    end

    if t.used >= t.max then
        return {'EXHAUSTED', REJECT.EXHAUSTED, exhausted_for(ts, t, now)}
    end

    -- the client's share: a refusal, not the ticket's exhaustion; used
    -- up for as long as the ticket is usable (nginx may remember it)
    local share = v.share
    if share > 0 and share_used(t, args[at + 4]) >= share then
        return {'SHARE', REJECT.SHARE, exhausted_for(ts, t, now)}
    end

    -- the usual vote, one name already read, first: fits() is a call
    local name, total = v[1], st.total
    local c = v.n == 1 and total[name]

    if not (c and c <= COUNT_MAX - v[2] and st.ver[name] < COUNT_MAX)
       and not fits(st, v)
    then
        return redis.error_reply('ERR cast_vote: count limit')
    end

    local used = t.used + 1
    t.used = used
    t.taken = t.taken + 1

    if share > 0 then
        share_take(t, args[at + 4])
    end

    local reply = count(st, ob, now, t, used, args[at + 1], v,
                        short and idem == '')

    if idem ~= '' then
        seen[idem] = reply
    end

    return reply
end

-- Everything the batch changes, written after every vote was decided:
-- the touched counts and versions, the tickets' uses, the outbox entries,
-- the idempotency records (`seen`: each accepted key's reply).
local function write(ts, st, ob, seen)
    if st.m > 0 then
        put('HSET', K_COUNT, st.cargs, st.m)
        put('HSET', K_VERSION, st.vargs, st.m)
        put('ZADD', K_TOP, st.zargs, st.m)
        call('INCRBY', K_TOTAL, format('%d', st.added))
    end

    take_uses(ts)

    for _, e in ipairs(ob) do
        if e.next then
            call('XADD', K_OUTBOX, '*', 'p', concat(e, '\n', 1, e.m))
        else
            call('XADD', K_OUTBOX, '*', unpack(e, 1, e.m))
        end
    end

    for idem, reply in pairs(seen) do
        call('SET', K_IDEM .. idem, record(reply), 'PX', IDEM_TTL_MS)
    end
end

-- The usual batch: every vote one name counted once ('1'), no
-- idempotency key, no client share.  Its number of votes, or nil when a
-- vote is not such a vote or the arguments do not split into them.
local function plain(args)
    local nargs = #args

    if nargs == 0 or nargs % 9 ~= 0 then
        return nil
    end

    for a = 1, nargs, 9 do
        if args[a + 6] ~= '1' or args[a + 8] ~= '1' or args[a + 7] == ''
           or args[a + 2] ~= '' or args[a + 5] ~= '0'
           or #args[a + 4] > MAX_CLIENT
        then
            return nil
        end
    end

    return nargs / 9
end

-- A plain batch of n votes decided as the rule decides it when each vote
-- names the current ticket, usable now, and no count or version can
-- reach COUNT_MAX: the votes the ticket has uses left for accepted, in
-- order, the others EXHAUSTED, and only the names of the accepted read.
-- The rule's per-vote work (parse, preload, decide) is what the other
-- votes need; these get straight to the writes count() and write()
-- make, count()'s done here for one name counted once (no call, no
-- table per vote): a change to what count() writes changes this too.
-- It writes packed entries only, so it decides nothing unless `packed`
-- (a relay reads them).  Their replies; or nil, and the counts when
-- names were read, when the batch is not such a batch.
local function quick(ts, args, n, now, short, packed)
    local cur = ts.cur
    local id, used, max_uses = cur.id, cur.used, cur.max

    if not (packed and id and cur.expires and now < cur.expires and used
            and max_uses)
    then
        return nil
    end

    -- the votes accepted: a use each while used < max
    local take = max_uses - used

    if take >= n then
        take = n
    elseif take < 0 then
        take = 0
    elseif take % 1 ~= 0 then
        return nil
    end

    for a = 1, 9 * n, 9 do
        if args[a] ~= id then
            return nil
        end
    end

    local st = counts(n)
    local total, ver, missing, m = st.total, st.ver, sized(n), 0

    for a = 1, 9 * take, 9 do
        local name = args[a + 7]

        if total[name] == nil then
            total[name] = false
            m = m + 1
            missing[m] = name
        end
    end

    load(st, missing, m)

    -- a name's count and version grow by at most `take` in the batch
    for i = 1, m do
        local name = missing[i]

        if total[name] > COUNT_MAX - take or ver[name] > COUNT_MAX - take then
            return nil, st
        end
    end

    local pos, cargs, vargs, zargs = st.at, st.cargs, st.vargs, st.zargs
    local ob, replies, seq, p = outbox(n, n, true), sized(n), cur.seq, 0
    local e = take > 0 and new_packed(ob, now, seq, used + 1)
    local j = e and e.m

    for k = 1, take do
        local a = 9 * k - 8
        local name = args[a + 7]
        local c, v = total[name] + 1, ver[name] + 1

        total[name], ver[name] = c, v
        used = used + 1

        local q = pos[name]
        if not q then
            q = p + 1
            p = p + 2
            pos[name] = q
            cargs[q], vargs[q], zargs[q + 1] = name, name, name
        end

        local text = format('%d', c)

        -- a count below 1 only when Redis held a negative one
        if c > 0 then
            zargs[q] = '-' .. text
        else
            zargs[q] = format('%d', -c)
        end

        v = format('%d', v)
        cargs[q + 1], vargs[q + 1] = text, v

        if short then
            replies[k] = c
        else
            replies[k] = {'OK', 'Votes recorded successfully',
                          seq .. '-' .. format('%d', used), name, c}
        end

        if j + 6 > ENTRY_ARGS then
            e.m, e.next = j, used
            e = new_packed(ob, now, seq, used)
            j = e.m
        end

        local voter = args[a + 1]

        e[j + 1], e[j + 2] = DIGITS[#voter] or format('%d', #voter), voter
        e[j + 3], e[j + 4] = DIGITS[#name] or format('%d', #name), name
        e[j + 5], e[j + 6] = text, v
        j = j + 6
    end

    if take < n then
        local spent = {'EXHAUSTED', REJECT.EXHAUSTED,
                       exhausted_for(ts, cur, now)}

        for k = take + 1, n do
            replies[k] = spent
        end
    end

    if e then
        e.m, e.next = j, used + 1
    end
    st.m, st.added = p / 2, take
    cur.used, cur.taken = used, take

    write(ts, st, ob, {})

    return replies
end

-- The votes of a batch decided in order by the rule: tickets `ts`, the
-- counts `st` a quick() that gave up had read, or none.
local function rule(ts, st, args, votes, names, now, short, packed)
    local seen, ob, replies = {}, outbox(#votes, names, packed),
                              sized(#votes)

    st = st or counts(names)
    preload(st, ts, args, votes, names, now)

    for k = 1, #votes do
        local v = votes[k]

        if not v.n then
            replies[k] = redis.error_reply(
                'ERR cast_vote: bad name, count or client share')
        else
            replies[k] = decide(ts, st, seen, now, args, v, ob, short)
        end
    end

    write(ts, st, ob, seen)

    return replies
end

-- A batch of votes, decided in order exactly as if called one by one; the
-- array of their replies.  A vote with a bad name or count, or one that
-- would pass COUNT_MAX, gets an error reply of its own and changes
-- nothing; arguments that do not split into votes fail the whole call.
-- `short`: an accepted vote of one name counted once, without an
-- idempotency key, replies that name's new total alone (cast_votes).
local function votes_of(args, short)
    -- readiness, and whether the relay reads packed entries, in one call
    local flags = call('MGET', K_READY, K_PACKED)

    if not flags[1] then
        return unavailable('counts not restored')
    end

    local n, votes, names = plain(args), nil, nil

    if not n then
        votes, names = parse(args)
        if not votes then
            return redis.error_reply('ERR cast_vote: bad arguments')
        end
    end

    local now = now_ms()
    promote(now)

    local ts, st = tickets(), nil

    if n then
        local replies
        replies, st = quick(ts, args, n, now, short, flags[2] and true)
        if replies then
            return replies
        end
        votes, names = parse(args)
    end

    return rule(ts, st, args, votes, names, now, short, flags[2] and true)
end

-- The batch as nginx calls it: a reply per vote, the usual vote's (one
-- name counted once, no idempotency key) its name's total alone, an
-- integer, instead of the array of five that only repeats what nginx
-- sent (the message follows from OK, the name is the vote's, the event
-- id's seq is its ticket's): converting those arrays was an eighth of
-- Redis's work per vote.
local function votes(_, args)
    return votes_of(args, true)
end

-- The batch with every reply an array, as before cast_votes: an nginx of
-- an older CAST calls it during a rollout.
local function vote_batch(_, args)
    return votes_of(args, false)
end

-- one vote: a batch of exactly one
local function vote(_, args)
    local n = tonumber(args[7])

    if not n or #args ~= 7 + 2 * n then
        return redis.error_reply('ERR cast_vote: bad arguments')
    end

    local replies = vote_batch(_, args)
    if replies.err then
        return replies
    end
    return replies[1]
end


-- reads

-- The current ticket {id, expires_ms, remaining, seq}; with arguments,
-- pairs "client share", one such reply per pair with a fifth element:
-- the uses of the ticket left to that client (its share left, at most
-- the ticket's remaining), or -1 when the pair has no share.
local function cas(_, args)
    local now = now_ms()
    local t = call('HMGET', effective(now), 'id', 'expires', 'max',
                         'used', 'seq')

    if not t[1] or now >= tonumber(t[2]) then
        return unavailable('no current ticket')
    end

    local left = tonumber(t[3]) - tonumber(t[4])
    if left < 0 then
        left = 0
    end

    if #args == 0 then
        return {t[1], tonumber(t[2]), left, tonumber(t[5])}
    end

    if #args % 2 ~= 0 then
        return redis.error_reply('ERR cast_cas: client share pairs')
    end

    local clients = {}
    for i = 1, #args, 2 do
        clients[#clients + 1] = args[i]
    end

    local used = hmget(K_SHARE .. t[5], clients)
    local replies = {}

    for i = 1, #args, 2 do
        local share = client_share(args[i], args[i + 1])
        local mine = -1

        if share and share > 0 then
            mine = min(max(share - used[(i + 1) / 2], 0), left)
        end

        replies[#replies + 1] = {t[1], tonumber(t[2]), left, tonumber(t[5]),
                                 mine}
    end

    return replies
end

-- the counts of many names (0 for an unknown one), in order
local function query_batch(_, args)
    if not_ready() then
        return unavailable('counts not restored')
    end
    return hmget(K_COUNT, args)
end

local function query(_, args)
    local counts = query_batch(_, {args[1]})

    if counts.err then
        return counts
    end
    return counts[1]
end

-- the first n of the leaderboard, flat: name1, count1, name2, ...
local MAX_TOP = 1000

local function top(n)
    local out = {}

    n = min(max(floor(tonumber(n) or 0), 0), MAX_TOP)
    if n == 0 then
        return out
    end

    local r = call('ZRANGE', K_TOP, 0, n - 1, 'WITHSCORES')
    for i = 1, #r, 2 do
        out[i] = r[i]
        out[i + 1] = -tonumber(r[i + 1])
    end
    return out
end

local function total()
    return tonumber(call('GET', K_TOTAL) or 0)
end

-- {totalVotes, top flat} for the largest of the limits asked (the top
-- and totalVotes fields a worker resolves in one round share it)
local function board(_, args)
    if not_ready() then
        return unavailable('counts not restored')
    end

    local n = 0
    for _, a in ipairs(args) do
        n = max(n, tonumber(a) or 0)
    end
    return {total(), top(n)}
end

-- One worker's subscriptions, once per tick: {totalVotes, top flat of
-- `limit`, the counts of the names, the current ticket as cast_cas gives
-- it or an empty array}.
local function watch(_, args)
    if not_ready() then
        return unavailable('counts not restored')
    end

    if #args - 1 > MAX_NAMES then
        return redis.error_reply('ERR cast_watch: too many names')
    end

    local names = {unpack(args, 2)}
    local ticket = cas(nil, {})

    if ticket.err then
        ticket = {}
    end
    return {total(), top(args[1]), #names > 0 and hmget(K_COUNT, names) or {},
            ticket}
end

-- {counts ready, a current ticket exists, its seq}: the readiness probe
local function state()
    local now = now_ms()
    local t = call('HMGET', effective(now), 'seq', 'expires')
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

        if not count or count < 0 or count ~= floor(count)
           or not ver or ver < 0 or ver ~= floor(ver)
        then
            return redis.error_reply('ERR cast_restore: bad count or version')
        end
    end

    for i = 1, #args, 3 do
        local name, count, ver = args[i], args[i + 1], tonumber(args[i + 2])
        local have = tonumber(call('HGET', K_VERSION, name) or -1)

        if ver > have then
            local old = tonumber(call('HGET', K_COUNT, name) or 0)

            call('HSET', K_COUNT, name, count)
            call('HSET', K_VERSION, name, ver)
            call('ZADD', K_TOP, format('%d', -tonumber(count)),
                       name)
            call('INCRBY', K_TOTAL,
                       format('%d', tonumber(count) - old))
            written = written + 1
        end
    end

    return written
end

local function ready()
    call('SET', K_READY, '1')
    return 1
end

-- The leaderboard and the total made again from the counts, in one step
-- (so a vote cannot fall between the two halves): for a Redis whose
-- counts predate them.  It reads every count: an operator's command
-- (cast-admin rank), not a request's.  The number of names.
local function rerank()
    local cursor, n, sum = '0', 0, 0

    call('DEL', K_TOP, K_TOTAL)

    repeat
        local r = call('HSCAN', K_COUNT, cursor, 'COUNT', CHUNK)
        local args = {}

        cursor = r[1]
        for i = 1, #r[2], 2 do
            local c = tonumber(r[2][i + 1])
            args[#args + 1] = format('%d', -c)
            args[#args + 1] = r[2][i]
            sum = sum + c
            n = n + 1
        end
        if #args > 0 then
            call('ZADD', K_TOP, unpack(args))
        end
    until cursor == '0'

    call('SET', K_TOTAL, format('%d', sum))
    return n
end


local RO = {'no-writes'}

redis.register_function('cast_lease', entry(lease))
redis.register_function('cast_release', entry(release))
redis.register_function('cast_mint', entry(mint))
redis.register_function('cast_vote', entry(vote))
redis.register_function('cast_vote_batch', entry(vote_batch))
redis.register_function('cast_votes', entry(votes))
redis.register_function{function_name = 'cast_cas', callback = entry(cas),
                        flags = RO}
redis.register_function{function_name = 'cast_query', callback = entry(query),
                        flags = RO}
redis.register_function{function_name = 'cast_query_batch',
                        callback = entry(query_batch), flags = RO}
redis.register_function{function_name = 'cast_state', callback = entry(state),
                        flags = RO}
redis.register_function{function_name = 'cast_board', callback = entry(board),
                        flags = RO}
redis.register_function{function_name = 'cast_watch', callback = entry(watch),
                        flags = RO}
redis.register_function('cast_restore', entry(restore))
redis.register_function('cast_ready', entry(ready))
redis.register_function('cast_rank', entry(rerank))
