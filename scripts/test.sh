#!/usr/bin/env bash
#
# Runs the Perl suites (prove on every t/**/*.t) against a test stack of its own:
# CAST_VAR=t/var and ports apart from the developer's stack, so a running
# `make run` is not disturbed.  The stack is always stopped afterwards, its
# output going to t/var/teardown.log so prove's summary is printed last.
# Exits with prove's status.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

export CAST_VAR=${CAST_TEST_VAR:-$ROOT/t/var}
export CAST_HTTP_PORT=${CAST_TEST_HTTP_PORT:-18080}
export CAST_REDIS_PORT=${CAST_TEST_REDIS_PORT:-26379}
export CAST_PG_PORT=${CAST_TEST_PG_PORT:-25432}
export CAST_KAFKA_PORT=${CAST_TEST_KAFKA_PORT:-29092}
export CAST_KAFKA_CONTROLLER_PORT=${CAST_TEST_KAFKA_CONTROLLER_PORT:-29093}
export CAST_TICKETD_HTTP_PORT=${CAST_TEST_TICKETD_HTTP_PORT:-29101}
export CAST_RELAY_HTTP_PORT=${CAST_TEST_RELAY_HTTP_PORT:-29102}
export CAST_PERSISTER_HTTP_PORT=${CAST_TEST_PERSISTER_HTTP_PORT:-29103}
export TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-18984}

teardown() {
    scripts/stack.sh down >"$CAST_VAR/teardown.log" 2>&1 \
        || { echo "test: stopping the test stack failed:"; \
             cat "$CAST_VAR/teardown.log"; } >&2
}

mkdir -p "$CAST_VAR"
trap teardown EXIT
trap 'exit 130' INT TERM

echo "test: starting the test stack in $CAST_VAR"
if ! scripts/stack.sh up; then
    echo "test: the test stack did not start (logs in $CAST_VAR/log)" >&2
    exit 1
fi
# shellcheck source=/dev/null
. "$CAST_VAR/stack.env"

# The suites that drive nginx run first against the module built with ASan
# and UBSan (make SAN=1 module), libasan preloaded into nginx; a sanitizer
# report fails the run.  CAST_TEST_SAN=0 skips this pass.
SAN_MODULE=$ROOT/build/san/ngx_http_cast_module.so
SAN_FILES=(t/010-sanity.t t/020-vote.t t/021-ticket-limit.t
           t/022-redis-faults.t t/023-redis-connect.t t/030-graphql-audit.t)

san_pass() {
    local rc=0 reports=()

    export CAST_NGINX_MODULE=$SAN_MODULE
    CAST_NGINX_PRELOAD=$(cc -print-file-name=libasan.so)
    export CAST_NGINX_PRELOAD
    export ASAN_OPTIONS="log_path=$CAST_VAR/log/asan:detect_leaks=0"
    export UBSAN_OPTIONS="log_path=$CAST_VAR/log/ubsan:print_stacktrace=1"

    echo "test: the nginx suites against the sanitized module"
    scripts/stack.sh restart nginx || return 1
    prove -I t/lib "${SAN_FILES[@]}" || rc=$?

    unset CAST_NGINX_MODULE CAST_NGINX_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
    scripts/stack.sh restart nginx || return 1

    mapfile -t reports < <(find "$CAST_VAR/log" -name 'asan.*' \
                                -o -name 'ubsan.*')
    if ((${#reports[@]})); then
        echo "test: sanitizer reports:" >&2
        head -60 "${reports[@]}" >&2
        return 1
    fi
    echo "test: no sanitizer report"
    return "$rc"
}

status=0
if [[ -f $SAN_MODULE && ${CAST_TEST_SAN:-1} = 1 ]]; then
    san_pass || status=$?
fi

# Every t/**/*.t but those of npm packages.
mapfile -t files < <(find t -name '*.t' -not -path '*/node_modules/*' \
                        -not -path 't/var/*' -not -path 't/servroot/*' | sort)
read -ra flags <<<"${PROVE_FLAGS:-}"
prove -I t/lib "${flags[@]}" "${files[@]}" || status=$?
trap - EXIT
teardown
exit "$status"
