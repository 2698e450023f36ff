#!/usr/bin/env bash
#
# Builds the CAST image, deploys it to the current Kubernetes context and
# casts one vote through the ingress.
#
#   ./build-and-deploy.sh [--dry-run] [--overlay dev|prod] [--tag TAG]
#                         [--no-build] [--no-smoke]
#   ./build-and-deploy.sh --smoke URL    only the smoke vote, against URL
#
# Steps: build the image with docker or podman; load it into kind or
# minikube when one runs; create the namespace and, once per cluster, the
# Secret cast-secrets (random ticket HMAC key and PostgreSQL password, never
# written to the repository); kubectl apply -k the overlay with the image
# tag; wait for every Deployment and StatefulSet; get a ticket, vote and
# read the count back through the ingress.  --dry-run prints the commands
# instead of running them.
#
# Environment: CAST_IMAGE (cast), CAST_INGRESS_URL (http://localhost, or
# http://$(minikube ip) under minikube), CONTAINER_ENGINE (docker|podman),
# KIND_CLUSTER (kind's first cluster), KUBECTL (kubectl),
# CAST_ROLLOUT_TIMEOUT (600s).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAMESPACE=cast
SECRET=cast-secrets
SECRET_KEYS=(ticket-key pg-password)

IMAGE=${CAST_IMAGE:-cast}
KUBECTL=${KUBECTL:-kubectl}
TIMEOUT=${CAST_ROLLOUT_TIMEOUT:-600s}
OVERLAY=dev
TAG=
DRY_RUN=0
BUILD=1
SMOKE=1
SMOKE_URL=
DEPLOY_DIR=


say() {
    printf 'deploy: %s\n' "$*"
}


die() {
    printf 'deploy: error: %s\n' "$*" >&2
    exit 1
}


# Runs a command, or prints it under --dry-run.
run() {
    if ((DRY_RUN)); then
        printf 'would run:'
        printf ' %q' "$@"
        printf '\n'
        return 0
    fi
    "$@"
}


usage() {
    sed -n '3,21s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}


parse_args() {
    while (($#)); do
        case $1 in
        --dry-run)  DRY_RUN=1 ;;
        --overlay)  OVERLAY=${2:?--overlay needs dev or prod}; shift ;;
        --tag)      TAG=${2:?--tag needs a value}; shift ;;
        --no-build) BUILD=0 ;;
        --no-smoke) SMOKE=0 ;;
        --smoke)    SMOKE_URL=${2:?--smoke needs a URL}; shift ;;
        -h|--help)  usage 0 ;;
        *)          printf 'deploy: unknown argument %s\n' "$1" >&2; usage 2 ;;
        esac
        shift
    done
    [[ -d $ROOT/k8s/overlays/$OVERLAY ]] \
        || die "no overlay k8s/overlays/$OVERLAY"
    if [[ -z $TAG ]]; then
        TAG=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo dev)
    fi
}


engine() {
    local e

    for e in ${CONTAINER_ENGINE:-docker podman}; do
        if command -v "$e" >/dev/null 2>&1; then
            printf '%s\n' "$e"
            return 0
        fi
    done
    return 1
}


build_image() {
    local e

    if ((!BUILD)); then
        say "image: not built (--no-build), using $IMAGE:$TAG"
        return 0
    fi
    e=$(engine) || die "neither docker nor podman found (or use --no-build)"
    say "image: building $IMAGE:$TAG with $e"
    run "$e" build -t "$IMAGE:$TAG" "$ROOT"
}


load_image() {
    local cluster e

    if command -v kind >/dev/null 2>&1 \
        && cluster=${KIND_CLUSTER:-$(kind get clusters 2>/dev/null | head -n 1)} \
        && [[ -n $cluster ]]
    then
        say "image: loading into kind cluster $cluster"
        run kind load docker-image "$IMAGE:$TAG" --name "$cluster"
    elif command -v minikube >/dev/null 2>&1 \
        && minikube status >/dev/null 2>&1
    then
        say "image: loading into minikube"
        run minikube image load "$IMAGE:$TAG"
    elif [[ $IMAGE == */* ]] && e=$(engine); then
        say "image: pushing to $IMAGE"
        run "$e" push "$IMAGE:$TAG"
    else
        say "image: no kind or minikube found; the cluster must be able" \
            "to pull $IMAGE:$TAG (set CAST_IMAGE=registry/cast to push)"
    fi
}


# The kustomization actually applied: the overlay with this build's image,
# in a temporary directory under var/ (removed on exit).
deploy_dir() {
    mkdir -p "$ROOT/var"
    DEPLOY_DIR=$(mktemp -d "$ROOT/var/k8s-deploy.XXXXXX")
    trap 'rm -rf "$DEPLOY_DIR"' EXIT
    cat >"$DEPLOY_DIR/kustomization.yaml" <<YAML
# written by build-and-deploy.sh
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../k8s/overlays/$OVERLAY
images:
  - name: cast
    newName: $IMAGE
    newTag: "$TAG"
YAML
}


random_text() {
    od -An -vtx1 -N"$1" /dev/urandom | tr -d ' \n'
}


create_secret() {
    local tmp

    say "namespace $NAMESPACE"
    if ((DRY_RUN)); then
        run "$KUBECTL" create namespace "$NAMESPACE"
        say "secret $SECRET keys: ${SECRET_KEYS[*]} (random, created once)"
        run "$KUBECTL" -n "$NAMESPACE" create secret generic "$SECRET" \
            --from-file=ticket-key=FILE --from-file=pg-password=FILE
        return 0
    fi
    "$KUBECTL" create namespace "$NAMESPACE" --dry-run=client -o yaml \
        | "$KUBECTL" apply -f -
    if "$KUBECTL" -n "$NAMESPACE" get secret "$SECRET" >/dev/null 2>&1; then
        say "secret $SECRET: exists, kept (the database was initialised" \
            "with its password)"
        return 0
    fi
    say "secret $SECRET keys: ${SECRET_KEYS[*]} (random, created once)"
    tmp=$(mktemp -d)
    chmod 700 "$tmp"
    random_text 32 >"$tmp/ticket-key"
    random_text 24 >"$tmp/pg-password"
    "$KUBECTL" -n "$NAMESPACE" create secret generic "$SECRET" \
        --from-file=ticket-key="$tmp/ticket-key" \
        --from-file=pg-password="$tmp/pg-password" \
        || { rm -rf "$tmp"; die "could not create secret $SECRET"; }
    rm -rf "$tmp"
}


# "deployment/NAME" and "statefulset/NAME" for each one the overlay holds.
workloads() {
    "$KUBECTL" kustomize "$1" | awk '
        /^kind: (Deployment|StatefulSet)$/ { kind = tolower($2); next }
        /^kind: /                          { kind = ""; next }
        /^---/                             { kind = "" }
        kind != "" && /^  name: /          { print kind "/" $2; kind = "" }'
}


apply_overlay() {
    local dir=$1 w list

    say "applying k8s/overlays/$OVERLAY with $IMAGE:$TAG"
    run "$KUBECTL" apply -k "$dir"
    list=$(workloads "$dir") || die "kubectl kustomize $dir failed"
    [[ -n $list ]] || die "no Deployment or StatefulSet in the overlay"
    for w in $list; do
        say "waiting for $w"
        run "$KUBECTL" -n "$NAMESPACE" rollout status "$w" \
            --timeout="$TIMEOUT"
    done
}


graphql() {
    curl -fsS --max-time 10 -H 'Content-Type: application/json' \
        --data-binary "$2" "$1/graphql"
}


smoke() {
    local url=$1 user ticket before after reply i

    for tool in curl jq; do
        command -v "$tool" >/dev/null || die "the smoke vote needs $tool"
    done
    user=smoke-$(date +%s)-$$
    say "smoke: $url/graphql: ticket, vote for $user, query"
    for ((i = 0; i < 30; i++)); do
        reply=$(graphql "$url" '{"query":"{ cas { ticket remainingUsage } }"}' \
            2>/dev/null) \
            && ticket=$(jq -er '.data.cas.ticket' <<<"$reply") \
            && break
        ticket=
        sleep 2
    done
    [[ -n $ticket ]] || die "smoke: no ticket from $url/graphql (${reply:-no answer})"

    before=$(graphql "$url" "$(jq -nc --arg u "$user" \
        '{query: "query($u: String!) { query(username: $u) }",
          variables: {u: $u}}')" | jq -er '.data.query') \
        || die "smoke: query before the vote failed"

    reply=$(graphql "$url" "$(jq -nc --arg u "$user" --arg t "$ticket" \
        '{query: "mutation($u: [String!]!, $t: String!) { vote(usernames: $u, voteCount: [1], ticket: $t) { success message votes } }",
          variables: {u: [$u], t: $t}}')") \
        || die "smoke: the vote request failed"
    jq -e '.data.vote.success == true' <<<"$reply" >/dev/null \
        || die "smoke: vote refused: $reply"

    after=$(graphql "$url" "$(jq -nc --arg u "$user" \
        '{query: "query($u: String!) { query(username: $u) }",
          variables: {u: $u}}')" | jq -er '.data.query') \
        || die "smoke: query after the vote failed"
    ((after == before + 1)) \
        || die "smoke: count of $user went from $before to $after, not +1"
    say "smoke: ok ($user: $before -> $after)"
}


ingress_url() {
    if [[ -n ${CAST_INGRESS_URL:-} ]]; then
        printf '%s\n' "$CAST_INGRESS_URL"
    elif command -v minikube >/dev/null 2>&1 \
        && minikube status >/dev/null 2>&1
    then
        printf 'http://%s\n' "$(minikube ip)"
    else
        printf 'http://localhost\n'
    fi
}


main() {
    local dir url

    parse_args "$@"
    if [[ -n $SMOKE_URL ]]; then
        smoke "$SMOKE_URL"
        return 0
    fi
    ((DRY_RUN)) && say "dry run: nothing is built, loaded or applied"
    build_image
    load_image
    deploy_dir
    dir=$DEPLOY_DIR
    create_secret
    apply_overlay "$dir"
    if ((!SMOKE)); then
        say "smoke vote skipped (--no-smoke)"
    elif ((DRY_RUN)); then
        say "would run the smoke vote against $(ingress_url)/graphql"
    else
        url=$(ingress_url)
        smoke "$url"
    fi
    say "done"
}


main "$@"
