#!/usr/bin/env bash
#
# CPU per event of the durable path's end: a persister draining a topic
# into PostgreSQL, and PostgreSQL meanwhile, from /proc (user + system
# ticks; the postmaster's reaped children included).  Runs against a
# stack started by scripts/stack.sh ($CAST_VAR/stack.env; point CAST_VAR
# at it), never `make bench`'s.
#
#   persister_cpu.sh load [N]            stops the stack's persister and
#       writes N (200000) events to the outbox, the shape of `make bench`'s
#       votes (one name of 1000, counted once, no voter), as legacy entries
#       the relay produces as they are; waits until Kafka has them all (on
#       a fresh stack: the runs expect the topic to hold these alone)
#   persister_cpu.sh run BINDIR [BATCH_MAX] [LABEL]
#       empties vote_events and votes, starts BINDIR/cast-persister in a
#       group of its own (so it reads the whole topic) with batch_max
#       BATCH_MAX (5000), waits until it inserted the N rows, and prints
#       CPU us per event of it and of PostgreSQL
#
# The machine is shared and noisy: alternate the builds compared (A B A B
# ...) and take medians.  For a build older than a migration, give it
# its own migrations (CAST_MIGRATIONS_DIR) and undo the migration first.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

: "${CAST_VAR:=$ROOT/var}"
COUNT_FILE=$CAST_VAR/persister_cpu.count
HZ=$(getconf CLK_TCK)


psql_cast() {
    psql -X -qAt -h 127.0.0.1 -p "$CAST_PG_PORT" -U postgres cast "$@"
}


metric() {
    curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}


# user + system ticks of the postmaster and every child, live or reaped
pg_ticks() {
    local pm t=0 p f

    pm=$(cat "$CAST_VAR/run/postgres.pid")

    for p in $pm $(pgrep -P "$pm"); do
        read -ra f < <(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null)
        ((${#f[@]} > 14)) || continue
        t=$((t + f[11] + f[12]))
        [[ $p != "$pm" ]] || t=$((t + f[13] + f[14]))
    done

    echo "$t"
}


ticks() {
    local f

    read -ra f < <(sed 's/.*) //' "/proc/$1/stat")
    echo $((f[11] + f[12] + f[13] + f[14]))
}


load() {
    local n=${1:-200000} had

    had=$(cat "$COUNT_FILE" 2>/dev/null || echo 0)
    scripts/stack.sh stop persister

    # ids and versions go on from what the topic holds
    perl -e '
        my ($n, $had, %c) = @ARGV;
        my $ts = 1767000000000;
        for my $i ($had .. $had + $n - 1) {
            my ($seq, $use) = (100 + int($i / 5000), $i % 5000 + 1);
            my $u = "bench-" . int(rand 1000);
            my $c = $had + ++$c{$u};
            my $e = qq({"v":1,"id":"$seq-$use","ts":) . ($ts + int($i / 3))
                . qq(,"ticket":$seq,"voter":null,"votes":[{"u":"$u","n":1,)
                . qq("c":$c,"ver":$c}]});
            my @a = ("XADD", "{cast}:outbox", "*", "e", $e);
            print "*" . @a . "\r\n",
                map { "\$" . length($_) . "\r\n$_\r\n" } @a;
        }' "$n" "$had" \
        | redis-cli -p "$CAST_REDIS_PORT" --pipe >/dev/null

    until [[ $(metric "$CAST_RELAY_HTTP_PORT" cast_relay_backlog) == 0 \
             && $(metric "$CAST_RELAY_HTTP_PORT" cast_relay_inflight) == 0 ]]
    do
        sleep 0.5
    done

    # what a run waits for: every event of the topic, once each
    n=$((had + n))
    echo "$n" >"$COUNT_FILE"
    echo "persister_cpu: $n events in Kafka"
}


run() {
    local bin n bmax=${2:-5000} label=${3:-$1} pid p0 p1 pt k=0 t0 t1

    bin=$(cd "$1" && pwd)
    n=$(cat "$COUNT_FILE")

    psql_cast -c "TRUNCATE vote_events, votes" -c "CHECKPOINT" >/dev/null
    sleep 1

    p0=$(pg_ticks)
    t0=$(date +%s.%N)

    CAST_HTTP_PORT=$CAST_PERSISTER_HTTP_PORT CAST_BATCH_MAX=$bmax \
    CAST_GROUP_ID=persister-cpu-$$-$RANDOM CAST_LOG_LEVEL=warn \
        "$bin/cast-persister" -c conf/persister.conf \
        >>"$CAST_VAR/log/persister-cpu.log" 2>&1 &
    pid=$!

    until [[ $(metric "$CAST_PERSISTER_HTTP_PORT" cast_persister_rows_total) \
             == "$n" ]]
    do
        k=$((k + 1))
        if ! kill -0 "$pid" 2>/dev/null || ((k > 2400)); then
            kill "$pid" 2>/dev/null || true
            echo "persister_cpu: $label did not insert $n rows" >&2
            exit 1
        fi
        sleep 0.05
    done

    t1=$(date +%s.%N)
    pt=$(ticks "$pid")
    p1=$(pg_ticks)
    kill "$pid"
    wait "$pid" || true

    awk -v l="$label" -v b="$bmax" -v pt="$pt" -v pg=$((p1 - p0)) -v hz="$HZ" \
        -v n="$n" -v t0="$t0" -v t1="$t1" 'BEGIN {
        printf "%s batch_max=%d persister_us=%.2f postgres_us=%.2f " \
               "wall_s=%.2f\n", l, b, pt * 1e6 / hz / n, pg * 1e6 / hz / n,
               t1 - t0 }'
}


case ${1:-} in
load|run)
    # shellcheck source=/dev/null
    . "$CAST_VAR/stack.env"
    "$@"
    ;;
*) sed -n '3,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
