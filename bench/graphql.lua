-- wrk: one GraphQL POST, chosen by the environment:
--   CAST_BENCH_BODY   the JSON body to send
-- Counts responses that carry GraphQL errors, reported by done().

local body = os.getenv("CAST_BENCH_BODY")
local threads = {}

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = body

function setup(thread)
    table.insert(threads, thread)
end

function init()
    errors = 0
end

function response(status, headers, text)
    if status ~= 200 or text:find('"errors"', 1, true) then
        errors = errors + 1
    end
end

function done(summary, latency, requests)
    local n = 0
    for _, t in ipairs(threads) do
        n = n + t:get("errors")
    end
    io.write(string.format("graphql_errors %d\n", n))
end
