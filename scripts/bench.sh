#!/usr/bin/env bash
# shellcheck disable=SC2016  # GraphQL $variables stay literal in single quotes
# make bench: wrk against a private stack started with a large ticket
# usage limit, so accepted votes are measured, next to the ceiling of a
# `return 200` location in the same nginx with the same wrk settings.
# Prints req/s, p50, p99 and the ratio to the ceiling, and writes JSON
# under bench/results/.
#
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# BENCH_KEEP=1 leaves the stack running.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}

export CAST_VAR=$top/var/bench
export CAST_HTTP_PORT=${CAST_HTTP_PORT:-38080}
export CAST_REDIS_PORT=${CAST_REDIS_PORT:-36379}
export CAST_PG_PORT=${CAST_PG_PORT:-35432}
export CAST_KAFKA_PORT=${CAST_KAFKA_PORT:-39092}
export CAST_KAFKA_CONTROLLER_PORT=${CAST_KAFKA_CONTROLLER_PORT:-39093}
export CAST_TICKETD_HTTP_PORT=${CAST_TICKETD_HTTP_PORT:-39101}
export CAST_RELAY_HTTP_PORT=${CAST_RELAY_HTTP_PORT:-39102}
export CAST_PERSISTER_HTTP_PORT=${CAST_PERSISTER_HTTP_PORT:-39103}
export CAST_TICKET_MAX_USES=${CAST_TICKET_MAX_USES:-1000000000}

command -v wrk >/dev/null || { echo "bench: wrk is missing (make deps)"; exit 1; }

stop_stack() {
    [ "${BENCH_KEEP:-0}" = 1 ] || scripts/stack.sh down >/dev/null 2>&1 || true
}
trap stop_stack EXIT

echo "bench: starting a fresh private stack under $CAST_VAR"
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$CAST_VAR"
scripts/stack.sh up
url=http://127.0.0.1:$CAST_HTTP_PORT

# milliseconds from wrk's "1.23ms" / "850.00us" / "1.02s"
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
        else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

declare -A rps p50 p99 extra

# run NAME PATH [LUA]: one wrk run, its numbers kept under NAME
run() {
    local name=$1 path=$2 lua=${3:-} out
    out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency \
              ${lua:+-s "$lua"} "$url$path")
    rps[$name]=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    extra[$name]=$(awk '/^(votes_|cas_calls|vote_errors|graphql_errors)/ {
                            printf "%s\"%s\": %s", sep, $1, $2; sep = ", " }' \
                       <<<"$out")
    printf '%-16s %10.0f req/s   p50 %7.3f ms   p99 %7.3f ms   %s\n' \
        "$name" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}" \
        "${extra[$name]}"
}

export CAST_BENCH_NAMES=1000
expired=$(curl -s -H 'Content-Type: application/json' \
               -d '{"query":"{cas{ticket}}"}' "$url/graphql" \
          | sed -n 's/.*"ticket":"\([^"]*\)".*/\1/p')

# warm up: the Kafka broker's JIT, the document caches, the connections
wrk -t"$threads" -c"$conns" -d5s -s bench/vote.lua "$url/graphql" >/dev/null

run ceiling /bench/ceiling
run vote /graphql bench/vote.lua
# how far the pipeline trailed the votes of that run: vote -> PostgreSQL
# row over the events received since it began (the warm-up's, on a cold
# Kafka and PostgreSQL, are left out)
sleep 2
# shellcheck disable=SC1091
lag=$(. "$CAST_VAR/stack.env"
      build/bin/cast-admin lag --seconds $((seconds + 2)) 2>/dev/null \
          | sed -n 's/^lag: //p')
echo "vote pipeline    $lag"
CAST_BENCH_BODY='{"query":"query($u:String!){query(username:$u)}","variables":{"u":"bench-1"}}' \
    run query /graphql bench/graphql.lua
CAST_BENCH_BODY='{"query":"{cas{ticket validUntil remainingUsage}}"}' \
    run cas /graphql bench/graphql.lua
CAST_BENCH_BODY="{\"query\":\"mutation(\$t:String!){vote(usernames:[\\\"x\\\"],ticket:\$t){success message}}\",\"variables\":{\"t\":\"$expired\"}}" \
    run vote_rejected /graphql bench/graphql.lua

mkdir -p bench/results
file=bench/results/$(date -u +%Y%m%dT%H%M%SZ).json
{
    printf '{\n  "machine": "%s, %s cores",\n' "$(uname -m)" "$(nproc)"
    printf '  "wrk": "-t%s -c%s -d%ss",\n' "$threads" "$conns" "$seconds"
    printf '  "redis_appendfsync": "%s",\n  "results": {\n' \
        "$(redis-cli -p "$CAST_REDIS_PORT" CONFIG GET appendfsync | sed -n 2p)"
    sep=
    for name in ceiling vote query cas vote_rejected; do
        ratio=$(awk -v a="${rps[$name]}" -v b="${rps[ceiling]}" \
                    'BEGIN { printf "%.3f", a / b }')
        printf '%s    "%s": {"rps": %s, "p50_ms": %s, "p99_ms": %s, ' \
            "$sep" "$name" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}"
        printf '"ratio_to_ceiling": %s%s}' "$ratio" \
            "${extra[$name]:+, ${extra[$name]}}"
        sep=$',\n'
    done
    printf '\n  },\n  "vote_pipeline_lag": "%s"\n}\n' "$lag"
} > "$file"

echo
for name in vote query cas vote_rejected; do
    awk -v n="$name" -v a="${rps[$name]}" -v b="${rps[ceiling]}" \
        'BEGIN { printf "%-16s %.2f x ceiling\n", n, a / b }'
done

if [ -x build/bench/bench_gql ]; then
    echo
    build/bench/bench_gql
fi

echo
echo "vote pipeline: $lag"

echo "bench: results in $file"
