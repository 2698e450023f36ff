#!/usr/bin/env bash
#
# Runs the Perl suites (prove on every t/**/*.t) against a test stack of its own:
# CAST_VAR=t/var and ports apart from the developer's stack, so a running
# `make run` is not disturbed.  The stack is always stopped afterwards, its
# output going to t/var/teardown.log so prove's summary is printed last.
# Exits with prove's status.
#
# CAST_TEST_HARNESS picks the runner of the block files (t/lib/Cast/Test.pm):
# "cast" (the default) is the project's own, "test-nginx" openresty's
# Test::Nginx::Socket, found through PERL5LIB (or installed from CPAN).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# CAST_TEST_PORT_OFFSET moves every default port at once, so that two
# checkouts can run their suites side by side.
o=${CAST_TEST_PORT_OFFSET:-0}
export CAST_VAR=${CAST_TEST_VAR:-$ROOT/t/var}
export CAST_HTTP_PORT=${CAST_TEST_HTTP_PORT:-$((18080 + o))}
export CAST_REDIS_PORT=${CAST_TEST_REDIS_PORT:-$((26379 + o))}
export CAST_PG_PORT=${CAST_TEST_PG_PORT:-$((25432 + o))}
export CAST_KAFKA_PORT=${CAST_TEST_KAFKA_PORT:-$((29092 + o))}
export CAST_KAFKA_CONTROLLER_PORT=${CAST_TEST_KAFKA_CONTROLLER_PORT:-$((29093 + o))}
export CAST_TICKETD_HTTP_PORT=${CAST_TEST_TICKETD_HTTP_PORT:-$((29101 + o))}
export CAST_RELAY_HTTP_PORT=${CAST_TEST_RELAY_HTTP_PORT:-$((29102 + o))}
export CAST_PERSISTER_HTTP_PORT=${CAST_TEST_PERSISTER_HTTP_PORT:-$((29103 + o))}
export TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-$((18984 + o))}

teardown() {
    scripts/stack.sh down >"$CAST_VAR/teardown.log" 2>&1 \
        || { echo "test: stopping the test stack failed:"; \
             cat "$CAST_VAR/teardown.log"; } >&2
}

export CAST_TEST_HARNESS=${CAST_TEST_HARNESS:-cast}
case $CAST_TEST_HARNESS in
cast) ;;
test-nginx)
    if ! perl -e 'for (@INC) { exit 0 if -f "$_/Test/Nginx/Socket.pm" }
                  exit 1'; then
        echo "test: CAST_TEST_HARNESS=test-nginx, but no Test/Nginx/Socket.pm" \
             "in @INC (PERL5LIB=${PERL5LIB:-})" >&2
        exit 1
    fi
    ;;
*)
    echo "test: CAST_TEST_HARNESS=$CAST_TEST_HARNESS:" \
         "not cast or test-nginx" >&2
    exit 1
    ;;
esac

mkdir -p "$CAST_VAR"
trap teardown EXIT
trap 'exit 130' INT TERM

echo "test: block files under the $CAST_TEST_HARNESS harness"
echo "test: starting the test stack in $CAST_VAR"
if ! scripts/stack.sh up; then
    echo "test: the test stack did not start (logs in $CAST_VAR/log)" >&2
    exit 1
fi
# shellcheck source=/dev/null
. "$CAST_VAR/stack.env"

# The suites that drive nginx run first against the module built with ASan
# and UBSan (make SAN=1 module), libasan preloaded into nginx; a sanitizer
# report fails the run.  The stack's workers run as nobody, so the reports
# go to a directory under /tmp anyone may write (the checkout may sit where
# nobody cannot reach).  CAST_TEST_SAN=0 skips this pass.
SAN_MODULE=$ROOT/build/san/ngx_http_cast_module.so
SAN_PATTERN="AddressSanitizer|runtime error|Sanitizer|Can't open file"
SAN_FILES=(t/010-sanity.t t/020-vote.t t/021-ticket-limit.t
           t/022-redis-faults.t t/023-redis-connect.t t/024-hostile-votes.t
           t/026-conf-counts.t t/027-idempotency-rotation.t
           t/028-ticket-secret.t t/029-spent-ticket.t t/030-graphql-audit.t
           t/061-client-share.t t/062-client-share-conf.t
           t/063-client-share-memo.t t/064-expired-ticket.t
           t/065-vote-recheck.t t/115-http-bodies.t t/205-body-in-file.t
           t/220-vote-replay.t
           t/116-redis-hostile-replies.t t/117-redis-unsolicited-reply.t
           t/070-leaderboard.t t/071-subscriptions.t
           t/072-subscription-limits.t t/073-sse-client.t
           t/074-subscription-memory.t t/075-subscription-slow-reader.t
           t/076-subscriptions-per-client.t
           t/110-subscription-names.t t/111-subscription-sentinel.t
           t/112-subscription-gzip.t t/131-subscription-root-directives.t
           t/132-sse-accept.t t/133-result-items.t
           t/142-result-items-minimum.t t/143-result-items-replay.t
           t/160-idempotency-key.t t/161-answer-bytes.t t/165-probe-methods.t
           t/163-watched-names-per-client.t t/175-sse-client-names.t
           t/176-operation-name-nul.t t/177-limit-conn.t
           t/187-message-quotes.t t/188-sse-reset-timedout.t
           t/080-graphiql.t t/083-graphiql-conf.t
           t/100-redis-ha.t t/101-vote-connections.t t/113-wait-reads.t
           t/120-redis-primary-fsync.t t/141-redis-sentinel-names-replica.t
           t/150-redis-replica-reads.t t/151-redis-replica-not-linked.t
           t/152-redis-replica-silent.t t/153-redis-replica-left-role.t
           t/154-redis-replica-hostile.t t/155-wait-hostile-replies.t
           t/156-redis-replica-shutdown.t t/157-sentinel-hostile-replicas.t
           t/158-redis-replica-unsolicited.t t/159-redis-replica-client-gone.t
           t/166-sentinel-host-name.t t/167-answer-names-from-redis.t
           t/168-answer-ticket-from-redis.t t/169-redis-replica-stuck-gone.t
           t/170-redis-primary-move-calls.t
           t/171-redis-replica-other-primary.t
           t/189-redis-primary-move-connecting.t
           t/190-redis-primary-move-setup-hangs.t
           t/199-redis-sentinel-huge-array.t
           t/221-redis-sentinel-huge-answer.t
           t/222-redis-primary-huge-array.t t/224-redis-primary-huge-reply.t
           t/231-replay-reply-bound.t t/233-relay-packed-restarts.t
           t/246-front-fuzz.t t/247-http2-hostile.t
           t/248-pipelined-hostile.t t/249-replay-variants.t)

san_pass() {
    local rc=0 reports=() dir log from=() i f san_files=()
    local logs=("$CAST_VAR/log/nginx.log" "$NGINX_LOG")

    for f in "${SAN_FILES[@]}"; do
        [[ " ${files[*]} " == *" $f "* ]] && san_files+=("$f")
    done
    ((${#san_files[@]})) || return 0

    dir=$(mktemp -d /tmp/cast-sanitizer.XXXXXX)
    chmod 1777 "$dir"
    for i in "${!logs[@]}"; do
        from[i]=$(stat -c %s "${logs[i]}" 2>/dev/null || echo 0)
    done

    echo "test: the nginx suites against the sanitized module"
    (
        export CAST_NGINX_MODULE=$SAN_MODULE
        CAST_NGINX_PRELOAD=$(cc -print-file-name=libasan.so)
        export CAST_NGINX_PRELOAD
        # the nginx of the blocks (both harnesses read these)
        export TEST_NGINX_LOAD_MODULES=$SAN_MODULE
        export TEST_NGINX_LD_PRELOAD=$CAST_NGINX_PRELOAD
        # commas: Test::Nginx appends ",log_path=<path>-<file>-t<n>"
        export ASAN_OPTIONS="log_path=$dir/asan,detect_leaks=0"
        export UBSAN_OPTIONS="log_path=$dir/ubsan,print_stacktrace=1"

        scripts/stack.sh restart nginx || exit 1
        prove -I t/lib "${flags[@]}" "${san_files[@]}"
    ) || rc=1

    # the plain module again, whatever happened
    scripts/stack.sh restart nginx || rc=1

    # what nginx wrote during this pass
    log=$dir/nginx.log
    for i in "${!logs[@]}"; do
        tail -c +$((from[i] + 1)) "${logs[i]}" 2>/dev/null
    done >"$log"

    mapfile -t reports < <(find "$dir" -type f -name '*san*')
    if ((${#reports[@]})) || grep -Eq "$SAN_PATTERN" "$log"; then
        echo "test: sanitizer reports (kept in $dir):" >&2
        head -60 "${reports[@]}" /dev/null >&2
        grep -E -A20 "$SAN_PATTERN" "$log" | head -60 >&2
        return 1
    fi

    rm -rf "$dir"

    ((rc == 0)) && echo "test: no sanitizer report"
    return "$rc"
}

# Every t/**/*.t but those of npm packages, or the files named in
# CAST_TEST_FILES (the sanitizer pass then runs only those of them that
# drive nginx).
if [[ -n ${CAST_TEST_FILES:-} ]]; then
    read -ra files <<<"$CAST_TEST_FILES"
else
    mapfile -t files < <(find t -name '*.t' -not -path '*/node_modules/*' \
                            -not -path 't/var/*' -not -path 't/servroot/*' \
                            | sort)
fi
# t/10x (Redis high availability) run last, once the stack has Redis
# replicas and Sentinels: the stack's nginx and daemons are restarted to
# find the primary through them ($CAST_TEST_REDIS_REPLICAS, default 2).
ha_files=()
rest=()
for f in "${files[@]}"; do
    if [[ $f == t/10[0-9]-* ]]; then ha_files+=("$f"); else rest+=("$f"); fi
done
files=("${rest[@]}")
read -ra flags <<<"${PROVE_FLAGS:-}"
NGINX_LOG=${CAST_NGINX_ERROR_LOG:-$CAST_VAR/log/nginx-error.log}
status=0
if [[ ${CAST_TEST_SAN:-1} != 1 ]]; then
    echo "test: CAST_TEST_SAN=0: no pass against the sanitized module"
elif [[ ! -f $SAN_MODULE ]]; then
    echo "test: $SAN_MODULE is missing (make SAN=1 module); no" \
         "pass against the sanitized module"
else
    san_pass || status=$?
fi

((${#files[@]} == 0)) || prove -I t/lib "${flags[@]}" "${files[@]}" || status=$?

ha_stack() {
    local p

    export CAST_REDIS_REPLICAS=${CAST_TEST_REDIS_REPLICAS:-2}
    echo "test: the stack with $CAST_REDIS_REPLICAS Redis replicas and" \
         "three Sentinels"
    for p in nginx persister relay ticketd; do
        scripts/stack.sh stop "$p" || return 1
    done
    # replicas and Sentinels start afresh from the primary of now
    rm -rf "$CAST_VAR"/redis-replica* "$CAST_VAR"/sentinel*
    scripts/stack.sh up || return 1
    # shellcheck source=/dev/null
    . "$CAST_VAR/stack.env"
}

# A Redis that was the primary in the pass before and is a replica now
# keeps the appendfsync nginx set on it (always): each pass starts with
# the replicas as the stack makes them (t/100 checks it).
ha_replicas_fsync() {
    local i port

    for ((i = 0; i <= CAST_REDIS_REPLICAS; i++)); do
        port=$((CAST_REDIS_PORT + i))
        if [[ $(redis-cli -p "$port" ROLE 2>/dev/null | head -1) == slave ]]
        then
            redis-cli -p "$port" CONFIG SET appendfsync \
                "${CAST_REDIS_REPLICA_APPENDFSYNC:-everysec}" >/dev/null
        fi
    done
}

if ((${#ha_files[@]})); then
    if ! ha_stack; then
        echo "test: the stack with replicas did not start" >&2
        status=1
    else
        files=("${ha_files[@]}")
        if [[ ${CAST_TEST_SAN:-1} == 1 && -f $SAN_MODULE ]]; then
            san_pass || status=$?
            ha_replicas_fsync
        fi
        prove -I t/lib "${flags[@]}" "${files[@]}" || status=$?
    fi
fi
trap - EXIT
teardown
exit "$status"
