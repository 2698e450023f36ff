#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq's $variables stay literal in single quotes
# bench/plot.sh RESULT.json [OUT.svg]: the picture of a `make bench` result,
# written next to it by default: the throughput of each workload against
# the `return 200` ceiling, and the latency sweep of accepted votes.  Runs
# before the sweep and the herd existed plot only the throughput.  The
# herd is labelled with its median ratio to its adjacent ceilings (when
# the run has it) and the vote batches a second Redis saw.

set -euo pipefail

json=${1:?usage: bench/plot.sh RESULT.json [OUT.svg]}
out=${2:-${json%.json}.svg}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 12345.6 -> "12,346"
th='def th: round | if . >= 1000
                    then ((. / 1000 | floor | th) + ","
                          + ("00" + (. % 1000 | tostring))[-3:])
                    else tostring end;
    def r2: (. * 100 | round) as $n
            | "\($n / 100 | floor).\(("0" + ($n % 100 | tostring))[-2:])";'

# name, req/s, the label at the end of its bar
jq -r "$th"'
    .results as $r
    | ("ceiling", "vote", "vote_front", "vote_everysec", "vote_exhausted",
       "vote_rejected", "query", "cas")
    | select($r[.])
    | [., $r[.].rps,
       "\($r[.].rps | th)/s  "
       + (if $r[.].ratio_to_adjacent_ceiling then
              "\($r[.].ratio_to_adjacent_ceiling | r2)× adjacent"
          else "\($r[.].ratio_to_ceiling | r2)×" end)
       + (if . == "vote_exhausted" and $r[.].redis then
              ", Redis \($r[.].redis.vote_batch_calls_per_s | th)/s"
          else "" end)]
    | @tsv' "$json" >"$tmp/workloads.tsv"

# percent, offered votes/s, accepted votes/s, p50, p99 (ms), its label
jq -r "$th"'.latency_sweep.points // [] | .[]
       | [.percent, .offered_rps, .accepted_rps, .p50_ms, .p99_ms,
          "\(.accepted_rps | th)/s accepted"] | @tsv' \
    "$json" >"$tmp/sweep.tsv"

# the wrk run at saturation: accepted votes/s, p50, p99
jq -r '.results.vote as $v
       | [(.latency_sweep.max_accepted_rps // $v.rps), $v.p50_ms, $v.p99_ms]
       | @tsv' "$json" >"$tmp/saturation.tsv"

gnuplot -e "wl='$tmp/workloads.tsv'; sw='$tmp/sweep.tsv';
            sat='$tmp/saturation.tsv'; out='$out';
            ceiling=$(jq .results.ceiling.rps "$json");
            ttl='make bench $(basename "$json" .json): $(jq -r \
                '"\(.machine), wrk \(.wrk), Redis appendfsync \(.redis_appendfsync)"' \
                "$json")';
            sweep=$([ -s "$tmp/sweep.tsv" ] && echo 1 || echo 0)" \
    "$here/plot.gp"
