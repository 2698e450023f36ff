#!/usr/bin/env bash
#
# make soak: hostile and ordinary traffic for SOAK_SECONDS (900) against a
# fresh private stack whose nginx runs the module built with ASan and UBSan
# (libasan preloaded, as in scripts/test.sh) and whose daemons are the
# sanitized ones of build/san/bin.  build/soak/cast-soak sends the traffic
# (t/soak/soak.c says what); this script starts and stops the stack,
# samples the workers' memory and judges the end state.
#
# PASS needs all of:
#   - no sanitizer report (ASan, UBSan) from nginx or a daemon, and no
#     nginx worker that exited on a signal;
#   - every answer one well-formed JSON document that answers its own
#     request (cast-soak checks each; failures.log has every failure);
#   - each worker's VmRSS at the end of the load within 5 % of its VmRSS
#     at the end of the warm-up: max(60 s, SOAK_SECONDS / 5), which also
#     fills ASan's quarantine (quarantine_size_mb=64);
#   - after the pipeline drained, `cast-admin check` clean (Redis ==
#     PostgreSQL), and Redis == the client's ledger: every acknowledged
#     vote counted once, nothing counted that no vote asked for (votes
#     whose client left or that were told UNAVAILABLE may count or not).
#
# Environment: SOAK_SECONDS (900), SOAK_RATE (400 background requests a
# second; each pause adds SOAK_CHURN (800) documents), SOAK_CONNS (64),
# SOAK_PAUSE_EVERY (4000 ms), SOAK_PAUSE_MAX (700 ms),
# CAST_SOAK_PORT_OFFSET (0) moves every port, SOAK_OUT (the folder for
# the logs: var/soak-runs/<UTC time>), SOAK_SAN=0 runs the plain build
# instead (what a production nginx answers: no sanitizer to stop it).
# The stack lives in var/soak and is stopped at the end, whatever
# happened.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

seconds=${SOAK_SECONDS:-900}
warmup=$((seconds / 5 > 60 ? seconds / 5 : 60))
# RSS is compared over 30 s after the warm-up and the last 30 s
((seconds >= warmup + 60)) \
    || { echo "soak: SOAK_SECONDS must be at least 120" >&2; exit 2; }

# below the ephemeral ports (32768-60999), apart from the other stacks
o=${CAST_SOAK_PORT_OFFSET:-0}
export CAST_VAR=$ROOT/var/soak
export CAST_HTTP_PORT=$((11080 + o))
export CAST_REDIS_PORT=$((11379 + o))
export CAST_PG_PORT=$((11432 + o))
export CAST_KAFKA_PORT=$((11092 + o))
export CAST_KAFKA_CONTROLLER_PORT=$((11093 + o))
export CAST_TICKETD_HTTP_PORT=$((11101 + o))
export CAST_RELAY_HTTP_PORT=$((11102 + o))
export CAST_PERSISTER_HTTP_PORT=$((11103 + o))
# votes are accepted unless their ticket expired
export CAST_TICKET_MAX_USES=1000000000
if [[ ${SOAK_SAN:-1} == 1 ]]; then
    export CAST_BIN=$ROOT/build/san/bin
    export CAST_NGINX_MODULE=$ROOT/build/san/ngx_http_cast_module.so
    CAST_NGINX_PRELOAD=$(cc -print-file-name=libasan.so)
    export CAST_NGINX_PRELOAD
    flavour="ASan+UBSan nginx and daemons"
else
    export CAST_BIN=$ROOT/build/bin
    export CAST_NGINX_MODULE=$ROOT/build/ngx_http_cast_module.so
    flavour="the plain build, NO sanitizers (SOAK_SAN=0)"
fi

CLIENT=$ROOT/build/soak/cast-soak
OUT=${SOAK_OUT:-$ROOT/var/soak-runs/$(date -u +%Y%m%dT%H%M%SZ)}
SAN_PATTERN="AddressSanitizer|runtime error|Sanitizer|Can't open file"

for f in "$CLIENT" "$CAST_NGINX_MODULE" "$CAST_BIN/cast-admin"; do
    [[ -e $f ]] || { echo "soak: $f is missing (make soak builds it)" >&2
                     exit 2; }
done

mkdir -p "$OUT"
# the workers run as nobody: the reports go where anyone may write
SAN_DIR=$(mktemp -d /tmp/cast-soak-san.XXXXXX)
chmod 1777 "$SAN_DIR"
ASAN_OPTIONS="log_path=$SAN_DIR/asan:detect_leaks=0:quarantine_size_mb=64"
export ASAN_OPTIONS
export UBSAN_OPTIONS="log_path=$SAN_DIR/ubsan:print_stacktrace=1"

sampler=


say() {
    printf 'soak: %s\n' "$*"
}


finish() {
    [[ -z $sampler ]] || kill "$sampler" 2>/dev/null || true
    scripts/stack.sh down >"$OUT/teardown.log" 2>&1 \
        || { say "stopping the stack failed:"; cat "$OUT/teardown.log"; } >&2
    cp -r "$CAST_VAR/log" "$OUT/stack-logs" 2>/dev/null || true
    cp -p "$SAN_DIR"/* "$OUT/" 2>/dev/null || true
    rm -rf "$SAN_DIR"
}


# "pid kB" of every nginx worker, one line each
workers_rss() {
    local master pid

    master=$(cat "$CAST_VAR/nginx/nginx.pid")
    for pid in $(ps --ppid "$master" -o pid= -o args= \
                 | awk '/worker process/ { print $1 }'); do
        awk -v p="$pid" '/^VmRSS:/ { print p, $2 }' "/proc/$pid/status" \
            2>/dev/null
    done
}


# every 5 s until killed: "seconds pid kB"
sample_rss() {
    local t0=$SECONDS

    while :; do
        workers_rss | sed "s/^/$((SECONDS - t0)) /"
        sleep 5
    done
}


# "pid kB" of each worker: its mean VmRSS over the samples from $1 to $2 s
# (single samples move by a few per cent from one to the next)
rss_mean() {
    awk -v from="$1" -v to="$2" '
        $1 >= from && $1 <= to { sum[$2] += $3; n[$2]++ }
        END { for (p in n) printf "%s %d\n", p, sum[p] / n[p] }
    ' "$OUT/rss.tsv" | sort
}


# Redis against the client's ledger: prints one line per difference
ledger_diff() {
    redis-cli -p "$CAST_REDIS_PORT" --raw HGETALL '{cast}:count' \
        | paste - - >"$OUT/redis-counts.tsv"
    awk -F'\t' '
        FNR == NR { acked[$1] = $2; maybe[$1] = $3; next }
        { seen[$1] = 1
          if (!($1 in acked))
              print "counted, never voted for:", $1, $2
          else if ($2 < acked[$1] || $2 > acked[$1] + maybe[$1])
              print "differs:", $1, "redis", $2, "acknowledged", acked[$1],
                    "uncertain", maybe[$1] }
        END { for (n in acked) if (!(n in seen) && acked[n] > 0)
                  print "acknowledged, not counted:", n, acked[n] }
    ' "$OUT/ledger.tsv" "$OUT/redis-counts.tsv"
}


trap finish EXIT
trap 'exit 130' INT TERM

say "logs in $OUT"
say "starting a fresh stack in $CAST_VAR ($flavour)"
scripts/stack.sh down >/dev/null 2>&1 || true
# as root the cluster may live elsewhere (scripts/stack.sh pg_dirs)
for d in pg pg-run; do
    [[ ! -L $CAST_VAR/$d ]] || rm -rf "$(readlink -f "$CAST_VAR/$d")"
done
rm -rf "$CAST_VAR"
if ! scripts/stack.sh up >"$OUT/stack-up.log" 2>&1; then
    cat "$OUT/stack-up.log" >&2
    say "the stack did not start"
    exit 1
fi
# shellcheck source=/dev/null
. "$CAST_VAR/stack.env"

sample_rss >"$OUT/rss.tsv" &
sampler=$!

say "$seconds s of traffic (warm-up $warmup s), rate ${SOAK_RATE:-400}/s"
client=0
load_start=$(date +%s)
"$CLIENT" --port "$CAST_HTTP_PORT" --redis-port "$CAST_REDIS_PORT" \
    --seconds "$seconds" --rate "${SOAK_RATE:-400}" \
    --conns "${SOAK_CONNS:-64}" --pause-every "${SOAK_PAUSE_EVERY:-4000}" \
    --pause-max "${SOAK_PAUSE_MAX:-700}" --churn "${SOAK_CHURN:-800}" \
    --tag "soak$$" --out "$OUT" | tee "$OUT/client.log" || client=$?

kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=
end=$(awk 'END { print $1 }' "$OUT/rss.tsv")

say "waiting for the pipeline to drain, then cast-admin check"
check=0
"$CAST_BIN/cast-admin" check --wait 120 >"$OUT/check.log" 2>&1 || check=$?
ledger_diff >"$OUT/ledger-diff.log" || true
# the workers now (a respawned worker means one crashed)
workers_rss >"$OUT/workers-end.txt" || true

# stop the stack first: nginx writes its last reports when it exits
trap - EXIT
finish

# the oldest first
mapfile -t reports < <(find "$OUT" -maxdepth 1 -type f \
                            \( -name 'asan.*' -o -name 'ubsan.*' \) \
                            -printf '%T@ %p\n' | sort -n | cut -d' ' -f2-)
first_report=
if ((${#reports[@]})); then
    first_report=$(stat -c %Y "${reports[@]}" | sort -n | head -1)
    first_report=" (the first $((first_report - load_start)) s into the load)"
fi
san_lines=$(cat "$OUT/stack-logs/nginx-error.log" "$OUT/stack-logs/"*.log \
            2>/dev/null | grep -Ec "$SAN_PATTERN" || true)
# ASan ends a worker with exit code 1, other crashes with a signal
crashes=$(grep -Ec 'worker process [0-9]+ exited (on signal|with code [^0])' \
          "$OUT/stack-logs/nginx-error.log" 2>/dev/null || true)

# memory: each worker's mean over the 30 s after the warm-up against its
# mean over the last 30 s of the load
rss_fail=0
rss_report=()
while read -r pid start; do
    now=$(rss_mean $((end - 30)) "$end" \
          | awk -v p="$pid" '$1 == p { print $2 }')
    if [[ -z $now ]]; then
        rss_report+=("worker $pid: gone before the end (it crashed)")
        rss_fail=1
        continue
    fi
    pct=$(awk -v a="$start" -v b="$now" \
              'BEGIN { printf "%+.1f", (b - a) * 100 / a }')
    line="worker $pid: $start kB after the warm-up,"
    rss_report+=("$line $now kB at the end ($pct %)")
    awk -v a="$start" -v b="$now" 'BEGIN { exit !(b > a * 1.05) }' \
        && rss_fail=1
done < <(rss_mean "$warmup" $((warmup + 30)))
((${#rss_report[@]})) || { rss_report=("no sample"); rss_fail=1; }

ledger_diffs=$(wc -l <"$OUT/ledger-diff.log")

echo
say "=== summary ($OUT)"
sed -n '/^soak: requests by kind/,$p' "$OUT/client.log"
say "worker RSS, means over $warmup-$((warmup + 30)) s and" \
    "$((end - 30))-$end s:"
printf 'soak:   %s\n' "${rss_report[@]}"
say "sanitizer reports: ${#reports[@]} files$first_report," \
    "$san_lines log lines; nginx workers that crashed: ${crashes:-0}"
say "cast-admin check: exit $check, $(grep -E '^check:' "$OUT/check.log" \
                                     || echo 'no result')"
say "Redis against the client's ledger: $ledger_diffs differences"

verdict=PASS
why=()
case $client in
0)  ;;
1)  why+=("answers failed their checks") ;;
*)  why+=("the client failed (exit $client)") ;;
esac
((${#reports[@]} == 0 && san_lines == 0)) || why+=("sanitizer reports")
((${crashes:-0} == 0)) || why+=("nginx workers crashed")
((rss_fail == 0)) || why+=("worker RSS grew more than 5 %")
((check == 0)) || why+=("cast-admin check not clean")
((ledger_diffs == 0)) || why+=("Redis differs from the ledger")
grep -Eq '^soak: name-votes acknowledged [1-9]' "$OUT/client.log" \
    || why+=("no vote was acknowledged")
grep -Eq '^soak: redis paused [1-9]' "$OUT/client.log" \
    || why+=("Redis was never paused")
((${#why[@]} == 0)) || verdict=FAIL

if [[ $verdict == FAIL ]]; then
    if ((${#reports[@]})); then
        say "sanitizer reports by kind and first frame of the module:"
        for f in "${reports[@]}"; do
            printf '%s in %s\n' \
                "$(grep -m1 -oE \
                   'AddressSanitizer: [a-z-]+|runtime error: [^:]*' "$f")" \
                "$(grep -m1 -oE ' in (cast|ngx_http_cast)_[a-z_]+' "$f" \
                   | sed 's/^ in //')"
        done | sort | uniq -c | sort -rn
        say "--- the first, ${reports[0]}:"
        grep -E -m1 -A12 'ERROR: |runtime error' "${reports[0]}"
    fi
    head -c 3000 "$OUT/failures.log" | cat -v
    head -5 "$OUT/check.log" "$OUT/ledger-diff.log"
    say "FAIL ($flavour): $(IFS=';'; echo "${why[*]}")"
    exit 1
fi

say "PASS ($flavour)"
