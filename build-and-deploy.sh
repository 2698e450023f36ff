#!/usr/bin/env bash
#
# Builds the CAST image, deploys it to the cluster of the current kubeconfig
# and casts one vote through it.
#
#   ./build-and-deploy.sh [--overlay dev|prod] [--tag TAG] [--dry-run]
#       [--build-arg NAME=VALUE]... [--no-build]
#       [--load auto|kind|minikube|push|containerd|none]
#       [--smoke-via auto|ingress|port-forward] [--no-smoke]
#   ./build-and-deploy.sh --smoke URL    only the smoke vote, against URL
#
# Steps: build the image with the first of docker or podman whose daemon
# answers; make it available to the cluster (kind load, minikube image
# load, a push to CAST_IMAGE's registry, or an import into the node's
# containerd); create the namespace and, once per cluster, the Secret
# cast-secrets; check that the overlay's StatefulSet volumes match the
# live ones (Kubernetes cannot change them in place); kubectl apply -k the
# overlay with this image; wait, bounded, for every Deployment and
# StatefulSet, naming each pod that is not ready and why; then get a
# ticket, vote and read the count back through the ingress or, without an
# ingress controller, a port-forward to the Service cast-nginx.
#
# Environment: CAST_IMAGE (localhost/cast; a registry name to push),
# CONTAINER_ENGINE (docker|podman), KUBECTL (kubectl), KIND_CLUSTER,
# CAST_CONTAINERD_ADDRESS (/run/containerd/containerd.sock),
# CAST_ROLLOUT_TIMEOUT (300, seconds), CAST_INGRESS_URL.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAMESPACE=cast
SECRET=cast-secrets
SECRET_KEYS=(ticket-key pg-password)
BASE_IMAGE=localhost/cast

IMAGE=${CAST_IMAGE:-$BASE_IMAGE}
KUBECTL=${KUBECTL:-kubectl}
TIMEOUT=${CAST_ROLLOUT_TIMEOUT:-300}
TIMEOUT=${TIMEOUT%s}
CONTAINERD=${CAST_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
OVERLAY=dev
TAG=
DRY_RUN=0
BUILD=1
LOAD=auto
SMOKE=1
SMOKE_VIA=auto
SMOKE_URL=
BUILD_ARGS=()
ENGINE=
DEPLOY_DIR=
PF_PID=


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
    sed -n '3,26s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}


parse_args() {
    while (($#)); do
        case $1 in
        --dry-run)   DRY_RUN=1 ;;
        --overlay)   OVERLAY=${2:?--overlay needs dev or prod}; shift ;;
        --tag)       TAG=${2:?--tag needs a value}; shift ;;
        --build-arg) BUILD_ARGS+=(--build-arg "${2:?--build-arg needs N=V}")
                     shift ;;
        --no-build)  BUILD=0 ;;
        --load)      LOAD=${2:?--load needs a method}; shift ;;
        --no-smoke)  SMOKE=0 ;;
        --smoke-via) SMOKE_VIA=${2:?--smoke-via needs a method}; shift ;;
        --smoke)     SMOKE_URL=${2:?--smoke needs a URL}; shift ;;
        -h|--help)   usage 0 ;;
        *)           printf 'deploy: unknown argument %s\n' "$1" >&2; usage 2 ;;
        esac
        shift
    done
    [[ -d $ROOT/k8s/overlays/$OVERLAY ]] \
        || die "no overlay k8s/overlays/$OVERLAY"
    case $LOAD in
    auto|kind|minikube|push|containerd|none) ;;
    *) die "--load $LOAD: one of auto kind minikube push containerd none" ;;
    esac
    case $SMOKE_VIA in
    auto|ingress|port-forward) ;;
    *) die "--smoke-via $SMOKE_VIA: one of auto ingress port-forward" ;;
    esac
    [[ $TIMEOUT =~ ^[0-9]+$ ]] \
        || die "CAST_ROLLOUT_TIMEOUT=$TIMEOUT: seconds, a number"
    if [[ -z $TAG ]]; then
        TAG=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo dev)
    fi
}


# The container engine whose daemon answers: `docker` may be installed
# with no daemon running, so being in PATH is not enough.
engine() {
    local e why=

    if [[ -n $ENGINE ]]; then
        printf '%s\n' "$ENGINE"
        return 0
    fi
    for e in ${CONTAINER_ENGINE:-docker podman}; do
        if ! command -v "$e" >/dev/null 2>&1; then
            why+=" $e: not installed;"
        elif "$e" info >/dev/null 2>&1; then
            ENGINE=$e
            printf '%s\n' "$e"
            return 0
        else
            why+=" $e: installed, but '$e info' fails;"
        fi
    done
    printf 'deploy: no container engine answers:%s\n' "$why" >&2
    return 1
}


build_image() {
    local e

    if ((!BUILD)); then
        say "image: not built (--no-build), using $IMAGE:$TAG"
        return 0
    fi
    if ((DRY_RUN)); then
        e=$(engine 2>/dev/null) || e=${CONTAINER_ENGINE:-docker}
    else
        e=$(engine) || die "cannot build the image (or use --no-build)"
    fi
    # the pages' pinned npm files go into the image from the build context
    run "$ROOT/scripts/web-assets.sh"
    say "image: building $IMAGE:$TAG with $e"
    # podman's default OCI format ignores SHELL (bash with pipefail)
    if [[ $e == podman ]]; then
        run "$e" build --format docker "${BUILD_ARGS[@]}" -t "$IMAGE:$TAG" \
            "$ROOT"
    else
        run "$e" build "${BUILD_ARGS[@]}" -t "$IMAGE:$TAG" "$ROOT"
    fi
}


# The way to hand the image to the cluster, when --load auto.
load_method() {
    if command -v kind >/dev/null 2>&1 \
        && [[ -n ${KIND_CLUSTER:-$(kind get clusters 2>/dev/null | head -n1)} ]]
    then
        echo kind
    elif command -v minikube >/dev/null 2>&1 \
        && minikube status >/dev/null 2>&1
    then
        echo minikube
    elif [[ ${IMAGE%%/*} != localhost && $IMAGE == */* \
            && ${IMAGE%%/*} == *[.:]* ]]
    then
        echo push
    elif command -v ctr >/dev/null 2>&1 && [[ -S $CONTAINERD ]]; then
        echo containerd
    else
        echo none
    fi
}


load_image() {
    local how=$LOAD e cluster

    if [[ $how == auto ]]; then
        if ((DRY_RUN)); then
            how=none
        else
            how=$(load_method)
        fi
    fi
    case $how in
    kind)
        cluster=${KIND_CLUSTER:-$(kind get clusters 2>/dev/null | head -n 1)}
        say "image: loading into kind cluster $cluster"
        run kind load docker-image "$IMAGE:$TAG" --name "$cluster"
        ;;
    minikube)
        say "image: loading into minikube"
        run minikube image load "$IMAGE:$TAG"
        ;;
    push)
        e=$(engine) || die "cannot push $IMAGE:$TAG"
        say "image: pushing $IMAGE:$TAG"
        run "$e" push "$IMAGE:$TAG"
        ;;
    containerd)
        e=$(engine) || die "cannot export $IMAGE:$TAG"
        say "image: importing into containerd at $CONTAINERD (namespace k8s.io)"
        if ((DRY_RUN)); then
            run "$e" save "$IMAGE:$TAG"
            run ctr --address "$CONTAINERD" -n k8s.io images import -
            return 0
        fi
        "$e" save "$IMAGE:$TAG" \
            | ctr --address "$CONTAINERD" -n k8s.io images import - >/dev/null \
            || die "ctr import of $IMAGE:$TAG into $CONTAINERD failed"
        ;;
    none)
        say "image: not loaded; the cluster must already have" \
            "$IMAGE:$TAG or pull it (--load, or CAST_IMAGE=registry/cast" \
            "to push)"
        ;;
    esac
}


# The kustomization actually applied: the overlay with this build's image,
# in a temporary directory under var/ (removed on exit).
deploy_dir() {
    mkdir -p "$ROOT/var"
    DEPLOY_DIR=$(mktemp -d "$ROOT/var/k8s-deploy.XXXXXX")
    cat >"$DEPLOY_DIR/kustomization.yaml" <<YAML
# written by build-and-deploy.sh
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../k8s/overlays/$OVERLAY
images:
  - name: $BASE_IMAGE
    newName: $IMAGE
    newTag: "$TAG"
YAML
}


cleanup() {
    if [[ -n $PF_PID ]]; then
        kill "$PF_PID" 2>/dev/null || true
        wait "$PF_PID" 2>/dev/null || true
    fi
    if [[ -n $DEPLOY_DIR ]]; then
        rm -rf "$DEPLOY_DIR"
    fi
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
        | "$KUBECTL" apply -f - >/dev/null \
        || die "cannot create namespace $NAMESPACE (is the cluster reachable?)"
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
        --from-file=pg-password="$tmp/pg-password" >/dev/null \
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


# One line per volume claim template of each StatefulSet in a list of
# resources (JSON on stdin): "NAME CLAIM SIZE ACCESS CLASS".
claim_templates() {
    jq -r '(if .kind == "List" then .items[] else . end)
        | select(.kind == "StatefulSet")
        | .metadata.name as $n
        | .spec.volumeClaimTemplates[]?
        | [$n, .metadata.name, .spec.resources.requests.storage,
           (.spec.accessModes | join(",")),
           (.spec.storageClassName // "default")] | join(" ")'
}


# Kubernetes refuses any change of a StatefulSet's volumeClaimTemplates
# ("spec: Forbidden: updates to statefulset spec for fields other than
# 'replicas', ..."): switching overlays or sizes on a live cluster must be
# done by hand, so say which and how before applying anything.
check_claims() {
    local dir=$1 want have diff

    if ((DRY_RUN)); then
        say "would compare the StatefulSets' volume claim templates with" \
            "the live ones"
        return 0
    fi
    # create, not apply: apply --dry-run=client prints the live object
    want=$("$KUBECTL" create -k "$dir" --dry-run=client -o json \
        | claim_templates | sort) \
        || die "cannot render $dir"
    have=$("$KUBECTL" -n "$NAMESPACE" get statefulset -o json \
        | claim_templates | sort) \
        || die "cannot read the live StatefulSets"
    [[ -n $have ]] || return 0
    diff=$(join -j1 <(awk '{ print $1 "/" $2, $3, $4, $5 }' <<<"$want") \
                    <(awk '{ print $1 "/" $2, $3, $4, $5 }' <<<"$have") \
        | awk '$2 != $5 || $3 != $6 || $4 != $7 {
                 printf "  statefulset/%s: the overlay asks %s %s %s," \
                        " the cluster has %s %s %s\n",
                        $1, $2, $3, $4, $5, $6, $7 }')
    [[ -z $diff ]] && return 0
    printf 'deploy: error: volume claim templates differ:\n%s\n' "$diff" >&2
    cat >&2 <<EOF
deploy: Kubernetes cannot change a StatefulSet's volumeClaimTemplates in
deploy: place, so applying k8s/overlays/$OVERLAY here would be refused.
deploy: To keep the data and resize, see docs/kubernetes.md "Switching
deploy: overlays, resizing volumes": expand each PVC (kubectl -n $NAMESPACE
deploy: edit pvc data-NAME-0, with a StorageClass that allows expansion),
deploy: then kubectl -n $NAMESPACE delete statefulset NAME --cascade=orphan
deploy: (pods and PVCs stay) and run this again.  Moving Kafka from one to
deploy: three nodes also changes its KRaft quorum: deploy prod afresh.
EOF
    exit 1
}


# Why a pod is not ready, on one line: phase, each container's waiting or
# terminated reason and message, and unschedulable conditions.
pod_reasons() {
    "$KUBECTL" -n "$NAMESPACE" get pods -o json | jq -r '
        .items[]
        | select(.metadata.deletionTimestamp == null)
        | select(([.status.conditions[]? | select(.type == "Ready"
                   and .status == "True")] | length) == 0)
        | .metadata.name as $p
        | [ (.status.conditions[]? | select(.type == "PodScheduled"
              and .status == "False") | "Pending: \(.reason) \(.message)"),
            ((.status.initContainerStatuses // [])
             + (.status.containerStatuses // [])
             | .[] | select(.ready | not)
             | if .state.waiting then
                   "\(.name): \(.state.waiting.reason)"
                   + (if .state.waiting.message then
                          " (\(.state.waiting.message | .[0:160]))"
                      else "" end)
                   + (if .lastState.terminated then
                          ", last exit \(.lastState.terminated.exitCode)"
                          + " \(.lastState.terminated.reason)"
                      else "" end)
               elif .state.terminated then
                   "\(.name): terminated \(.state.terminated.reason)"
                   + " exit \(.state.terminated.exitCode)"
               else "\(.name): running, not ready" end),
            (if .status.phase == "Pending"
                and (.status.containerStatuses == null)
                and (.status.conditions // []
                     | map(select(.type == "PodScheduled"
                                  and .status == "False")) | length) == 0
             then "Pending" else empty end)
          ] | "  \($p): \(join("; "))"'
}


# Reasons that will not fix themselves: stop waiting at once.
fatal_reasons() {
    local re='ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull'

    grep -E "$re|CreateContainerConfigError|CreateContainerError" || true
}


# The end of the logs of the containers that crash, for the report.
crash_logs() {
    local pod c

    "$KUBECTL" -n "$NAMESPACE" get pods -o json | jq -r '
        .items[] | .metadata.name as $p
        | ((.status.initContainerStatuses // [])
           + (.status.containerStatuses // []))[]
        | select(.restartCount > 0 or .state.terminated)
        | select(.ready | not) | "\($p) \(.name)"' \
    | while read -r pod c; do
        printf 'deploy: last log lines of %s/%s:\n' "$pod" "$c" >&2
        { "$KUBECTL" -n "$NAMESPACE" logs "$pod" -c "$c" --previous \
              --tail=15 2>/dev/null \
          || "$KUBECTL" -n "$NAMESPACE" logs "$pod" -c "$c" --tail=15; } \
            2>&1 | sed 's/^/    /' >&2
    done
}


# Waits for every workload of the list, at most TIMEOUT seconds in all.
# Every 15 s it names the pods that are not ready and why; an image that
# cannot be pulled stops the wait after 30 s, a timeout prints the
# reasons, the crashing containers' logs and the namespace's warnings.
wait_rollout() {
    local list=$1 start now w st pending reasons fatal last=0 fatal_since=0

    start=$SECONDS
    while :; do
        pending=
        for w in $list; do
            st=$("$KUBECTL" -n "$NAMESPACE" rollout status "$w" \
                --watch=false 2>&1) || true
            [[ $st == *"successfully rolled out"* \
               || $st == *"roll out complete"* ]] || pending+=" $w"
        done
        now=$((SECONDS - start))
        if [[ -z $pending ]]; then
            say "rollout: every workload ready after ${now}s"
            return 0
        fi
        reasons=$(pod_reasons 2>/dev/null || true)
        fatal=$(fatal_reasons <<<"$reasons")
        if [[ -n $fatal ]]; then
            ((fatal_since)) || fatal_since=$SECONDS
        else
            fatal_since=0
        fi
        if ((now >= TIMEOUT)) \
            || { ((fatal_since)) && ((SECONDS - fatal_since >= 30)); }
        then
            printf 'deploy: error: not ready after %ss:%s\n' "$now" \
                "$pending" >&2
            printf '%s\n' "${reasons:-  (no pod reports a reason)}" >&2
            if [[ -n $fatal ]]; then
                printf 'deploy: the image cannot be found or pulled: was it' >&2
                printf ' loaded into the cluster (--load), and is it named' >&2
                printf ' as tagged (%s)?\n' "$IMAGE:$TAG" >&2
            fi
            crash_logs
            printf 'deploy: warnings in namespace %s:\n' "$NAMESPACE" >&2
            "$KUBECTL" -n "$NAMESPACE" get events --field-selector \
                type=Warning --sort-by=.lastTimestamp 2>&1 | tail -n 15 \
                | sed 's/^/    /' >&2
            return 1
        fi
        if ((now - last >= 15)); then
            last=$now
            say "rollout: ${now}s, waiting for${pending}"
            [[ -z $reasons ]] || printf '%s\n' "$reasons"
        fi
        sleep 3
    done
}


apply_overlay() {
    local dir=$1 w list i

    list=$(workloads "$dir") || die "kubectl kustomize $dir failed"
    [[ -n $list ]] || die "no Deployment or StatefulSet in the overlay"
    check_claims "$dir"
    say "applying k8s/overlays/$OVERLAY with $IMAGE:$TAG"
    if ((DRY_RUN)); then
        run "$KUBECTL" apply -k "$dir"
        say "would wait (at most ${TIMEOUT}s in all) until each of these" \
            "says it rolled out:"
        for w in $list; do
            run "$KUBECTL" -n "$NAMESPACE" rollout status "$w" --watch=false
        done
        return 0
    fi
    # a new namespace gets its default ServiceAccount a moment later
    for i in 1 2 3 4 5; do
        "$KUBECTL" apply -k "$dir" && break
        ((i < 5)) || die "kubectl apply -k failed"
        sleep 3
    done
    say "waiting (at most ${TIMEOUT}s) for: $(tr '\n' ' ' <<<"$list")"
    wait_rollout "$list" || die "rollout of k8s/overlays/$OVERLAY failed"
}


graphql() {
    curl -fsS --max-time 10 -H 'Content-Type: application/json' \
        --data-binary "$2" "$1/graphql"
}


smoke() {
    local url=$1 user ticket before after reply i tool

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
    [[ -n $ticket ]] \
        || die "smoke: no ticket from $url/graphql (${reply:-no answer})"

    before=$(graphql "$url" "$(jq -nc --arg u "$user" \
        '{query: "query($u: String!) { query(username: $u) }",
          variables: {u: $u}}')" | jq -er '.data.query') \
        || die "smoke: query before the vote failed"

    # a ticket fetched at the end of its period may expire on the way
    for ((i = 0; i < 3; i++)); do
        reply=$(graphql "$url" "$(jq -nc --arg u "$user" --arg t "$ticket" \
            '{query: "mutation($u: [String!]!, $t: String!) { vote(usernames: $u, voteCount: [1], ticket: $t) { success message votes } }",
              variables: {u: [$u], t: $t}}')") \
            || die "smoke: the vote request failed"
        jq -e '.data.vote.message == "Ticket expired"' <<<"$reply" \
            >/dev/null || break
        ticket=$(graphql "$url" '{"query":"{ cas { ticket } }"}' \
            | jq -er '.data.cas.ticket') || die "smoke: no new ticket"
    done
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


# The ingress URL when the Ingress has an address (an ingress controller
# serves it), or CAST_INGRESS_URL; else nothing.
ingress_url() {
    local addr

    if [[ -n ${CAST_INGRESS_URL:-} ]]; then
        printf '%s\n' "$CAST_INGRESS_URL"
        return 0
    fi
    if command -v minikube >/dev/null 2>&1 \
        && minikube status >/dev/null 2>&1
    then
        printf 'http://%s\n' "$(minikube ip)"
        return 0
    fi
    addr=$("$KUBECTL" -n "$NAMESPACE" get ingress cast -o jsonpath=\
'{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' \
        2>/dev/null) || addr=
    [[ -n $addr ]] || return 1
    # kind maps the controller's port 80 to the host; its address is internal
    if command -v kind >/dev/null 2>&1 \
        && [[ -n $(kind get clusters 2>/dev/null) ]]
    then
        addr=localhost
    fi
    printf 'http://%s\n' "$addr"
}


# kubectl port-forward to the Service cast-nginx on a free local port;
# prints the URL.
port_forward() {
    local port log i

    port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    log=$(mktemp)
    "$KUBECTL" -n "$NAMESPACE" port-forward --address 127.0.0.1 \
        svc/cast-nginx "$port:80" >"$log" 2>&1 &
    PF_PID=$!
    for ((i = 0; i < 50; i++)); do
        if grep -q '^Forwarding from' "$log"; then
            rm -f "$log"
            printf 'http://127.0.0.1:%s\n' "$port"
            return 0
        fi
        kill -0 "$PF_PID" 2>/dev/null || break
        sleep 0.2
    done
    cat "$log" >&2
    rm -f "$log"
    return 1
}


smoke_deployed() {
    local url=

    if [[ $SMOKE_VIA != port-forward ]]; then
        url=$(ingress_url) || url=
        if [[ -z $url && $SMOKE_VIA == ingress ]]; then
            die "smoke: the Ingress has no address (no ingress controller?);" \
                "set CAST_INGRESS_URL or use --smoke-via port-forward"
        fi
        [[ -z $url ]] || say "smoke: through the ingress at $url"
    fi
    if [[ -z $url ]]; then
        url=$(port_forward) \
            || die "smoke: kubectl port-forward svc/cast-nginx failed"
        say "smoke: no ingress address; through a port-forward to" \
            "svc/cast-nginx at $url"
    fi
    smoke "$url"
}


main() {
    parse_args "$@"
    trap cleanup EXIT
    if [[ -n $SMOKE_URL ]]; then
        smoke "$SMOKE_URL"
        return 0
    fi
    ((DRY_RUN)) && say "dry run: nothing is built, loaded or applied"
    build_image
    load_image
    deploy_dir
    create_secret
    apply_overlay "$DEPLOY_DIR"
    if ((!SMOKE)); then
        say "smoke vote skipped (--no-smoke)"
    elif ((DRY_RUN)); then
        say "would run the smoke vote through the ingress, or a" \
            "port-forward to svc/cast-nginx without one"
    else
        smoke_deployed
    fi
    say "done"
}


main "$@"
