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

# Every t/**/*.t but those of npm packages.
mapfile -t files < <(find t -name '*.t' -not -path '*/node_modules/*' \
                        -not -path 't/var/*' -not -path 't/servroot/*' | sort)
read -ra flags <<<"${PROVE_FLAGS:-}"
status=0
prove -I t/lib "${flags[@]}" "${files[@]}" || status=$?
trap - EXIT
teardown
exit "$status"
