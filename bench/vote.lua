-- wrk: votes that keep up with the ticket.
--
-- Each thread votes with the ticket it last read; a vote rejected because
-- the ticket rotated (expired, or unknown) makes the next request a `cas`
-- query for the new ticket.  A vote refused because the ticket's uses ran
-- out keeps that ticket: like a crowd of clients, the thread races on
-- until the ticket rotates (the `vote_exhausted` run of `make bench`,
-- with the default 100 uses per ticket).  Responses are told apart by
-- their body, as a thread's connections interleave.  done() reports
-- accepted, exhausted and rejected votes and the `cas` calls.  A request
-- is formatted once per ticket and name, not per call, and an answer is
-- told by one table lookup when it is one of the three fixed vote answers
-- (LuaJIT interns strings, so the lookup hashes nothing more): wrk shares
-- the two cores with what it measures.
--
--   CAST_BENCH_NAMES  how many distinct usernames to spread votes over

local threads = {}
local names = tonumber(os.getenv("CAST_BENCH_NAMES") or "1000")

local cas_body = '{"query":"{cas{ticket}}"}'
local vote_fmt = '{"query":"mutation($u:[String!]!,$c:[Int!],$t:String!)'
    .. '{vote(usernames:$u,voteCount:$c,ticket:$t){success message}}",'
    .. '"variables":{"u":["bench-%d"],"c":[1],"t":"%s"}}'

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
    table.insert(threads, thread)
end

function init()
    ticket = nil
    accepted, exhausted, rejected, cas_calls, failed = 0, 0, 0, 0, 0
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

-- the requests of the current ticket, formatted once per ticket
local cas_req, reqs, reqs_ticket

function request()
    if ticket == nil then
        cas_req = cas_req or wrk.format(nil, nil, nil, cas_body)
        return cas_req
    end
    if reqs_ticket ~= ticket then
        reqs, reqs_ticket = {}, ticket
    end
    local i = math.random(names)
    local r = reqs[i]
    if r == nil then
        r = wrk.format(nil, nil, nil, string.format(vote_fmt, i, ticket))
        reqs[i] = r
    end
    return r
end

-- the vote answers whose body never changes, and what they count
local ACCEPTED, EXHAUSTED, REJECTED = 1, 2, 3
local fixed = {
    ['{"data":{"vote":{"success":true,"message":'
     .. '"Votes recorded successfully"}}}'] = ACCEPTED,
    ['{"data":{"vote":{"success":false,"message":'
     .. '"Ticket usage limit exceeded"}}}'] = EXHAUSTED,
    ['{"data":{"vote":{"success":false,"message":'
     .. '"Ticket expired"}}}'] = REJECTED,
}

function response(status, headers, text)
    local kind = fixed[text]
    if kind == EXHAUSTED then
        exhausted = exhausted + 1
        return
    elseif kind == ACCEPTED then
        accepted = accepted + 1
        return
    elseif kind == REJECTED then
        rejected = rejected + 1
        ticket = nil
        return
    end
    if text:find('"cas":', 1, true) then
        cas_calls = cas_calls + 1
        ticket = text:match('"ticket":"([^"]+)"')
        return
    end
    if text:find('"success":true', 1, true) then
        accepted = accepted + 1
    elseif text:find('usage limit exceeded', 1, true) then
        exhausted = exhausted + 1
    elseif text:find('"success":false', 1, true) then
        rejected = rejected + 1
        ticket = nil
    else
        failed = failed + 1
        ticket = nil
    end
end

function done(summary, latency, requests)
    local a, e, r, c, f = 0, 0, 0, 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("accepted")
        e = e + t:get("exhausted")
        r = r + t:get("rejected")
        c = c + t:get("cas_calls")
        f = f + t:get("failed")
    end
    io.write(string.format("votes_accepted %d\nvotes_exhausted %d\n"
                           .. "votes_rejected %d\ncas_calls %d\n"
                           .. "vote_errors %d\n", a, e, r, c, f))
end
