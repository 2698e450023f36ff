#!/usr/bin/env bash
#
# The subscriptions workload of make bench (scripts/bench.sh runs it on
# its private stack; it prints one JSON object): BENCH_SSE_SUBSCRIBERS
# (10000) Server-Sent Events streams held by build/bench/sse_load on one
# nginx worker of their own (same module, same Redis), while wrk sends
# votes and then queries to the stack's nginx.
#
#   subscribers, lost          streams that came up, and that failed
#   rss_kb_per_subscriber      the worker's RSS after they came up, less
#                              before, per stream (/proc/PID/status)
#   redis_calls_per_tick       FCALL_RO calls in Redis over an idle 5 s
#                              with every stream open, per tick of the
#                              worker (its cast_subscription_tick count)
#   delay_ms                   a probe vote every 100 ms: from its answer
#                              to each subscriber's event showing it
#                              (p50, p99, max), votes flowing meanwhile
#   worker_cpu_us_per_event    the worker's CPU (/proc/PID/stat) while the
#                              streams were up, per event delivered
#   vote_rps, query_rps        wrk through the stack's nginx without the
#                              streams and with them, and their ratio;
#                              without_again: the same without anything
#                              at the end of the block (drift: over the
#                              first), ratio_bracketed: with over the
#                              mean of the two (the run's drift halved)
#   events_per_s_with_wrk      the events the worker sent while the wrk
#                              runs with the streams went, per second
#                              (cast_subscription_events_total), its
#                              ticks per second (10 on time) and a
#                              tick's mean time (its Redis call and the
#                              events it sent: cast_subscription_tick_*)
#   kernel_floor               build/bench/sse_floor (no nginx, no HTTP:
#                              one process send()s an event of the
#                              streams' mean size to each of as many
#                              loopback streams per tick, another reads
#                              them from one epoll set), neither pinned,
#                              as nginx and sse_load are not:
#     alone                    for 5 s after the rest, nothing else
#                              running: CPU per event of the writer and
#                              of the reader, a tick's fan-out, and the
#                              delay a vote answered at a random time
#                              would see (to the read of its stream)
#     concurrent               while the same wrk runs go, ticking every
#                              cast_subscription_interval (every stream
#                              an event a tick, the rate the delay target
#                              needs for a view that changes every tick):
#                              the votes' and queries' rate and their
#                              ratios (as CAST's, both kinds), and
#                              the same CPU, fan-out and delay
#     concurrent_at_cast_rate  the same at the rate the worker reached
#                              (events_per_s_with_wrk): like for like
#
# Usage: bench/sse.sh URL REDIS_PORT SECONDS THREADS CONNECTIONS

set -euo pipefail

url=$1 redis_port=$2 seconds=$3 threads=$4 conns=$5
top=$(cd "$(dirname "$0")/.." && pwd)
n=${BENCH_SSE_SUBSCRIBERS:-10000}
# below the ephemeral ports (32768-): sse_load and wrk take thousands
port=${BENCH_SSE_PORT:-$((30090 + ${CAST_BENCH_PORT_OFFSET:-0}))}
dir=$(mktemp -d)
load=$top/build/bench/sse_load
floor=$top/build/bench/sse_floor
interval_ms=100                 # cast_subscription_interval's default
stack_port=${url##*:}

nginx_pid=
load_pid=
# the nginx stops gracefully (its streams complete), 10 s at most
stop_nginx() {
    [ -n "$nginx_pid" ] || return 0
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$nginx_pid" 2>/dev/null || { nginx_pid=; return 0; }
        sleep 0.1
    done
    kill -KILL "$nginx_pid" 2>/dev/null || true
    nginx_pid=
}
cleanup() {
    if [ -n "$load_pid" ]; then
        kill "$load_pid" 2>/dev/null || true
    fi
    stop_nginx
    rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/logs"
cat >"$dir/nginx.conf" <<EOF
load_module $top/build/ngx_http_cast_module.so;
worker_processes 1;
worker_rlimit_nofile $((n + 2048));
daemon on;
error_log $dir/logs/error.log notice;
pid $dir/nginx.pid;
events { worker_connections $((n + 1024)); }
http {
    access_log off;
    cast_redis 127.0.0.1:$redis_port;
    cast_redis_functions $top/lib/redis/cast.lua;
    cast_max_subscribers $((n + 100));
    # nginx's stock pool and buffer sizes: a stream lets its request go
    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /graphql { cast_graphql; }
        location = /metrics { cast_metrics; }
    }
}
EOF

nginx -p "$dir/" -c "$dir/nginx.conf"
for _ in $(seq 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
nginx_pid=$(cat "$dir/nginx.pid")
sleep 0.5
worker=$(pgrep -P "$nginx_pid" | head -1)

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$worker/status"; }
# the worker's CPU so far, in clock ticks (user + system)
cpu() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }
fcall_ro() {
    redis-cli -p "$redis_port" INFO commandstats \
        | sed -n 's/^cmdstat_fcall_ro:calls=\([0-9]*\),.*/\1/p'
}
metric() {
    curl -s "http://127.0.0.1:$port/metrics" \
        | awk -v m="$1" '$1 == m { print $2 }'
}
ticks() { metric cast_subscription_tick_seconds_count; }
tick_s() { metric cast_subscription_tick_seconds_sum; }
sent() { metric cast_subscription_events_total; }
now() { date +%s.%N; }
wrk_rps() {
    wrk -t"$threads" -c"$conns" -d"${seconds}s" ${2:+-s "$2"} "$url$1" \
        | awk '/^Requests\/sec:/ { print $2 }'
}

export CAST_BENCH_NAMES=1000
# shellcheck disable=SC2016 # GraphQL variables, not the shell's
export CAST_BENCH_BODY='{"query":"query($u:String!){query(username:$u)}","variables":{"u":"bench-1"}}'

# without the streams
vote0=$(wrk_rps /graphql "$top/bench/vote.lua")
query0=$(wrk_rps /graphql "$top/bench/graphql.lua")

rss0=$(rss)
cpu0=$(cpu)
hold=$((5 + 2 * seconds + 10))
"$load" -p "$port" -n "$n" -s "$hold" -u "sse-probe-$$" -v "$stack_port" -w 7 \
    >"$dir/load.out" 2>"$dir/load.err" &
load_pid=$!
for _ in $(seq 1200); do
    grep -q '^connected' "$dir/load.out" && break
    sleep 0.1
done
connected=$(awk '/^connected/ { print $2 }' "$dir/load.out")
sleep 1
rss1=$(rss)

# idle (the probes start 7 s after the streams are up): what reaches
# Redis per tick with every stream open
c0=$(fcall_ro) t0=$(ticks)
sleep 5
c1=$(fcall_ro) t1=$(ticks)

# with the streams
e0=$(sent) k0=$(ticks) s0=$(tick_s) w0=$(now)
vote1=$(wrk_rps /graphql "$top/bench/vote.lua")
query1=$(wrk_rps /graphql "$top/bench/graphql.lua")
e1=$(sent) k1=$(ticks) s1=$(tick_s) w1=$(now)
rate=$(jq -n "($e1 - $e0) / ($w1 - $w0) | round")
tick_rate=$(jq -n "($k1 - $k0) / ($w1 - $w0) * 100 | round / 100")
tick_ms=$(jq -n "if $k1 > $k0 then ($s1 - $s0) / ($k1 - $k0) * 1e4 | round / 10
                 else null end")

wait "$load_pid" || true
load_pid=
cpu1=$(cpu)
result=$(grep '^{' "$dir/load.out")

stop_nginx

# the kernel's floor: an event of the streams' mean size, alone, then
# while the same wrk runs go (at the target's rate and at the worker's)
size=$(jq -n --argjson r "$result" \
           'if $r.events > 0 then $r.bytes / $r.events | round else 100 end')
floor_alone=$("$floor" -n "$n" -s 5 -i "$interval_ms" -b "$size" \
              2>/dev/null | grep '^{' || echo null)

floor_with() {
    local pid v q f

    "$floor" -n "$n" -s $((2 * seconds + 1)) -i "$1" -b "$size" \
        >"$dir/floor.out" 2>/dev/null &
    pid=$!
    for _ in $(seq 600); do
        grep -q '^connected' "$dir/floor.out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    v=$(wrk_rps /graphql "$top/bench/vote.lua")
    q=$(wrk_rps /graphql "$top/bench/graphql.lua")
    wait "$pid" || true
    f=$(grep '^{' "$dir/floor.out" || echo null)
    jq -n --argjson f "$f" --argjson v "$v" --argjson q "$q" '
        if $f == null then null else
        {interval_ms: $f.interval_ms, events_per_s: $f.events_per_s,
         complete: $f.complete, vote_rps: $v, query_rps: $q,
         writer_cpu_us_per_event: $f.writer_cpu_us_per_event,
         reader_cpu_us_per_event: $f.reader_cpu_us_per_event,
         fanout_ms_per_tick: $f.fanout_ms_per_tick,
         delay_ms: $f.delay_ms} end'
}

floor_target=$(floor_with "$interval_ms")
if [ "$rate" -gt 0 ]; then
    floor_cast=$(floor_with "$(jq -n "$n * 1000 / $rate")")
else
    floor_cast=null
fi

# nothing else again: how far the run drifted
vote2=$(wrk_rps /graphql "$top/bench/vote.lua")
query2=$(wrk_rps /graphql "$top/bench/graphql.lua")

jq -n --argjson r "$result" --argjson n "$n" \
      --argjson connected "${connected:-0}" \
      --argjson rss0 "$rss0" --argjson rss1 "$rss1" \
      --argjson calls "$((c1 - c0))" --argjson ticks "$((t1 - t0))" \
      --argjson v0 "$vote0" --argjson v1 "$vote1" \
      --argjson q0 "$query0" --argjson q1 "$query1" \
      --argjson v2 "$vote2" --argjson q2 "$query2" --argjson rate "$rate" \
      --argjson tick_rate "$tick_rate" --argjson tick_ms "$tick_ms" \
      --argjson size "$size" --argjson alone "$floor_alone" \
      --argjson target "$floor_target" --argjson like "$floor_cast" \
      --argjson cpu "$(( (cpu1 - cpu0) * 1000000 / $(getconf CLK_TCK) ))" '
    def r3: . * 1000 | round / 1000;
    def ratios:
        if . == null then null else
        . + {vote_rps_ratio: (.vote_rps / $v0 | r3),
             query_rps_ratio: (.query_rps / $q0 | r3),
             vote_rps_ratio_bracketed: (.vote_rps / ($v0 + $v2) * 2 | r3),
             query_rps_ratio_bracketed: (.query_rps / ($q0 + $q2) * 2 | r3)}
        end;
    {subscribers_asked: $n, subscribers: $connected, lost: $r.lost,
     rss_kb_before: $rss0, rss_kb_after: $rss1,
     rss_kb_per_subscriber:
         (if $connected > 0
          then (($rss1 - $rss0) / $connected * 100 | round) / 100
          else null end),
     idle_redis_fcall_ro: $calls, idle_ticks: $ticks,
     redis_calls_per_tick:
         (if $ticks > 0 then ($calls / $ticks * 100 | round) / 100
          else null end),
     events: $r.events, probes: $r.probes,
     worker_cpu_us_per_event:
         (if $r.events > 0 then ($cpu / $r.events * 100 | round) / 100
          else null end),
     delay_ms: {p50: $r.p50_ms, p99: $r.p99_ms, max: $r.max_ms},
     vote_rps: {without: $v0, with: $v1, ratio: ($v1 / $v0 | r3),
                without_again: $v2, drift: ($v2 / $v0 | r3),
                ratio_bracketed: ($v1 / ($v0 + $v2) * 2 | r3)},
     query_rps: {without: $q0, with: $q1, ratio: ($q1 / $q0 | r3),
                 without_again: $q2, drift: ($q2 / $q0 | r3),
                 ratio_bracketed: ($q1 / ($q0 + $q2) * 2 | r3)},
     events_per_s_with_wrk: $rate, ticks_per_s_with_wrk: $tick_rate,
     tick_ms_with_wrk: $tick_ms,
     kernel_floor:
         {bytes_per_event: $size,
          alone: (if $alone == null then null else
                  $alone | {interval_ms, events_per_s,
                            writer_cpu_us_per_event,
                            reader_cpu_us_per_event, fanout_ms_per_tick,
                            delay_ms}
                  end),
          concurrent: ($target | ratios),
          concurrent_at_cast_rate: ($like | ratios)}}'
