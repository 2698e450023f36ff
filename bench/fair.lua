-- wrk: the realistic herd, for the fair share of a ticket.
--
-- Many clients vote now and then, a few greedy ones all the time: each
-- request comes from a client drawn at random, one of the greedy ones
-- (CAST_BENCH_GREEDY keys) with a chance of CAST_BENCH_GREEDY_PERCENT,
-- else one of the crowd (CAST_BENCH_CLIENTS keys).  The client goes in
-- the X-Client header (nginx's cast_client_key in the fair-share runs of
-- `make bench`) and, prefixed by CAST_BENCH_RUN, as the voterUsername, so
-- PostgreSQL's vote_events tell who took each use of each ticket.  Like
-- vote.lua, a thread votes with the ticket it last read and keeps it
-- while its votes are refused for the ticket's uses or a client's share;
-- any other refusal fetches the next ticket with `cas`.  A request is
-- formatted once per ticket and client, not per call.  done() reports the
-- votes accepted, refused as spent, refused for the share, otherwise
-- refused, and the `cas` calls.

local threads = {}
local crowd = tonumber(os.getenv("CAST_BENCH_CLIENTS") or "5000")
local greedy = tonumber(os.getenv("CAST_BENCH_GREEDY") or "4")
local greedy_pct = tonumber(os.getenv("CAST_BENCH_GREEDY_PERCENT") or "80")
local run = os.getenv("CAST_BENCH_RUN") or "fair"

local cas_body = '{"query":"{cas{ticket}}"}'
local vote_fmt = '{"query":"mutation($u:[String!]!,$t:String!,$v:String)'
    .. '{vote(usernames:$u,ticket:$t,voterUsername:$v){success message}}",'
    .. '"variables":{"u":["fair-%d"],"t":"%s","v":"%s-%s"}}'

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
    table.insert(threads, thread)
end

function init()
    ticket = nil
    accepted, exhausted, share, rejected, cas_calls, failed = 0, 0, 0, 0, 0, 0
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

local cas_req, reqs, reqs_ticket

function request()
    if ticket == nil then
        cas_req = cas_req or wrk.format(nil, nil, nil, cas_body)
        return cas_req
    end
    if reqs_ticket ~= ticket then
        reqs, reqs_ticket = {}, ticket
    end

    local client
    if math.random(100) <= greedy_pct then
        client = "g" .. math.random(greedy)
    else
        client = "c" .. math.random(crowd)
    end

    local r = reqs[client]
    if r == nil then
        r = wrk.format(nil, nil, {["Content-Type"] = "application/json",
                                  ["X-Client"] = client},
                       string.format(vote_fmt, math.random(1000), ticket,
                                     run, client))
        reqs[client] = r
    end
    return r
end

function response(status, headers, text)
    if text:find('"cas":', 1, true) then
        cas_calls = cas_calls + 1
        ticket = text:match('"ticket":"([^"]+)"')
        return
    end
    if text:find('"success":true', 1, true) then
        accepted = accepted + 1
    elseif text:find('usage limit exceeded', 1, true) then
        exhausted = exhausted + 1
    elseif text:find('share of this ticket used up', 1, true) then
        share = share + 1
    elseif text:find('"success":false', 1, true) then
        rejected = rejected + 1
        ticket = nil
    else
        failed = failed + 1
        ticket = nil
    end
end

function done(summary, latency, requests)
    local a, e, s, r, c, f = 0, 0, 0, 0, 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("accepted")
        e = e + t:get("exhausted")
        s = s + t:get("share")
        r = r + t:get("rejected")
        c = c + t:get("cas_calls")
        f = f + t:get("failed")
    end
    io.write(string.format("votes_accepted %d\nvotes_exhausted %d\n"
                           .. "votes_share %d\nvotes_rejected %d\n"
                           .. "cas_calls %d\nvote_errors %d\n",
                           a, e, s, r, c, f))
end
