#!/usr/bin/env bash
# shellcheck disable=SC2016  # GraphQL $variables stay literal in single quotes
# make demo: the client demo of the older implementation, against the
# running stack (make up): get a ticket, vote for alice, bob and charlie
# with [1, 2, 3], query them, try an invalid ticket, wait for the ticket
# to expire and try it again.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
env_file=${CAST_VAR:-$top/var}/stack.env

if [ -z "${CAST_GRAPHQL_URL:-}" ]; then
    [ -f "$env_file" ] || { echo "demo: no $env_file: run 'make up' first"; exit 1; }
    # shellcheck disable=SC1090
    . "$env_file"
fi

url=$CAST_GRAPHQL_URL
period_ms=${CAST_TICKET_PERIOD_MS:-2000}

# gql QUERY [VARIABLES]: POST one GraphQL request, print the JSON answer
gql() {
    jq -nc --arg q "$1" --argjson v "${2:-{\}}" '{query: $q, variables: $v}' \
        | curl -sS -H 'Content-Type: application/json' --data-binary @- "$url"
}

vote() {
    gql 'mutation($u: [String!]!, $c: [Int!], $t: String!) {
           vote(usernames: $u, voteCount: $c, ticket: $t) {
             success message usernames votes } }' \
        "$(jq -nc --arg t "$1" --argjson u "$2" --argjson c "$3" \
              '{u: $u, c: $c, t: $t}')"
}

show_counts() {
    for name in "$@"; do
        n=$(gql 'query($u: String!) { query(username: $u) }' \
                "$(jq -nc --arg u "$name" '{u: $u}')" | jq -r '.data.query')
        echo "  • $name: $n votes"
    done
}

echo "===== CAST Client Demo ====="
echo "🎟️  Getting a ticket..."
cas=$(gql '{ cas { ticket validUntil remainingUsage } }')
ticket=$(jq -r '.data.cas.ticket' <<<"$cas")
[ "$ticket" != null ] || { echo "demo: no ticket: $cas"; exit 1; }
echo "Ticket: $ticket"
echo "Valid until: $(jq -r '.data.cas.validUntil' <<<"$cas")"
echo "Remaining usage: $(jq -r '.data.cas.remainingUsage' <<<"$cas")"

echo
echo "🗳️  Voting for users: alice, bob, charlie"
echo "With vote counts: [1, 2, 3]"
res=$(vote "$ticket" '["alice","bob","charlie"]' '[1,2,3]')
echo "Vote success: $(jq -r '.data.vote.success' <<<"$res")"
echo "Message: $(jq -r '.data.vote.message' <<<"$res")"
jq -r '.data.vote | [.usernames, .votes] | transpose[]
       | "  • \(.[0]): \(.[1]) votes"' <<<"$res"

echo
echo "📊 Querying vote counts:"
show_counts alice bob charlie

echo
echo "❌ Testing with an invalid ticket..."
res=$(vote "not-a-ticket" '["alice"]' '[1]')
echo "Result: $(jq -c '.data.vote' <<<"$res")"

echo
echo "🕒 Testing ticket expiration (waiting $((period_ms * 2)) ms)..."
sleep "$(awk -v p="$period_ms" 'BEGIN { printf "%.3f", p * 2 / 1000 }')"
res=$(vote "$ticket" '["alice"]' '[1]')
echo "Vote success: $(jq -r '.data.vote.success' <<<"$res")"
echo "Message: $(jq -r '.data.vote.message' <<<"$res")"

echo
echo "📊 Querying votes after expiration:"
show_counts alice
