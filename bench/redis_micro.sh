#!/usr/bin/env bash
#
# Redis's cost per accepted vote, Redis alone (README, "CPU per accepted
# vote"): a private redis-server (appendonly yes, appendfsync always),
# the function library LIB loaded, one ticket of 10^12 uses, and
# redis-benchmark sending `FCALL cast_votes` (what nginx calls) of VOTES
# one-name votes (each "T voter '' 0 '' 0 1 bench-<random 0..999> 1", the
# bench's votes) over CLIENTS connections; every name the votes draw has
# a count and a version first (no run adds a field), then a warm-up of
# WARMUP calls.
#
#   bench/redis_micro.sh callgrind LIB.lua...   instructions of Redis's
#                                               user space per accepted
#                                               vote (valgrind callgrind:
#                                               the same on a busy VM)
#   bench/redis_micro.sh cpu LIB.lua...         Redis's CPU µs (user +
#                                               system, /proc) per
#                                               accepted vote
#
# One line per library: its name, the accepted votes, the figure; with
# callgrind, without Redis's serverCron, which runs 10 times a second
# whatever the votes, so more often in a slower run (with_cron: all of
# it).  The callgrind profile of each stays in
# $CAST_VAR/redis_micro/NAME.cg for callgrind_annotate --inclusive=yes.
#
# Environment: CALLS (2000 with callgrind, 20000 for cpu), VOTES (11),
# CLIENTS (4), WARMUP (300 calls), FSYNC (always), REDIS_SERVER
# (redis-server; a build of Redis with its symbols names the Lua
# interpreter's functions in the profile), CAST_BENCH_PORT_OFFSET
# (0; the Redis listens on 31399 + it, past the bench stack's Redis and
# its replicas and Sentinels).
#
# bench/redis_floor.lua is a library to measure this way: the least Lua
# that decides the bench's votes, not the product's rule.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:?usage: $0 callgrind|cpu LIB.lua...}
shift

case $mode in
    callgrind) calls=${CALLS:-2000} ;;
    cpu)       calls=${CALLS:-20000} ;;
    *)         echo "usage: $0 callgrind|cpu LIB.lua..." >&2; exit 2 ;;
esac

votes=${VOTES:-11}
clients=${CLIENTS:-4}
warmup=${WARMUP:-300}
server=${REDIS_SERVER:-redis-server}
port=$((31399 + ${CAST_BENCH_PORT_OFFSET:-0}))
var=${CAST_VAR:-$top/var}/redis_micro
mkdir -p "$var"

args=()
for ((i = 0; i < votes; i++)); do
    args+=(T voter '' 0 '' 0 1 bench-__rand_int__ 1)
done

# every name the votes draw (redis-benchmark's 12 digits), count 1
names=()
for ((i = 0; i < 1000; i++)); do
    names+=("$(printf 'bench-%012d' "$i")" 1)
done

r() { redis-cli -p "$port" "$@"; }

bench() {
    redis-benchmark -p "$port" -n "$1" -c "$clients" -r 1000 -q \
        FCALL cast_votes 0 "${args[@]}" >/dev/null
}

used() { r HGET '{cast}:ticket' used; }

# $1: the library; starts Redis (pid in $pid) in $dir, loaded and warm
start() {
    local lib=$1 i

    rm -rf "$dir"
    mkdir -p "$dir"

    if [[ $mode == callgrind ]]; then
        (cd "$dir" && exec valgrind --tool=callgrind \
            --callgrind-out-file="$dir/cg.out" --dump-instr=no \
            "$server" --port "$port" --dir "$dir" --save '' \
                --appendonly yes --appendfsync "${FSYNC:-always}" \
                --logfile "$dir/redis.log") >"$dir/valgrind.log" 2>&1 &
    else
        (cd "$dir" && exec "$server" --port "$port" --dir "$dir" \
            --save '' --appendonly yes --appendfsync "${FSYNC:-always}" \
            --logfile "$dir/redis.log") &
    fi
    pid=$!

    for ((i = 0; i < 300; i++)); do
        r PING >/dev/null 2>&1 && break
        sleep 0.1
    done

    r FUNCTION LOAD REPLACE "$(cat "$lib")" >/dev/null
    r SET '{cast}:ready' 1 >/dev/null
    r SET '{cast}:relay:packed' 1 >/dev/null
    r HSET '{cast}:ticket' id T seq 123456789 issued 0 \
        expires 99999999999999 max 1000000000000 used 0 grace 0 >/dev/null
    r HSET '{cast}:count' "${names[@]}" >/dev/null
    r HSET '{cast}:version' "${names[@]}" >/dev/null

    bench "$warmup"
}

stop() {
    local i

    for ((i = 0; i < 120; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        r SHUTDOWN NOSAVE >/dev/null 2>&1 || true
        sleep 0.5
    done
    wait "$pid" || true
}

for lib in "$@"; do
    name=$(basename "$lib" .lua)
    dir=$var/$name
    start "$lib"

    u0=$(used)

    if [[ $mode == callgrind ]]; then
        callgrind_control --zero "$pid" >/dev/null 2>&1
        bench "$calls"
        callgrind_control --dump=measured "$pid" >/dev/null 2>&1
    else
        t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
        bench "$calls"
        t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    fi

    u1=$(used)
    stop
    n=$((u1 - u0))

    if ((n == 0)); then
        echo "$name: no vote accepted (see $dir/redis.log)" >&2
        exit 1
    fi

    if [[ $mode == callgrind ]]; then
        f=$(grep -l '^desc: Trigger: .*measured' "$dir"/cg.out* | head -1)
        cp "$f" "$var/$name.cg"
        ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$f")
        cron=$(callgrind_annotate --inclusive=yes --threshold=100 "$f" \
               | awk '/:serverCron / && !c { gsub(",", "", $1); c = $1 }
                      END { print c + 0 }')
        echo "$name votes $n instructions_per_vote" \
             "$(((ir - ${cron:-0}) / n)) with_cron $((ir / n))"
    else
        echo "$name votes $n cpu_us_per_vote" \
             "$(echo "scale=2; ($t1 - $t0) * 1000000 / $(getconf CLK_TCK)" \
                     "/ $n" | bc)"
    fi
done
