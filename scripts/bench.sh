#!/usr/bin/env bash
# shellcheck disable=SC2016  # GraphQL $variables stay literal in single quotes
# make bench: wrk against a private stack started with a large ticket
# usage limit, so accepted votes are measured, next to the ceiling of a
# `return 200` location in the same nginx with the same wrk settings; then
# a latency sweep of accepted votes at constant offered rates
# (build/bench/cast-load, bench/cast_load.c),
# and last the thundering herd: the same votes against tickets with the
# default 100 uses.  For every wrk run it records the CPU each process of
# the stack (and wrk) spent, from /proc.  Prints the figures, writes JSON
# and a picture of it (bench/plot.sh) under bench/results/.
#
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# BENCH_SWEEP_SECONDS (8 per offered rate), BENCH_SWEEP_PERCENTS
# ("25 50 75 90" of the accepted votes/s of the wrk run),
# CAST_BENCH_PORT_OFFSET (0) moves every port of the private stack
# (30080, 31092 and up: below the kernel's ephemeral ports, 32768-,
# where a client's connection could hold one),
# BENCH_KEEP=1 leaves the stack running, BENCH_ONLY=fair_share or
# BENCH_ONLY=subscriptions runs that block alone, BENCH_ONLY=herd only
# the ceiling, vote_rejected and the herd (results in <time>-herd.json);
# HERD_PAIRS (3): how many herd runs, each between two ceilings.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
sweep_seconds=${BENCH_SWEEP_SECONDS:-8}
sweep_percents=${BENCH_SWEEP_PERCENTS:-25 50 75 90}

o=${CAST_BENCH_PORT_OFFSET:-0}
export CAST_VAR=$top/var/bench
export CAST_HTTP_PORT=${CAST_HTTP_PORT:-$((30080 + o))}
export CAST_REDIS_PORT=${CAST_REDIS_PORT:-$((31379 + o))}
export CAST_PG_PORT=${CAST_PG_PORT:-$((31432 + o))}
export CAST_KAFKA_PORT=${CAST_KAFKA_PORT:-$((31092 + o))}
export CAST_KAFKA_CONTROLLER_PORT=${CAST_KAFKA_CONTROLLER_PORT:-$((31093 + o))}
export CAST_TICKETD_HTTP_PORT=${CAST_TICKETD_HTTP_PORT:-$((31101 + o))}
export CAST_RELAY_HTTP_PORT=${CAST_RELAY_HTTP_PORT:-$((31102 + o))}
export CAST_PERSISTER_HTTP_PORT=${CAST_PERSISTER_HTTP_PORT:-$((31103 + o))}
export CAST_TICKET_MAX_USES=${CAST_TICKET_MAX_USES:-1000000000}

load=$top/build/bench/cast-load

# every port the bench listens on (with the replication block, the
# replicated stack's: + 1000) stays below the kernel's ephemeral ports,
# Sentinels up to a Redis's + 7 included: a client's connection holding
# one fails the bench midway (CAST_BENCH_PORT_OFFSET=600 did: a
# replica's 32980 was taken)
read -r ephemeral _ </proc/sys/net/ipv4/ip_local_port_range
above=7
case ${BENCH_ONLY:-}:${BENCH_REPLICATION:-1} in
    :1|replication:*) above=1007 ;;
esac
for p in "$CAST_HTTP_PORT" "$CAST_REDIS_PORT" "$CAST_PG_PORT" \
         "$CAST_KAFKA_PORT" "$CAST_KAFKA_CONTROLLER_PORT" \
         "$CAST_TICKETD_HTTP_PORT" "$CAST_RELAY_HTTP_PORT" \
         "$CAST_PERSISTER_HTTP_PORT"; do
    if ((p + above >= ephemeral)); then
        echo "bench: port $((p + above)) would be among the kernel's" \
             "ephemeral ports ($ephemeral and up): lower" \
             "CAST_BENCH_PORT_OFFSET ($o)"
        exit 1
    fi
done

for t in wrk jq gnuplot; do
    command -v "$t" >/dev/null || { echo "bench: $t is missing (make deps)"; exit 1; }
done
[ -x "$load" ] || { echo "bench: $load is missing (make bench builds it)"; exit 1; }

tmp=$(mktemp -d)

stop_stack() {
    [ -z "${front_holder:-}" ] || kill "$front_holder" 2>/dev/null || true
    [ -z "${fsync_saved:-}" ] \
        || rcli CONFIG SET appendfsync "$fsync_saved" >/dev/null 2>&1 || true
    rm -rf "$tmp"
    [ "${BENCH_KEEP:-0}" = 1 ] || scripts/stack.sh down >/dev/null 2>&1 || true
    [ ! -d "${repl_var:-/nonexistent}" ] \
        || replicated scripts/stack.sh down >/dev/null 2>&1 || true
}
trap stop_stack EXIT

echo "bench: starting a fresh private stack under $CAST_VAR"
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$CAST_VAR"
scripts/stack.sh up
url=http://127.0.0.1:$CAST_HTTP_PORT

rcli() {
    redis-cli -p "$CAST_REDIS_PORT" "$@"
}

gql() {
    curl -s -H 'Content-Type: application/json' -d "$1" "$url/graphql"
}

# milliseconds from wrk's "1.23ms" / "850.00us" / "1.02s"
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
        else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}


# --- CPU from /proc ------------------------------------------------------------

parts=(redis nginx postgres kafka ticketd relay persister)
clk_tck=$(getconf CLK_TCK)
declare -A cpu0 cpu1

# cpu_ticks PART: the user + system clock ticks of the part's process and
# all its descendants (PostgreSQL's backends each start a session of their
# own), with those of children that ended and were reaped (cutime,
# cstime), so a backend that exits is not lost
cpu_ticks() {
    local pid files=()

    pid=$(cat "$CAST_VAR/run/$1.pid" 2>/dev/null) || { echo 0; return; }
    mapfile -t files < <(ps -e -o pid=,ppid= | awk -v root="$pid" '
        { kids[$2] = kids[$2] " " $1 }
        END {
            todo[1] = root; n = 1
            for (i = 1; i <= n; i++) {
                print "/proc/" todo[i] "/stat"
                k = split(kids[todo[i]], c, " ")
                for (j = 1; j <= k; j++) todo[++n] = c[j]
            }
        }')
    { cat "${files[@]}" 2>/dev/null || true; } \
        | awk '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 }
               END { print t + 0 }'
}

# the ticks of this shell's reaped children: wrk (run in a command
# substitution) or cast-load, whatever else ran since counted too
shell_ticks() {
    awk '{ sub(/^.*\) /, ""); print $14 + $15 }' /proc/$$/stat
}

# cpu_begin, cpu_end: the ticks of each part into cpu0 or cpu1, those of
# this shell's children last on the way in and first on the way out, so
# that the ps, cat and awk of the samples are not counted as wrk's
cpu_begin() {
    local p

    for p in "${parts[@]}"; do
        cpu0[$p]=$(cpu_ticks "$p")
    done
    cpu0[wrk]=$(shell_ticks)
}

cpu_end() {
    local p

    cpu1[wrk]=$(shell_ticks)
    for p in "${parts[@]}"; do
        cpu1[$p]=$(cpu_ticks "$p")
    done
}

# cpu_json UNITS: {"redis": µs, ..., "stack": µs, "wrk": µs} per unit
cpu_json() {
    local p

    for p in "${parts[@]}" wrk; do
        echo "$p $((cpu1[$p] - cpu0[$p]))"
    done | awk -v n="$1" -v hz="$clk_tck" '
        function us(t) { return sprintf("%.1f", n ? t * 1e6 / hz / n : 0) }
        $1 != "wrk" { printf "%s\"%s\": %s", sep, $1, us($2); sep = ", "
                      stack += $2 }
        $1 == "wrk" { printf ", \"stack\": %s, \"wrk\": %s}", us(stack),
                          us($2) }
        BEGIN { printf "{" }'
}


# --- Redis's time per command --------------------------------------------------

# cmdstats: "command calls usec" of every command Redis ran so far
cmdstats() {
    rcli INFO commandstats | tr -d '\r' \
        | awk -F'[:=,]' '/^cmdstat_/ { sub(/^cmdstat_/, "", $1)
                                       print $1, $3, $5 }'
}

# cmdstats_json BEFORE AFTER UNITS: {"command": usec per unit, ...} of the
# commands whose time grew between the two cmdstats outputs, largest first
# (a command a function calls counts in the function's time too)
cmdstats_json() {
    awk -v n="$3" '
        FNR == NR { u0[$1] = $3; next }
        { d = $3 - u0[$1]; if (d > 0) t[$1] = d }
        END {
            sep = "{"
            while (1) {
                best = ""
                for (c in t) if (best == "" || t[c] > t[best]) best = c
                if (best == "") break
                printf "%s\"%s\": %.2f", sep, best, n ? t[best] / n : 0
                sep = ", "
                delete t[best]
            }
            printf "%s}", sep == "{" ? "{" : ""
        }' "$1" "$2"
}


# --- the disk under the votes, and Redis's fsync ------------------------------
#
# With appendfsync always, Redis answers a cycle's votes only once their
# AOF is on disk: an fdatasync in its main thread, during which it decides
# nothing.  For each vote run: what the block device that holds $CAST_VAR
# did (/sys/class/block/DEV/stat: writes, bytes written, cache flushes and
# the time the device spent on them; every process of the stack shares
# it), and the longest fsync of each second as Redis's latency monitor saw
# it (event aof-fsync-always, samples of 1 ms and more).

disk_dev=$(findmnt -no SOURCE -T "$CAST_VAR" 2>/dev/null || true)
# /dev/mapper/NAME is a link to /dev/dm-N, the name under /sys/class/block
disk_dev=$(readlink -f "$disk_dev" 2>/dev/null || true)
disk_dev=${disk_dev##*/}
# a partition's stat counts no cache flushes (the kernel counts each on the
# whole disk, block/blk-flush.c): the disk that holds it
if [ -n "$disk_dev" ] && [ -e "/sys/class/block/$disk_dev/partition" ]; then
    disk_dev=$(readlink -f "/sys/class/block/$disk_dev/..")
    disk_dev=${disk_dev##*/}
fi
disk_stat=/sys/class/block/$disk_dev/stat
if [ -z "$disk_dev" ] || [ ! -r "$disk_stat" ]; then
    disk_stat=
fi

disk_begin() {
    disk0=
    [ -z "$disk_stat" ] || disk0=$(cat "$disk_stat")
    disk_t0=$EPOCHREALTIME
    rcli CONFIG SET latency-monitor-threshold 1 >/dev/null
    rcli LATENCY RESET >/dev/null
}

disk_end() {
    disk1=
    [ -z "$disk_stat" ] || disk1=$(cat "$disk_stat")
    disk_t1=$EPOCHREALTIME
    fsyncs=$(rcli LATENCY HISTORY aof-fsync-always | paste -sd' ')
}

# disk_json VOTES: {"device": ..., per accepted vote and per second of
# the window between disk_begin and disk_end, "redis_fsync": {...}}; null
# without a block device to read
disk_json() {
    if [ -z "$disk0" ] || [ -z "$disk1" ]; then
        echo null
        return
    fi
    awk -v n="$1" -v s="$(awk -v a="$disk_t0" -v b="$disk_t1" \
                              'BEGIN { print b - a }')" \
        -v dev="$disk_dev" -v f="$fsyncs" '
        NR == 1 { for (i = 1; i <= NF; i++) a[i] = $i }
        NR == 2 { for (i = 1; i <= NF; i++) b[i] = $i - a[i] }
        END {
            if (n < 1) n = 1
            if (s <= 0) s = 1
            k = split(f, v, " ")
            for (i = 2; i <= k; i += 2) {
                secs++
                if (v[i] >= 10) ten++
                if (v[i] > max) max = v[i]
            }
            printf "{\"device\": \"%s\", ", dev
            printf "\"writes_per_accepted_vote\": %.2f, ", b[5] / n
            printf "\"kib_written_per_accepted_vote\": %.2f, ", b[7] / 2 / n
            printf "\"flushes_per_s\": %.0f, ", b[16] / s
            printf "\"flush_ms_per_s\": %.1f, ", b[17] / s
            printf "\"redis_fsync\": {\"seconds_1ms_or_more\": %d, ", secs
            printf "\"seconds_10ms_or_more\": %d, \"max_ms\": %d}}", \
                ten, max
        }' <(echo "$disk0"; echo "$disk1")
}


# --- wrk runs ------------------------------------------------------------------

declare -A res

# run NAME PATH [LUA]: one wrk run, its numbers and the CPU per request
# (per accepted vote when the run reports accepted votes) kept under NAME
run() {
    local name=$1 path=$2 lua=${3:-} out rps p50 p99 extra n unit cpu disk=

    disk_begin
    cpu_begin
    out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency \
              ${lua:+-s "$lua"} "$url$path")
    cpu_end
    disk_end
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    extra=$(awk '/^(votes_|cas_calls|vote_errors|graphql_errors)/ {
                     printf ", \"%s\": %s", $1, $2 }' <<<"$out")
    n=$(awk '/ requests in / { print $1 }' <<<"$out")
    unit=request
    if [[ $name == vote || $name == vote_front || $name == vote_everysec \
          || $name == vote_replicated* || $name == vote_plain* ]]; then
        n=$(awk '$1 == "votes_accepted" { print $2 }' <<<"$out")
        unit=accepted_vote
        disk=$(disk_json "$n")
    fi
    cpu=$(cpu_json "$n")
    res[$name]=$(printf '{"rps": %s, "p50_ms": %s, "p99_ms": %s%s, "cpu_us_per_%s": %s}' \
                     "$rps" "$p50" "$p99" "$extra" "$unit" "$cpu")
    printf '%-16s %10.0f req/s   p50 %7.3f ms   p99 %7.3f ms  %s\n' \
        "$name" "$rps" "$p50" "$p99" "${extra#, }"
    printf '%-16s CPU us per %s: %s\n' '' "${unit/_/ }" "$cpu"
    if [ -n "$disk" ]; then
        res[$name]=$(jq -c --argjson d "$disk" \
                         '. + {disk: $d}' <<<"${res[$name]}")
        printf '%-16s disk: %s\n' '' "$disk"
    fi
}

# --- the front alone: the `vote` run with the durable pipeline paused ---------
#
# The votes of the `vote` run cost the durable pipeline (the relay, Kafka,
# the persister, PostgreSQL) CPU on the same two cores as the front (wrk,
# nginx, Redis).  vote_front is the same run with the relay stopped: Redis
# writes every vote to the outbox as it does with a relay (the relay's word
# that it reads packed entries, {cast}:relay:packed, held meanwhile, so
# the same Lua path), and nothing reads them until the run is over.  Then
# the relay starts again and the backlog drains into PostgreSQL before the
# next run.  What the front reaches alone: how far the pipeline holds
# `vote` back, and the most a pipeline of no cost at all would allow.

persister_lag() {
    curl -s "http://127.0.0.1:$CAST_PERSISTER_HTTP_PORT/metrics" \
        | awk '$1 == "cast_persister_consumer_lag" { print $2 }'
}

vote_front_block() {
    local deadline

    scripts/stack.sh stop relay >/dev/null
    (
        while :; do
            rcli SET '{cast}:relay:packed' 1 PX 3000 >/dev/null
            sleep 1
        done
    ) &
    front_holder=$!
    sleep 1
    run vote_front /graphql bench/vote.lua
    kill "$front_holder"
    wait "$front_holder" 2>/dev/null || true
    front_holder=
    scripts/stack.sh start relay >/dev/null
    drained vote_front
}

# drained NAME: waits until the votes of run NAME are in PostgreSQL (the
# outbox empty, the persister's consumer lag 0), so that the next run does
# not share the cores with their pipeline
drained() {
    local deadline=$((SECONDS + 300))

    until [ "$(rcli XLEN '{cast}:outbox')" = 0 ] \
          && [ "$(persister_lag)" = 0 ]; do
        ((SECONDS < deadline)) \
            || { echo "bench: $1: the outbox did not drain"; exit 1; }
        sleep 1
    done
    echo "$(printf '%-16s' "$1") drained into PostgreSQL" \
         "$(jq '.votes_accepted' <<<"${res[$1]}") votes"
}

# --- what the flush costs: the `vote` run with appendfsync everysec -----------
#
# Not the product's setting (always, issue 17): a diagnostic.  The same
# votes, the whole pipeline running, with Redis writing each cycle's AOF
# at once but flushing it to the disk once a second in a thread of its
# own, where `always` flushes it in the main thread before the cycle's
# replies.  What it gains over `vote` is what the disk's flush, in every
# cycle, takes from the votes.  appendfsync is back to what it was (always)
# before the next run, and at exit when BENCH_KEEP=1 leaves the stack
# running.

vote_everysec_block() {
    # the other runs' setting (always, unless CAST_REDIS_APPENDFSYNC says
    # otherwise), kept until Redis has it again: an exit tries it once more
    fsync_saved=$(rcli CONFIG GET appendfsync | sed -n 2p)
    [ -n "$fsync_saved" ] \
        || { echo "bench: no appendfsync to restore"; exit 1; }
    rcli CONFIG SET appendfsync everysec >/dev/null
    run vote_everysec /graphql bench/vote.lua
    rcli CONFIG SET appendfsync "$fsync_saved" >/dev/null
    [ "$(rcli CONFIG GET appendfsync | sed -n 2p)" = "$fsync_saved" ] \
        || { echo "bench: appendfsync is not back to $fsync_saved"; exit 1; }
    fsync_saved=
    drained vote_everysec
}

# --- the fair share: the realistic herd with and without a share per client ---
#
# Tickets of the stack's default uses (100).  Many clients, each its own
# X-Client key, vote now and then; a few greedy ones send most of the
# requests (bench/fair.lua).  The same wrk run with nginx keyed by the
# header and no share (off), then with cast_client_uses BENCH_FAIR_USES
# (on): how the uses of each ticket were spread between the greedy
# clients and the crowd, from PostgreSQL's vote_events (whose voter names
# the client), and what the share costs: CPU per request of each process
# (/proc) and Redis's time per FCALL.  Only tickets whose uses were all
# taken within the run count in the spread.  BENCH_ONLY=fair_share runs
# this block alone on the fresh stack; otherwise it runs after the herd.
# BENCH_FAIR_USES (3), BENCH_FAIR_CLIENTS (5000), BENCH_FAIR_GREEDY (4),
# BENCH_FAIR_GREEDY_PERCENT (80: of the requests, from the greedy ones).

fair_uses=${BENCH_FAIR_USES:-3}
fair_clients=${BENCH_FAIR_CLIENTS:-5000}
fair_greedy=${BENCH_FAIR_GREEDY:-4}
fair_greedy_pct=${BENCH_FAIR_GREEDY_PERCENT:-80}

fair_psql() {
    # shellcheck disable=SC1091
    (. "$CAST_VAR/stack.env"; psql "$CAST_PG_DSN" -XAtq -c "$1")
}

# fair_share_run NAME USES: one wrk run of bench/fair.lua against nginx
# keyed by X-Client with share USES (or off), its spread and Redis cost
# added to res[NAME]
fair_share_run() {
    local name=$1 uses=$2 f0 u0 f1 u1 votes n last deadline spread

    CAST_CLIENT_KEY='$http_x_client' CAST_CLIENT_USES=$uses \
        scripts/stack.sh restart nginx >/dev/null
    read -r f0 u0 < <(rcli INFO commandstats | tr -d '\r' \
        | awk -F'[:=,]' '$1 == "cmdstat_fcall" { print $3, $5 }')
    CAST_BENCH_RUN="$name-$$" CAST_BENCH_CLIENTS=$fair_clients \
        CAST_BENCH_GREEDY=$fair_greedy \
        CAST_BENCH_GREEDY_PERCENT=$fair_greedy_pct \
        run "$name" /graphql bench/fair.lua
    read -r f1 u1 < <(rcli INFO commandstats | tr -d '\r' \
        | awk -F'[:=,]' '$1 == "cmdstat_fcall" { print $3, $5 }')
    votes=$(jq '.votes_accepted + .votes_exhausted + .votes_share
                + .votes_rejected' <<<"${res[$name]}")

    # every accepted vote of the run in PostgreSQL (wrk may not have read
    # the answers of the last ones): the count reaches wrk's and holds
    n=0 last=-1 deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        n=$(fair_psql "SELECT count(*) FROM vote_events
                       WHERE voter LIKE '$name-$$-%'")
        ((n >= $(jq .votes_accepted <<<"${res[$name]}") && n == last)) \
            && break
        last=$n
        sleep 1
    done

    spread=$(fair_psql "
        WITH per AS (
            SELECT ticket_seq, voter LIKE '$name-$$-g%' AS greedy,
                   count(*) AS uses
            FROM vote_events WHERE voter LIKE '$name-$$-%'
            GROUP BY ticket_seq, voter),
        t AS (
            SELECT ticket_seq, sum(uses) AS used,
                   coalesce(sum(uses) FILTER (WHERE greedy), 0) AS g,
                   coalesce(max(uses) FILTER (WHERE greedy), 0) AS gmax,
                   count(*) FILTER (WHERE NOT greedy) AS cn,
                   coalesce(max(uses) FILTER (WHERE NOT greedy), 0) AS cmax
            FROM per GROUP BY ticket_seq),
        full_t AS (
            SELECT * FROM t
            WHERE used = (SELECT max(used) FROM t))
        SELECT json_build_object(
            'events', (SELECT sum(used) FROM t),
            'tickets', (SELECT count(*) FROM t),
            'full_tickets', count(*),
            'uses_per_ticket', max(used),
            'greedy_uses_per_ticket', round(avg(g), 1),
            'greedy_uses_per_ticket_max', max(g),
            'one_greedy_client_per_ticket_max', max(gmax),
            'crowd_uses_per_ticket', round(avg(used - g), 1),
            'crowd_clients_per_ticket', round(avg(cn), 1),
            'one_crowd_client_per_ticket_max', max(cmax))
        FROM full_t")

    res[$name]=$(jq -c --argjson s "$spread" --argjson v "$votes" \
        --arg f "$((f1 - f0))" --arg u "$((u1 - u0))" '. + {spread: $s,
        redis: {fcall_calls: ($f | tonumber), fcall_usec: ($u | tonumber),
                fcall_usec_per_call: (if ($f | tonumber) > 0
                    then (($u | tonumber) / ($f | tonumber) * 100
                          | round) / 100 else 0 end),
                fcall_usec_per_vote: (if $v > 0
                    then (($u | tonumber) / $v * 100 | round) / 100
                    else 0 end)}}' <<<"${res[$name]}")
    printf '%-16s spread: %s\n' '' "$spread"
}

fair_share_block() {
    echo
    echo "fair share: $fair_clients clients and $fair_greedy greedy ones" \
         "($fair_greedy_pct % of the requests), share off, then" \
         "$fair_uses uses per client"

    # the stack's default uses per ticket (the herd block may have done it)
    if [ "$(rcli HGET '{cast}:ticket' max)" = "$CAST_TICKET_MAX_USES" ]; then
        env -u CAST_TICKET_MAX_USES -u CAST_TICKET_GRACE_MS \
            scripts/stack.sh restart ticketd >/dev/null
        local deadline=$((SECONDS + 15))
        while [ "$(rcli HGET '{cast}:ticket' max)" = "$CAST_TICKET_MAX_USES" ]
        do
            ((SECONDS < deadline)) \
                || { echo "bench: ticketd: no default ticket"; exit 1; }
            sleep 0.2
        done
    fi

    fair_share_run fair_share_off off
    fair_share_run fair_share_on "$fair_uses"

    # nginx as the other blocks know it
    scripts/stack.sh restart nginx >/dev/null

    jq -n --argjson off "${res[fair_share_off]}" \
          --argjson on "${res[fair_share_on]}" \
          --argjson n "$fair_uses" --argjson c "$fair_clients" \
          --argjson g "$fair_greedy" --argjson p "$fair_greedy_pct" '
        def ratio(a; b): if b > 0 then (a / b * 1000 | round) / 1000
                         else null end;
        {client_uses: $n, crowd_clients: $c, greedy_clients: $g,
         greedy_percent_of_requests: $p, off: $off, on: $on,
         cost_on_to_off: {
             stack_cpu_per_request: ratio($on.cpu_us_per_request.stack;
                                          $off.cpu_us_per_request.stack),
             nginx_cpu_per_request: ratio($on.cpu_us_per_request.nginx;
                                          $off.cpu_us_per_request.nginx),
             redis_cpu_per_request: ratio($on.cpu_us_per_request.redis;
                                          $off.cpu_us_per_request.redis),
             redis_fcall_calls: ratio($on.redis.fcall_calls;
                                      $off.redis.fcall_calls),
             redis_fcall_usec: ratio($on.redis.fcall_usec;
                                     $off.redis.fcall_usec),
             redis_fcall_usec_per_vote: ratio($on.redis.fcall_usec_per_vote;
                                              $off.redis.fcall_usec_per_vote),
             rps: ratio($on.rps; $off.rps)}}' >"$tmp/fair_share.json"
    jq -r '.off.spread as $a | .on.spread as $b
        | "fair share       uses per ticket: greedy \($a.greedy_uses_per_ticket)"
          + " off, \($b.greedy_uses_per_ticket) on; crowd"
          + " \($a.crowd_uses_per_ticket) off, \($b.crowd_uses_per_ticket) on",
          "                 cost on / off: \(.cost_on_to_off)"' \
        "$tmp/fair_share.json"
}

# BENCH_ONLY=subscriptions: the subscriptions block (bench/sse.sh, below)
# alone on the fresh stack, with tickets of 10^9 uses as in the full run
if [ "${BENCH_ONLY:-}" = subscriptions ]; then
    wrk -t"$threads" -c"$conns" -d3s -s bench/vote.lua "$url/graphql" \
        >/dev/null
    sse=$(bench/sse.sh "$url" "$CAST_REDIS_PORT" "$seconds" "$threads" \
              "$conns")
    mkdir -p bench/results
    file=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-subscriptions.json
    jq -n --arg machine "$(uname -m), $(nproc) cores" \
          --arg wrk "-t$threads -c$conns -d${seconds}s" --argjson s "$sse" \
          '{machine: $machine, wrk: $wrk, subscriptions: $s}' >"$file"
    jq . "$file"
    echo "bench: results in $file"
    exit 0
fi

if [ "${BENCH_ONLY:-}" = fair_share ]; then
    wrk -t"$threads" -c"$conns" -d3s -s bench/vote.lua "$url/graphql" \
        >/dev/null
    fair_share_block
    mkdir -p bench/results
    file=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-fair_share.json
    jq --arg machine "$(uname -m), $(nproc) cores" \
       --arg wrk "-t$threads -c$conns -d${seconds}s" \
       '{machine: $machine, wrk: $wrk, fair_share: .}' \
       "$tmp/fair_share.json" >"$file"
    echo "bench: results in $file"
    exit 0
fi

# --- Redis replication: accepted votes with WAIT -------------------------------
# A second private stack, its ports 1000 above the bench's, with one Redis
# replica and three Sentinels: nginx finds the primary through them and
# waits for the replica after each vote batch (cast_redis_min_replicas 1:
# one WAIT per batch), the relay before producing.  The `vote` run goes in
# turn to the bench's stack (no replica) and to this one, BENCH_REPLICATION_
# ROUNDS times (3), the order swapped each round (plain first, then
# replicated first, ...), so that the VM's drift, which moves a run's rate
# by a quarter within minutes here, falls on both sides of every pair.
# The idle stack's daemons tick meanwhile; neither is counted in the
# other's CPU.  The ratio of each pair (replicated over plain accepted
# votes), their median (`ratio`) and the pooled ratio (all replicated votes
# over all plain ones) go into the JSON's `replication`; `vote_replicated`
# in the results is the replicated run of the median pair.
# BENCH_REPLICATION=0 skips it.  BENCH_ONLY=replication runs this block
# alone (after a 5 s warm-up on each stack) and writes
# bench/results/<UTC time>-replication.json.
repl_var=$top/var/bench-replicated
repl_rounds=${BENCH_REPLICATION_ROUNDS:-3}
repl_json=null

# replicated CMD...: CMD with the environment of the replicated stack
replicated() {
    CAST_VAR=$repl_var CAST_REDIS_REPLICAS=1 CAST_REDIS_MIN_REPLICAS=1 \
    CAST_HTTP_PORT=$((CAST_HTTP_PORT + 1000)) \
    CAST_REDIS_PORT=$((CAST_REDIS_PORT + 1000)) \
    CAST_PG_PORT=$((CAST_PG_PORT + 1000)) \
    CAST_KAFKA_PORT=$((CAST_KAFKA_PORT + 1000)) \
    CAST_KAFKA_CONTROLLER_PORT=$((CAST_KAFKA_CONTROLLER_PORT + 1000)) \
    CAST_TICKETD_HTTP_PORT=$((CAST_TICKETD_HTTP_PORT + 1000)) \
    CAST_RELAY_HTTP_PORT=$((CAST_RELAY_HTTP_PORT + 1000)) \
    CAST_PERSISTER_HTTP_PORT=$((CAST_PERSISTER_HTTP_PORT + 1000)) \
        "$@"
}

# run_replicated NAME: the vote run against the replicated stack, its CPU
# counted over that stack's processes, the fsyncs on its primary
run_replicated() {
    local CAST_VAR=$repl_var url=http://127.0.0.1:$((CAST_HTTP_PORT + 1000))
    local CAST_REDIS_PORT=$((CAST_REDIS_PORT + 1000))
    local -a parts=(redis nginx postgres kafka ticketd relay persister
                    redis-replica1 sentinel1 sentinel2 sentinel3)

    run "$1" /graphql bench/vote.lua
}

replication_block() {
    local i first pairs=() median

    # the bench's stack as the `vote` run had it: tickets of
    # CAST_TICKET_MAX_USES uses, no grace (the herd's blocks change both)
    if [ "$(rcli HGET '{cast}:ticket' max)" != "$CAST_TICKET_MAX_USES" ]; then
        retick max -u CAST_TICKET_GRACE_MS \
            CAST_TICKET_MAX_USES="$CAST_TICKET_MAX_USES"
    fi
    replicated scripts/stack.sh down >/dev/null 2>&1 || true
    rm -rf "$repl_var"
    replicated scripts/stack.sh up >/dev/null
    CAST_REDIS_PORT=$((CAST_REDIS_PORT + 1000)) replication_settled
    wrk -t"$threads" -c"$conns" -d5s -s bench/vote.lua \
        "http://127.0.0.1:$((CAST_HTTP_PORT + 1000))/graphql" >/dev/null

    for i in $(seq "$repl_rounds"); do
        if [ $((i % 2)) = 1 ]; then
            run "vote_plain$i" /graphql bench/vote.lua
            run_replicated "vote_replicated$i"
            first=plain
        else
            run_replicated "vote_replicated$i"
            run "vote_plain$i" /graphql bench/vote.lua
            first=replicated
        fi
        pairs+=("$(jq -n --arg first "$first" \
                      --argjson a "${res[vote_plain$i]}" \
                      --argjson b "${res[vote_replicated$i]}" \
            '{first: $first, vote: $a, vote_replicated: $b,
              ratio: (($b.votes_accepted / $a.votes_accepted * 1000
                       | round) / 1000)}')")
        unset "res[vote_plain$i]" "res[vote_replicated$i]"
    done
    replicated scripts/stack.sh down >/dev/null 2>&1 || true

    repl_json=$(printf '%s\n' "${pairs[@]}" | jq -s '
        (map(.ratio) | sort) as $r
        | {rounds: .,
           ratio: ($r | if length % 2 == 1 then .[length / 2 | floor]
                        else ((.[length / 2 - 1] + .[length / 2]) / 2
                              * 1000 | round) / 1000 end),
           ratio_pooled: (((map(.vote_replicated.votes_accepted) | add)
                           / (map(.vote.votes_accepted) | add)
                           * 1000 | round) / 1000),
           ratios: map(.ratio)}')
    median=$(jq -c '.ratio as $m | .rounds
                    | min_by((.ratio - $m) | fabs) | .vote_replicated' \
                 <<<"$repl_json")
    res[vote_replicated]=$median
    echo "replication      accepted votes with one replica and WAIT over" \
         "those without, pair by pair: $(jq -r '.ratios | join(", ")' \
                                         <<<"$repl_json");" \
         "median $(jq .ratio <<<"$repl_json")," \
         "pooled $(jq .ratio_pooled <<<"$repl_json")"
}

# replication_settled: waits (at most 60 s) until the replica has synced
# and neither Redis rewrites its AOF: a replica that joins loads the
# primary's data, then rewrites its AOF, and the primary forks for the
# sync; a run meanwhile measured that, not replication (its first runs
# were half as fast as the next ones on the same stack)
replication_settled() {
    for _ in $(seq 120); do
        { redis-cli -p "$((CAST_REDIS_PORT + 1))" INFO replication
          redis-cli -p "$((CAST_REDIS_PORT + 1))" INFO persistence
          rcli INFO persistence; } | tr -d '\r' | awk -F: '
            $1 == "master_link_status" && $2 != "up" { busy = 1 }
            $1 == "master_sync_in_progress" && $2 != 0 { busy = 1 }
            $1 == "aof_rewrite_in_progress" && $2 != 0 { busy = 1 }
            $1 == "aof_rewrite_scheduled" && $2 != 0 { busy = 1 }
            $1 == "rdb_bgsave_in_progress" && $2 != 0 { busy = 1 }
            END { exit busy }' && return 0
        sleep 0.5
    done
    echo "bench: the replica did not settle within 60 s"
}

# replication_only: the block alone, its JSON written
replication_only() {
    replication_block
    mkdir -p bench/results
    file=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-replication.json
    jq -n --arg machine "$(uname -m), $(nproc) cores" \
          --arg wrk "-t$threads -c$conns -d${seconds}s" \
          --argjson r "$repl_json" \
          '{machine: $machine, wrk: $wrk, replication: $r,
            ratio: $r.ratio}' >"$file"
    echo "bench: results in $file"
}

export CAST_BENCH_NAMES=1000
expired=$(gql '{"query":"{cas{ticket}}"}' | jq -r .data.cas.ticket)

# warm up: the Kafka broker's JIT, the document caches, the connections
wrk -t"$threads" -c"$conns" -d5s -s bench/vote.lua "$url/graphql" >/dev/null

[ "${BENCH_ONLY:-}" != replication ] || { replication_only; exit 0; }
run ceiling /bench/ceiling
# BENCH_ONLY=herd: the ceiling, vote_rejected and the herd, nothing else
only=${BENCH_ONLY:-}
max_votes=0 lag="" sse=null sweep=()
if [ "$only" != herd ]; then
cmdstats >"$tmp/cmdstats0"
run vote /graphql bench/vote.lua
cmdstats >"$tmp/cmdstats1"
max_votes=$(jq '.votes_accepted' <<<"${res[vote]}")
# Redis's own time per accepted vote in each command (INFO commandstats:
# the time in the command, not the network, the event loop or fsync)
res[vote]=$(jq -c --argjson c "$(cmdstats_json "$tmp/cmdstats0" \
                   "$tmp/cmdstats1" "$max_votes")" \
               '. + {redis_command_usec_per_accepted_vote: $c}' \
               <<<"${res[vote]}")
# how far the pipeline trailed the votes of that run: vote -> PostgreSQL
# row over the events received since it began (the warm-up's, on a cold
# Kafka and PostgreSQL, are left out)
sleep 2
# shellcheck disable=SC1091
lag=$(. "$CAST_VAR/stack.env"
      build/bin/cast-admin lag --seconds $((seconds + 2)) 2>/dev/null \
          | sed -n 's/^lag: //p')
echo "vote pipeline    $lag"
# Redis replication (replication_block above), next to the `vote` run,
# before the other blocks load the bench's stack with millions of events:
# run last, its pairs gave 0.69-0.73 where a BENCH_ONLY=replication run
# minutes later gave 0.78-1.00 (bench/results/20261206T201414Z.json,
# 20261206T201710Z-replication.json)
if [ "${BENCH_REPLICATION:-1}" = 1 ]; then
    replication_block
fi
vote_front_block
vote_everysec_block
CAST_BENCH_BODY='{"query":"query($u:String!){query(username:$u)}","variables":{"u":"bench-1"}}' \
    run query /graphql bench/graphql.lua
CAST_BENCH_BODY='{"query":"{cas{ticket validUntil remainingUsage}}"}' \
    run cas /graphql bench/graphql.lua
fi
CAST_BENCH_BODY="{\"query\":\"mutation(\$t:String!){vote(usernames:[\\\"x\\\"],ticket:\$t){success message}}\",\"variables\":{\"t\":\"$expired\"}}" \
    run vote_rejected /graphql bench/graphql.lua

# --- subscriptions (issue 15): 10,000 SSE streams on one worker ---------------
# (here, while tickets allow 10^9 uses: its vote runs are accepted votes)

if [ "$only" != herd ]; then
echo "bench: subscriptions (bench/sse.sh)"
sse=$(bench/sse.sh "$url" "$CAST_REDIS_PORT" "$seconds" "$threads" "$conns" \
          || echo null)
jq -r 'if . == null then "subscriptions    failed" else
       "subscriptions    \(.subscribers) streams, \(.rss_kb_per_subscriber)"
       + " kB each, \(.redis_calls_per_tick) Redis calls per tick, delay"
       + " p99 \(.delay_ms.p99) ms, votes x\(.vote_rps.ratio), queries"
       + " x\(.query_rps.ratio)",
       "                 kernel floor next to wrk: votes"
       + " x\(.kernel_floor.concurrent.vote_rps_ratio), queries"
       + " x\(.kernel_floor.concurrent.query_rps_ratio) at"
       + " \(.kernel_floor.concurrent.events_per_s) events/s; votes"
       + " x\(.kernel_floor.concurrent_at_cast_rate.vote_rps_ratio), queries"
       + " x\(.kernel_floor.concurrent_at_cast_rate.query_rps_ratio) at"
       + " \(.kernel_floor.concurrent_at_cast_rate.events_per_s) events/s"
       + " (the streams \(.events_per_s_with_wrk))" end' <<<"$sse"
fi


# --- latency sweep: accepted votes at constant offered rates -------------------
#
# wrk keeps 64 requests in flight and sends the next only when one is
# answered, so it measures at saturation and, when the server stalls, sends
# less instead of queueing (coordinated omission).  cast-load
# (bench/cast_load.c) sends at a constant rate, on a schedule of its own:
# request `seq` of a run is due at start + (seq + 1) / rate.  The latency
# counted is from that due time to the answer, so a request that it sent
# late (no idle connection, a busy core) counts its wait.  A vote needs the
# current ticket, which rotates every period: each run stays inside one
# ticket's validity, with a fresh ticket, and ticketd runs with a grace of
# one period meanwhile, so that a vote sent in time but still queued when
# its ticket rotates is accepted all the same.  vegeta did this before; it
# spent ten times wrk's CPU per request and, on two cores, sent only
# 53,478 of 72,902 due requests at 50 % (bench/results/20261206T083612Z.json).

# metric NAME OUTCOME: a counter of the nginx module's /metrics
votes_metric() {
    curl -s "$url/metrics" \
        | awk -v k="cast_votes_total{outcome=\"$1\"}" '$1 == k { print $2 }'
}

votes_refused() {
    local o n=0

    for o in invalid expired exhausted bad_input unavailable; do
        n=$((n + $(votes_metric "$o")))
    done
    echo "$n"
}

now_ms() {
    echo $((${EPOCHREALTIME/./} / 1000))
}

# ticket_until: the current ticket and when it expires (ms since the
# epoch) into ticket and until; asks again while the answer is an error
# (Redis busier than the module's timeout)
ticket_until() {
    local cas tries=0

    until cas=$(gql '{"query":"{cas{ticket validUntil}}"}' \
                | jq -re '.data.cas | select(.ticket)
                          | "\(.ticket) \(.validUntil)"'); do
        ((++tries < 50)) || { echo "bench: cas: no ticket"; exit 1; }
        sleep 0.1
    done
    ticket=${cas% *}
    until=$(date -d "${cas#* }" +%s%3N)
}

# sweep_window RATE LAT: one cast-load run of RATE votes/s with the
# current ticket until shortly before it expires, its per-request latencies
# appended to LAT; adds its duration in ms to ms, its due and sent requests
# to due and sent, cast-load's CPU ticks to vt
sweep_window() {
    local rate=$1 lat=$2 ticket until left t out body

    ticket_until
    left=$((until - $(now_ms)))
    if ((left < 800)); then
        ((left < 0)) || sleep "$(awk -v l="$left" 'BEGIN { print (l + 20) / 1000 }')"
        ticket_until
    fi
    # until 200 ms before the ticket expires; the grace covers the votes
    # still queued
    left=$((until - $(now_ms) - 200))
    ((left >= 300)) || return 0
    body=$(printf '%s%s%s' \
        '{"query":"mutation($u:[String!]!,$c:[Int!],$t:String!)' \
        '{vote(usernames:$u,voteCount:$c,ticket:$t){success message}}",' \
        "\"variables\":{\"u\":[\"bench-%d\"],\"c\":[1],\"t\":\"$ticket\"}}")
    # as many connections at most as wrk has: when the stack falls behind,
    # requests wait for one and their wait counts from their due time
    t=$(shell_ticks)
    out=$("$load" -u "$url/graphql" -r "$rate" -d "$left" -c "$conns" \
              -n "$CAST_BENCH_NAMES" -b "$body" -t 10000 -o "$lat")
    vt=$((vt + $(shell_ticks) - t))
    due=$((due + $(sed -n 's/.*\bdue=\([0-9]*\).*/\1/p' <<<"$out")))
    sent=$((sent + $(sed -n 's/.*\bsent=\([0-9]*\).*/\1/p' <<<"$out")))
    ms=$((ms + left))
}

# latencies LAT: "p50 p99 max errors p99_uncorrected", in ms, of the
# requests of cast-load's -o file LAT (latency from the due time, from the
# send time or -1, failed)
latencies() {
    sort -g -k1,1 "$1" | awk '
        { v[NR] = $1; e += $3 }
        END { printf "%s %s %s %d ", v[int(NR * 0.5 + 0.999)],
                  v[int(NR * 0.99 + 0.999)], v[NR], e }'
    awk '$2 >= 0' "$1" | sort -g -k2,2 | awk '{ v[NR] = $2 }
        END { print v[int(NR * 0.99 + 0.999)] }'
}

# retick FIELD ENV...: ticketd restarted with other settings (env(1)
# arguments); the tickets it mints from its next period on carry them.
# Waits until the current ticket's FIELD differs from what it was.
retick() {
    local field=$1 was deadline=$((SECONDS + 15))

    shift
    was=$(rcli HGET '{cast}:ticket' "$field")
    env "$@" scripts/stack.sh restart ticketd >/dev/null
    while [ "$(rcli HGET '{cast}:ticket' "$field")" = "$was" ]; do
        ((SECONDS < deadline)) \
            || { echo "bench: ticketd: no ticket with new settings"; exit 1; }
        sleep 0.2
    done
}

# shellcheck disable=SC1091
period=$(. "$CAST_VAR/stack.env"; echo "$CAST_TICKET_PERIOD_MS")
if [ "$only" != herd ]; then
# a vote sent in time but still queued when its ticket rotates counts
retick grace CAST_TICKET_GRACE_MS="$period"

echo
echo "latency sweep: accepted votes at a constant rate (cast-load), against" \
     "the $((max_votes / seconds)) votes/s of the wrk run"
for pct in $sweep_percents; do
    rate=$((max_votes * pct / (seconds * 100)))
    lat=$tmp/sweep-$pct.lat
    : >"$lat"
    a0=$(votes_metric accepted)
    r0=$(votes_refused)
    ms=0 vt=0 due=0 sent=0
    disk_begin
    while ((ms < sweep_seconds * 1000)); do
        sweep_window "$rate" "$lat"
    done
    disk_end
    accepted=$(($(votes_metric accepted) - a0))
    refused=$(($(votes_refused) - r0))
    read -r p50 p99 pmax errors p99raw < <(latencies "$lat")
    sweep+=("$(printf '{"percent": %s, "offered_rps": %s, "seconds": %s, "due": %s, "sent": %s, "accepted_rps": %s, "accepted": %s, "refused": %s, "errors": %s, "p50_ms": %s, "p99_ms": %s, "max_ms": %s, "p99_uncorrected_ms": %s, "load_cpu_us_per_request": %s, "disk": %s}' \
        "$pct" "$rate" "$(awk -v m="$ms" 'BEGIN { print m / 1000 }')" \
        "$due" "$sent" "$(awk -v a="$accepted" -v m="$ms" 'BEGIN { printf "%.0f", a * 1000 / m }')" \
        "$accepted" "$refused" "$errors" "$p50" "$p99" "$pmax" "$p99raw" \
        "$(awk -v t="$vt" -v n="$sent" -v hz="$clk_tck" \
               'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')" \
        "$(disk_json "$accepted")")")
    printf '%3s %%  %6s votes/s offered  %6s of %s due sent  %6s accepted' \
        "$pct" "$rate" "$sent" "$due" "$accepted"
    printf '  %s refused  %s errors' "$refused" "$errors"
    printf '   p50 %7.3f ms   p99 %8.3f ms   (p99 from the send time %.3f ms)\n' \
        "$p50" "$p99" "$p99raw"
    printf '        Redis fsync: %s\n' \
        "$(jq -c '.[-1].disk.redis_fsync' <<<"[${sweep[-1]}]")"
done
fi


# --- the thundering herd: the default uses per ticket --------------------------
#
# ticketd restarted with the stack's default limit and grace.  Redis counts
# the FCALLs of nginx's vote batches and of ticketd's lease and mint
# calls: the rate of the latter is measured over two quiet periods first
# and taken off.  Each exhausted ticket accepted exactly its uses, so the
# accepted votes tell how many tickets the herd exhausted.  Redis's
# MONITOR, over the run, tells the vote batches apart (herd_calls): those
# that carried a vote Redis could still accept, and those that came after
# Redis had taken every use of each ticket they carried (after it called
# the ticket exhausted: the ones a worker could have refused by itself).

fcall() {
    rcli INFO commandstats | tr -d '\r' \
        | awk -F'[:=,]' '$1 == "cmdstat_fcall" { print $3, $5 }'
}

# herd_calls MONITOR USES: "calls after tickets" of the cast_votes
# calls in the MONITOR output: all of them, those after every ticket they
# carried had had USES votes before (no idempotency keys in the bench),
# and the tickets that had USES votes.  A vote's arguments: ticket voter
# idem seq client share n, then n pairs name count.
herd_calls() {
    awk -v m="$2" '
        function arg(i) { return substr($i, 2, length($i) - 2) }
        $4 == "\"FCALL\"" && $5 == "\"cast_votes\"" {
            split("", inc)
            late = 1
            for (i = 7; i + 6 <= NF; i += 7 + 2 * arg(i + 6)) {
                t = arg(i)
                if (seen[t] + inc[t] < m) late = 0
                inc[t]++
            }
            for (t in inc) seen[t] += inc[t]
            calls++
            after += late
        }
        END {
            for (t in seen) if (seen[t] >= m) spent++
            print calls + 0, after + 0, spent + 0
        }' "$1"
}

# herd_pairs N: the first herd run's numbers with, for each of the N herd
# runs, its rps, the ceilings right before and after it and its ratio to
# their mean ("adjacent"), and the median ratio (ratio_to_adjacent_ceiling)
herd_pairs() {
    local i adj=""

    for ((i = 1; i <= $1; i++)); do
        adj+=$(jq -c --argjson a "${res[ceiling_adjacent_$((i - 1))]}" \
                     --argjson b "${res[ceiling_adjacent_$i]}" '
            {rps, ceiling_adjacent_rps: [$a.rps, $b.rps],
             ratio: ((.rps / (($a.rps + $b.rps) / 2) * 1000 | round)
                     / 1000)}' <<<"${res[herd_run_$i]}")
    done
    jq -c --slurpfile p <(printf '%s\n' "$adj") '
        . + {adjacent: $p,
             ratio_to_adjacent_ceiling: ([$p[].ratio] | sort
                                          | .[length / 2 | floor])}' \
        <<<"${res[herd_run_1]}"
}

herd_block() {
    local herd_uses q0 q1 background f0 u0 f1 u1 mon workers calls after
    local spent herd i

    echo
    retick max -u CAST_TICKET_MAX_USES -u CAST_TICKET_GRACE_MS
    herd_uses=$(rcli HGET '{cast}:ticket' max)
    read -r q0 _ < <(fcall)
    sleep "$(awk -v p="$period" 'BEGIN { print 2 * p / 1000 }')"
    read -r q1 _ < <(fcall)
    background=$(awk -v a="$q0" -v b="$q1" -v p="$period" \
                     'BEGIN { printf "%.2f", (b - a) * 1000 / (2 * p) }')

    # the ceiling again right before and after: the VM's speed drifts by
    # up to a half within one bench (a ceiling of 109,056 req/s and one of
    # 127,927 a run apart, 20261207T012332Z-herd.json), so the herd is
    # judged against these, not against the ceiling of the bench's start.
    # Three herd runs, each between two ceilings (HERD_PAIRS of them):
    # ratio_to_adjacent_ceiling is the median of the three ratios.  The
    # first herd run is the one whose numbers are kept, with Redis's
    # MONITOR over it.
    run ceiling_adjacent_0 /bench/ceiling
    redis-cli -p "$CAST_REDIS_PORT" MONITOR >"$tmp/monitor" &
    mon=$!
    read -r f0 u0 < <(fcall)
    run vote_exhausted /graphql bench/vote.lua
    read -r f1 u1 < <(fcall)
    kill "$mon"
    wait "$mon" 2>/dev/null || true
    run ceiling_adjacent_1 /bench/ceiling
    res[herd_run_1]=${res[vote_exhausted]}
    for ((i = 2; i <= ${HERD_PAIRS:-3}; i++)); do
        run "herd_run_$i" /graphql bench/vote.lua
        run "ceiling_adjacent_$i" /bench/ceiling
    done
    res[vote_exhausted]=$(herd_pairs "${HERD_PAIRS:-3}")
    # here, not in herd_pairs: a command substitution's unset is its own
    for ((i = 0; i <= ${HERD_PAIRS:-3}; i++)); do
        unset "res[herd_run_$i]" "res[ceiling_adjacent_$i]"
    done
    echo "vote_exhausted   $(jq -r '.ratio_to_adjacent_ceiling as $m
                                 | [.adjacent[].ratio | tostring]
                                 | join(", ") + " x the mean of the"
                                   + " ceilings right before and after"
                                   + " each run: median \($m)"' \
                                 <<<"${res[vote_exhausted]}")"
    read -r calls after spent < <(herd_calls "$tmp/monitor" "$herd_uses")
    workers=$(($(ps -s "$(cat "$CAST_VAR/run/nginx.pid")" -o pid= | wc -l) - 1))
    herd=$(jq '.votes_accepted' <<<"${res[vote_exhausted]}" \
           | awk -v f="$((f1 - f0))" -v u="$((u1 - u0))" -v bg="$background" \
                 -v s="$seconds" -v w="$workers" -v m="$herd_uses" \
                 -v c="$calls" -v a="$after" -v sp="$spent" '
        {
            b = f - bg * s; if (b < 0) b = 0
            t = int($1 / m); if (t < 1) t = 1
            if (sp < 1) sp = 1
            printf "{\"ticket_max_uses\": %d, \"exhausted_tickets\": %d, ", m, t
            printf "\"nginx_workers\": %d, \"redis_fcall_calls\": %d, ", w, f
            printf "\"redis_fcall_usec_per_call\": %.2f, ", f ? u / f : 0
            printf "\"background_fcall_per_s\": %s, ", bg
            printf "\"vote_batch_calls\": %.0f, ", b
            printf "\"vote_batch_calls_per_s\": %.0f, ", b / s
            printf "\"vote_batch_calls_per_ticket\": %.1f, ", b / t
            printf "\"vote_batch_calls_per_ticket_per_worker\": %.1f, ", b / t / w
            printf "\"monitor\": {\"vote_batch_calls\": %d, ", c
            printf "\"spent_tickets\": %d, ", sp
            printf "\"vote_batch_calls_accepting\": %d, ", c - a
            printf "\"vote_batch_calls_after_exhausted\": %d, ", a
            printf "\"vote_batch_calls_accepting_per_ticket_per_worker\": "
            printf "%.1f, ", (c - a) / sp / w
            printf "\"vote_batch_calls_after_exhausted_per_ticket_per_worker\": "
            printf "%.1f}}", a / sp / w
        }')
    res[vote_exhausted]=$(jq -c --argjson h "$herd" '. + {redis: $h}' \
                              <<<"${res[vote_exhausted]}")
    printf '%-16s Redis: %s\n' '' "$herd"
}

herd_block
[ "$only" = herd ] || fair_share_block


# --- the results ---------------------------------------------------------------

mkdir -p bench/results
file=bench/results/$(date -u +%Y%m%dT%H%M%SZ)${only:+-$only}.json
names=()
for n in ceiling vote vote_front vote_everysec vote_exhausted vote_rejected \
    query cas vote_replicated
do
    [ -z "${res[$n]:-}" ] || names+=("$n")
done
for n in "${names[@]}"; do
    printf '{"%s": %s}\n' "$n" "${res[$n]}"
done | jq -s add >"$tmp/results.json"
printf '%s\n' "${sweep[@]}" | jq -s . >"$tmp/sweep.json"
jq -n --slurpfile r "$tmp/results.json" --slurpfile s "$tmp/sweep.json" \
      --arg machine "$(uname -m), $(nproc) cores" \
      --arg wrk "-t$threads -c$conns -d${seconds}s" \
      --arg fsync "$(rcli CONFIG GET appendfsync | sed -n 2p)" \
      --arg lag "$lag" --argjson max "$((max_votes / seconds))" \
      --arg gen "cast-load" --argjson grace "$period" \
      --argjson cores "$(nproc)" '
    ($r[0].ceiling) as $c
    | {machine: $machine, wrk: $wrk, redis_appendfsync: $fsync,
       results: ($r[0] | with_entries(.value |= (
           {rps, p50_ms, p99_ms,
            ratio_to_ceiling: ((.rps / $c.rps * 1000 | round) / 1000),
            p99_to_ceiling_p99: ((.p99_ms / $c.p99_ms * 100 | round) / 100)}
           + .))),
       latency_sweep: {load_generator: $gen, max_accepted_rps: $max,
                       ticket_grace_ms: $grace, points: $s[0]},
       vote_pipeline_lag: $lag}
    # what the cores allow: all their CPU time over the CPU per accepted
    # vote of the stack and of the load generator
    | if .results.vote then
          (.results.vote.cpu_us_per_accepted_vote) as $v
          | ($v.stack + $v.wrk) as $per
          | .vote_cpu_bound = {
              cores: $cores,
              cpu_us_per_accepted_vote: $per,
              max_accepted_rps: (($cores * 1e6 / $per) | round),
              max_ratio_to_ceiling: (($cores * 1e6 / $per / $c.rps
                                      * 1000 | round) / 1000),
              cpu_us_per_accepted_vote_for_0_25: ((($cores * 1e6)
                  / (0.25 * $c.rps) * 10 | round) / 10),
              measured_share_of_max: ((.results.vote.rps
                  / ($cores * 1e6 / $per) * 1000 | round) / 1000)}
      else . end' >"$file"
if [ -f "$tmp/fair_share.json" ]; then
    jq --slurpfile f "$tmp/fair_share.json" '. + {fair_share: $f[0]}' "$file" \
        >"$tmp/with_fair.json" && mv "$tmp/with_fair.json" "$file"
fi

jq --argjson s "$sse" --argjson r "$repl_json" \
   '. + {subscriptions: $s, replication: $r}' "$file" >"$tmp/with-sse.json"
mv "$tmp/with-sse.json" "$file"

echo
for n in "${names[@]:1}"; do
    jq -r --arg n "$n" '.results[$n]
        | "\($n | . + " " * (16 - length)) \(.ratio_to_ceiling) x ceiling,"
          + " p99 \(.p99_to_ceiling_p99) x the ceiling p99"' "$file"
done

if [ "$only" = herd ]; then
    echo "bench: results in $file"
    exit 0
fi

if [ -x build/bench/bench_gql ]; then
    echo
    build/bench/bench_gql
fi

echo
echo "vote pipeline: $lag"

bench/plot.sh "$file"
echo "bench: results in $file, picture in ${file%.json}.svg"
