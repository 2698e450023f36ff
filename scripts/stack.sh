#!/usr/bin/env bash
#
# The local CAST stack: Redis, PostgreSQL, Kafka (KRaft), the daemons and
# nginx with the cast module, all on loopback, all data under $CAST_VAR.
#
#   stack.sh up                  start what is not running, wait until ready
#   stack.sh down                stop everything (reverse order)
#   stack.sh run                 up in the foreground; Ctrl-C stops it all
#   stack.sh status              one line per part
#   stack.sh start|stop|kill|restart PART
#                                one part (redis postgres kafka ticketd
#                                relay persister nginx; with replicas also
#                                redis-replicaN sentinelN, and redis-primary
#                                for whichever Redis is the primary now),
#                                for fault injection
#
# CAST_REDIS_REPLICAS=N (0..4, default 0) adds N Redis replicas on the
# ports after $CAST_REDIS_PORT and three Sentinels from $CAST_SENTINEL_PORT
# ($CAST_REDIS_PORT + 5), which fail over after 1 s without the primary;
# nginx and the daemons then find the primary through the Sentinels.
# A Redis that starts as a replica fsyncs its AOF as
# $CAST_REDIS_REPLICA_APPENDFSYNC says (everysec), the primary as
# $CAST_REDIS_APPENDFSYNC (always); with always, nginx sets it on whichever
# Redis is the primary (cast_redis_primary_fsync), a promoted one included.
#
# Each part runs in its own session (setsid), its pid in $CAST_VAR/run/,
# its output in $CAST_VAR/log/.  The Kafka topics cast.votes
# ($CAST_KAFKA_PARTITIONS partitions) and cast.votes.dlq (1 partition) are
# created here, when Kafka is started, with TopicCommand --if-not-exists.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

: "${CAST_VAR:=$ROOT/var}"
[[ $CAST_VAR == /* ]] || CAST_VAR=$PWD/$CAST_VAR
: "${CAST_HTTP_PORT:=8080}"
: "${CAST_REDIS_PORT:=16379}"
: "${CAST_PG_PORT:=15432}"
: "${CAST_KAFKA_PORT:=19092}"
: "${CAST_KAFKA_CONTROLLER_PORT:=19093}"
: "${CAST_TICKETD_HTTP_PORT:=19101}"
: "${CAST_RELAY_HTTP_PORT:=19102}"
: "${CAST_PERSISTER_HTTP_PORT:=19103}"
: "${CAST_TICKET_PERIOD_MS:=2000}"
: "${CAST_TICKET_MAX_USES:=100}"
: "${CAST_TICKET_GRACE_MS:=0}"
# at most this many uses of one ticket per client (nginx's cast_client_uses);
# empty or off: no share per client.  The client is CAST_CLIENT_KEY (nginx's
# cast_client_key, e.g. '$http_x_client'), by default its address.
: "${CAST_CLIENT_USES:=}"
: "${CAST_CLIENT_KEY:=}"
: "${CAST_KAFKA_PARTITIONS:=4}"
: "${CAST_KAFKA_HEAP:=512m}"
: "${CAST_REDIS_APPENDFSYNC:=always}"
# a replica's: WAIT counts replicas that received a write, not fsynced it
: "${CAST_REDIS_REPLICA_APPENDFSYNC:=everysec}"
: "${CAST_READY_TIMEOUT:=30}"
: "${CAST_REDIS_REPLICAS:=0}"
: "${CAST_SENTINEL_PORT:=$((CAST_REDIS_PORT + 5))}"
: "${CAST_REDIS_MASTER_NAME:=cast}"
: "${CAST_SENTINEL_DOWN_AFTER_MS:=1000}"
# a primary refuses writes unless this many replicas are connected (and
# lag at most 10 s); a lone replica promoted has none, so one replica
# leaves it at 0 (see the README, "Redis high availability")
: "${CAST_REDIS_MIN_REPLICAS_TO_WRITE:=$((CAST_REDIS_REPLICAS >= 2 ? 1 : 0))}"
# replicas nginx waits for (WAIT) before a vote is answered success
: "${CAST_REDIS_MIN_REPLICAS:=$CAST_REDIS_MIN_REPLICAS_TO_WRITE}"
# on: nginx reads query, cas and top from a replica (may be stale)
: "${CAST_REDIS_REPLICA_READS:=off}"
# the module nginx loads, and what to preload for it (a sanitized build
# needs libasan first: scripts/test.sh sets both)
: "${CAST_NGINX_MODULE:=$ROOT/build/ngx_http_cast_module.so}"
: "${CAST_NGINX_PRELOAD:=}"
: "${KAFKA_VERSION:=4.1.1}"
: "${CAST_KAFKA_LIBS:=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/cast/kafka-$KAFKA_VERSION/libs}"

# The daemons read relative paths of their conf (lib/redis/cast.lua) from here.
cd "$ROOT"

PG_BIN=/usr/lib/postgresql/15/bin
RUN=$CAST_VAR/run
LOG=$CAST_VAR/log
BIN=${CAST_BIN:-$ROOT/build/bin}
NGINX_ERROR_LOG=$LOG/nginx-error.log
[[ $CAST_REDIS_REPLICAS =~ ^[0-4]$ ]] \
    || { echo "stack: error: CAST_REDIS_REPLICAS must be 0..4" >&2; exit 1; }
REDIS_PARTS=(redis)
SENTINELS=()
for ((i = 1; i <= CAST_REDIS_REPLICAS; i++)); do
    REDIS_PARTS+=("redis-replica$i")
done
((CAST_REDIS_REPLICAS == 0)) || SENTINELS=(sentinel1 sentinel2 sentinel3)
PARTS=("${REDIS_PARTS[@]}" "${SENTINELS[@]}" postgres kafka ticketd relay
       persister nginx)
DAEMONS=(ticketd relay persister)
STOP_TIMEOUT=30
ON_FAIL=part

export CAST_VAR CAST_HTTP_PORT CAST_REDIS_PORT CAST_PG_PORT CAST_KAFKA_PORT \
    CAST_KAFKA_CONTROLLER_PORT CAST_TICKETD_HTTP_PORT CAST_RELAY_HTTP_PORT \
    CAST_PERSISTER_HTTP_PORT CAST_TICKET_PERIOD_MS CAST_TICKET_MAX_USES \
    CAST_TICKET_GRACE_MS CAST_KAFKA_PARTITIONS
export CAST_REDIS_URL=redis://127.0.0.1:$CAST_REDIS_PORT/0
export CAST_PG_DSN=postgresql://postgres@127.0.0.1:$CAST_PG_PORT/cast
export CAST_KAFKA_BOOTSTRAP=127.0.0.1:$CAST_KAFKA_PORT
CAST_REDIS_SENTINELS=
for ((i = 0; i < ${#SENTINELS[@]}; i++)); do
    CAST_REDIS_SENTINELS+=${CAST_REDIS_SENTINELS:+ }
    CAST_REDIS_SENTINELS+=127.0.0.1:$((CAST_SENTINEL_PORT + i))
done
export CAST_REDIS_SENTINELS CAST_REDIS_MASTER_NAME CAST_REDIS_REPLICAS \
    CAST_REDIS_MIN_REPLICAS
export CAST_GRAPHQL_URL=http://127.0.0.1:$CAST_HTTP_PORT/graphql
export CAST_TICKET_SECRET_FILE=$CAST_VAR/secret


say() {
    printf 'stack: %s\n' "$*"
}


die() {
    printf 'stack: error: %s\n' "$*" >&2
    exit 1
}


usage() {
    sed -n '3,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}


# --- processes -----------------------------------------------------------------

pid_of() {
    [[ -s $RUN/$1.pid ]] && cat "$RUN/$1.pid"
}


# Live (non-zombie) processes of the session a part was started in.
session_pids() {
    ps -s "$1" -o pid=,stat= 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}


alive() {
    local pid

    pid=$(pid_of "$1") || return 1
    [[ -n $(session_pids "$pid") ]]
}


# starting PART: alive, or its own process runs: right after launch,
# before setsid() has run in it, the part is not yet a session of its own
# (a loaded machine saw "exited while starting" of a persister that was
# running).  Only while it starts: a stale pid file's pid, reused by
# another process, must not make a part alive.
starting() {
    local pid st

    alive "$1" && return 0
    pid=$(pid_of "$1") || return 1
    st=$(ps -p "$pid" -o stat= 2>/dev/null) && [[ $st != Z* ]]
}


# launch PART CMD...: runs CMD in a new session, output to the part's log.
launch() {
    local part=$1

    shift
    printf '\n=== %s start %s\n' "$part" "$(date '+%F %T')" >>"$LOG/$part.log"
    setsid "$@" </dev/null >>"$LOG/$part.log" 2>&1 &
    echo $! >"$RUN/$part.pid"
    # Not a job of this shell: `run` must not report a part killed on purpose.
    disown $!
}


port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}


port_free() {
    if port_open "$2"; then
        die "$1: port $2 is already in use by a process this script did not start"
    fi
}


fail() {
    local part=$1

    shift
    printf 'stack: error: %s: %s\n' "$part" "$*" >&2
    if [[ -f $LOG/$part.log ]]; then
        printf 'stack: last lines of %s:\n' "$LOG/$part.log" >&2
        tail -n 25 "$LOG/$part.log" | sed 's/^/    /' >&2
    fi
    if [[ $part == nginx && -f $NGINX_ERROR_LOG ]]; then
        printf 'stack: last lines of %s:\n' "$NGINX_ERROR_LOG" >&2
        grep -v '\[debug\]' "$NGINX_ERROR_LOG" | tail -n 15 | sed 's/^/    /' >&2
    fi
    if [[ $ON_FAIL == all ]]; then
        say "stopping the rest"
        down_all >&2 || true
    else
        stop_part "$part" >&2 || true
    fi
    exit 1
}


# wait_for PART SECONDS CMD...: until CMD succeeds, while the part lives.
wait_for() {
    local part=$1 t=$2 deadline=$((SECONDS + $2))

    shift 2
    until "$@" >/dev/null 2>&1; do
        starting "$part" || fail "$part" "exited while starting"
        ((SECONDS < deadline)) || fail "$part" "not ready after ${t}s"
        sleep 0.2
    done
}


# stop_part PART [SIGNAL]: the signal to the leader, SIGKILL to the whole
# session after STOP_TIMEOUT seconds.
stop_part() {
    local part=$1 sig=${2:-TERM} pid left deadline

    pid=$(pid_of "$part") || return 0
    mapfile -t left < <(session_pids "$pid")
    if ((${#left[@]} > 0)); then
        if [[ $sig == KILL ]]; then
            kill -KILL "${left[@]}" 2>/dev/null || true
        else
            kill -"$sig" "$pid" 2>/dev/null || true
        fi
        deadline=$((SECONDS + STOP_TIMEOUT))
        while mapfile -t left < <(session_pids "$pid"); ((${#left[@]} > 0)); do
            if ((SECONDS >= deadline)); then
                say "$part: still running after ${STOP_TIMEOUT}s, SIGKILL"
                kill -KILL "${left[@]}" 2>/dev/null || true
                deadline=$((SECONDS + 5))
            fi
            sleep 0.1
        done
        # Let the parent reap them: a pid still present, even as a zombie,
        # makes PostgreSQL think its old postmaster is alive.
        deadline=$((SECONDS + 3))
        while [[ -n $(ps -s "$pid" -o pid= 2>/dev/null) ]] && ((SECONDS < deadline)); do
            sleep 0.1
        done
        say "$part: stopped ($([[ $sig == KILL ]] && echo SIGKILL || echo "SIG$sig"))"
    fi
    rm -f "$RUN/$part.pid"
}


# --- redis ---------------------------------------------------------------------

# the port of a Redis or Sentinel part
redis_port() {
    case $1 in
    redis)          echo "$CAST_REDIS_PORT" ;;
    redis-replica*) echo $((CAST_REDIS_PORT + ${1#redis-replica})) ;;
    sentinel*)      echo $((CAST_SENTINEL_PORT + ${1#sentinel} - 1)) ;;
    esac
}


redis_ping_port() {
    [[ $(redis-cli -h 127.0.0.1 -p "$1" ping) == PONG ]]
}


# the primary's port as the first Sentinel that answers sees it
sentinel_primary() {
    local p port

    for p in "${SENTINELS[@]}"; do
        port=$(redis-cli -h 127.0.0.1 -p "$(redis_port "$p")" SENTINEL \
                   get-master-addr-by-name "$CAST_REDIS_MASTER_NAME" \
                   2>/dev/null | sed -n 2p) || continue
        [[ -n $port ]] && { echo "$port"; return 0; }
    done
    return 1
}


# The primary's port: the Sentinels' answer; with none running, the one
# their last configuration names (they rewrite it at each failover); at
# first, $CAST_REDIS_PORT.
primary_port() {
    local conf=$CAST_VAR/sentinel1/sentinel.conf port

    if ((${#SENTINELS[@]})); then
        sentinel_primary && return 0
        if [[ -f $conf ]]; then
            port=$(awk -v m="$CAST_REDIS_MASTER_NAME" \
                '$1 == "sentinel" && $2 == "monitor" && $3 == m { print $5 }' \
                "$conf")
            [[ -n $port ]] && { echo "$port"; return 0; }
        fi
    fi
    echo "$CAST_REDIS_PORT"
}


# the part whose port is the primary's
primary_part() {
    local port p

    port=$(primary_port)
    for p in "${REDIS_PARTS[@]}"; do
        [[ $(redis_port "$p") == "$port" ]] && { echo "$p"; return 0; }
    done
    die "the primary, port $port, is none of ${REDIS_PARTS[*]}"
}


replica_linked() {
    redis-cli -h 127.0.0.1 -p "$1" INFO replication \
        | grep -q '^master_link_status:up'
}


redis_role() {
    redis-cli -h 127.0.0.1 -p "$1" ROLE 2>/dev/null | head -n 1
}


# Every Redis, primary or replica, has the same settings but appendfsync:
# a replica may become the primary.  One that is not the primary now
# starts as a replica of it (an old primary restarted rejoins as one),
# with the replicas' appendfsync; nginx sets the primary's again when it
# connects (cast_redis_primary_fsync, with CAST_REDIS_APPENDFSYNC=always).
start_redis() {
    local part=$1 port dir primary ha='' fsync=$CAST_REDIS_APPENDFSYNC v

    for v in CAST_REDIS_APPENDFSYNC CAST_REDIS_REPLICA_APPENDFSYNC; do
        case ${!v} in
        always|everysec) ;;
        *) die "redis: $v must be always or everysec" ;;
        esac
    done
    port=$(redis_port "$part")
    dir=$CAST_VAR/$part
    primary=$(primary_port)
    if ((CAST_REDIS_REPLICAS > 0)); then
        ha="min-replicas-to-write $CAST_REDIS_MIN_REPLICAS_TO_WRITE
min-replicas-max-lag 10
replica-serve-stale-data yes
repl-diskless-sync-delay 0"
        if [[ $primary != "$port" ]]; then
            ha+=$'\n'"replicaof 127.0.0.1 $primary"
            fsync=$CAST_REDIS_REPLICA_APPENDFSYNC
        fi
    fi
    mkdir -p "$dir"
    cat >"$dir/redis.conf" <<EOF
# generated by scripts/stack.sh
bind 127.0.0.1
port $port
protected-mode yes
daemonize no
dir $dir
logfile ""
save ""
appendonly yes
appendfsync $fsync
$ha
EOF
    port_free "$part" "$port"
    launch "$part" redis-server "$dir/redis.conf"
    wait_for "$part" 20 redis_ping_port "$port"
    if [[ $primary != "$port" ]] && port_open "$primary"; then
        wait_for "$part" 30 replica_linked "$port"
    fi
}


sentinel_knows() {
    local port=$1 others=$2 info

    info=$(redis-cli -h 127.0.0.1 -p "$port" SENTINEL master \
               "$CAST_REDIS_MASTER_NAME") || return 1
    (($(sed -n '/^num-slaves$/{n;p}' <<<"$info") >= CAST_REDIS_REPLICAS \
      && $(sed -n '/^num-other-sentinels$/{n;p}' <<<"$info") >= others))
}


# A Sentinel keeps its state in its own configuration file, which it
# rewrites: written here only the first time (or when it watches a port
# that is not the primary's).  It is ready once it knows the replicas and
# the Sentinels already running.
start_sentinel() {
    local part=$1 port dir conf primary p others=0 watched=

    port=$(redis_port "$part")
    dir=$CAST_VAR/$part
    conf=$dir/sentinel.conf
    primary=$(primary_port)
    mkdir -p "$dir"
    [[ ! -f $conf ]] || watched=$(awk '$2 == "monitor" { print $5 }' "$conf")
    if [[ $watched != "$primary" ]]; then
        cat >"$conf" <<EOF
# generated by scripts/stack.sh; Sentinel rewrites it
bind 127.0.0.1
port $port
daemonize no
dir $dir
logfile ""
sentinel monitor $CAST_REDIS_MASTER_NAME 127.0.0.1 $primary 2
sentinel down-after-milliseconds $CAST_REDIS_MASTER_NAME \
    $CAST_SENTINEL_DOWN_AFTER_MS
sentinel failover-timeout $CAST_REDIS_MASTER_NAME 10000
sentinel parallel-syncs $CAST_REDIS_MASTER_NAME 1
EOF
    fi
    for p in "${SENTINELS[@]}"; do
        [[ $p != "$part" ]] && alive "$p" && others=$((others + 1))
    done
    port_free "$part" "$port"
    launch "$part" redis-server "$conf" --sentinel
    wait_for "$part" 30 sentinel_knows "$port" "$others"
}


# --- postgresql ----------------------------------------------------------------

# The command prefix that runs a program as the postgres user when we are
# root (initdb and postgres refuse root).  setpriv execs, so $! stays the pid.
AS_PG=()
((EUID != 0)) || AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)


pg_ready() {
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$CAST_PG_PORT" -U postgres -d cast
}


# As root the cluster belongs to the postgres user, who must be able to reach
# it: when $CAST_VAR lies under a directory closed to others (a clone in
# /root), the cluster goes to /var/tmp and $CAST_VAR/pg links to it.
pg_dirs() {
    local real

    PG_DATA=$CAST_VAR/pg
    PG_RUN=$CAST_VAR/pg-run
    ((EUID == 0)) || return 0
    if [[ -L $PG_DATA ]] \
        || ! setpriv --reuid=postgres --regid=postgres --init-groups -- \
            test -x "$CAST_VAR"; then
        real=/var/tmp/cast-pg.$(printf '%s' "$CAST_VAR" | md5sum | cut -c1-12)
        mkdir -p "$real"
        chmod 755 "$real"
        ln -sfn "$real/pg" "$PG_DATA"
        ln -sfn "$real/pg-run" "$PG_RUN"
        PG_DATA=$real/pg
        PG_RUN=$real/pg-run
    fi
}


pg_init() {
    local data=$PG_DATA

    mkdir -p "$data" "$PG_RUN"
    ((EUID != 0)) || chown postgres:postgres "$data" "$PG_RUN"
    chmod 700 "$data"
    [[ -f $data/PG_VERSION ]] && return 0
    say "postgres: initdb $data"
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >>"$LOG/postgres.log" 2>&1 \
        || fail postgres "initdb failed"
}


# After a SIGKILL the lock file names a postmaster that is gone.
pg_stale_lock() {
    local lock=$PG_DATA/postmaster.pid pid

    [[ -f $lock ]] || return 0
    pid=$(head -n 1 "$lock")
    if ! ps -p "$pid" -o stat= 2>/dev/null | grep -qv '^Z'; then
        rm -f "$lock"
        say "postgres: removed the stale postmaster.pid of pid $pid"
    fi
}


start_postgres() {
    port_free postgres "$CAST_PG_PORT"
    pg_dirs
    pg_init
    pg_stale_lock
    launch postgres "${AS_PG[@]}" "$PG_BIN/postgres" -D "$PG_DATA" \
        -c listen_addresses=127.0.0.1 -c port="$CAST_PG_PORT" \
        -c unix_socket_directories="$PG_RUN"
    wait_for postgres 60 pg_ready
}


pg_createdb() {
    local q="SELECT 1 FROM pg_database WHERE datname = 'cast'"

    if [[ -z $("$PG_BIN/psql" -h 127.0.0.1 -p "$CAST_PG_PORT" -U postgres \
                -d postgres -tAc "$q") ]]; then
        "$PG_BIN/createdb" -h 127.0.0.1 -p "$CAST_PG_PORT" -U postgres cast \
            || fail postgres "createdb cast failed"
        say "postgres: created database cast"
    fi
}


# --- kafka ---------------------------------------------------------------------

kafka_java() {
    java -Xmx256m -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$CAST_VAR/kafka/tools-log4j2.properties" \
        -cp "$CAST_KAFKA_LIBS/*" "$@"
}


kafka_config() {
    local dir=$CAST_VAR/kafka

    mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<EOF
# generated by scripts/stack.sh: one KRaft node, broker and controller
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$CAST_KAFKA_PORT,CONTROLLER://127.0.0.1:$CAST_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$CAST_KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:$CAST_KAFKA_CONTROLLER_PORT
log.dirs=$dir/data
num.partitions=$CAST_KAFKA_PARTITIONS
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
    cat >"$dir/log4j2.properties" <<EOF
# generated by scripts/stack.sh: the broker logs to stdout, into $LOG
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
EOF
    cat >"$dir/tools-log4j2.properties" <<EOF
# generated by scripts/stack.sh: command line tools, warnings only
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
EOF
}


# Formats the storage once; sets FRESH when it did.
kafka_format() {
    local dir=$CAST_VAR/kafka id

    FRESH=
    [[ -f $dir/data/meta.properties ]] && return 0
    FRESH=1
    # A cluster id is 16 random bytes, base64url without padding.
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    say "kafka: formatting $dir/data (cluster $id)"
    # --cluster-id=ID: an id may begin with '-'
    kafka_java kafka.tools.StorageTool format --cluster-id="$id" \
        -c "$dir/server.properties" --standalone >>"$LOG/kafka.log" 2>&1 \
        || fail kafka "storage format failed"
}


kafka_topics() {
    kafka_java org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$CAST_KAFKA_BOOTSTRAP" "$@"
}


kafka_create() {
    kafka_topics --create --if-not-exists --topic "$1" --partitions "$2" \
        --replication-factor 1 >>"$LOG/kafka-tools.log" 2>&1
}


# Creates the topics that are missing, both at once (a JVM each); the first
# request to a broker also proves it answers.  A fresh broker has none, so
# it is not asked for the list.
kafka_ensure_topics() {
    local have='' fresh=$1 p name parts pids=() names=()

    if [[ -z $fresh ]]; then
        have=$(kafka_topics --list 2>>"$LOG/kafka-tools.log") \
            || fail kafka "topic list failed"
    fi
    for p in "cast.votes:$CAST_KAFKA_PARTITIONS" cast.votes.dlq:1; do
        name=${p%:*} parts=${p#*:}
        grep -qx "$name" <<<"$have" && continue
        kafka_create "$name" "$parts" &
        pids+=($!) names+=("$name, $parts partition(s)")
    done
    for p in "${!pids[@]}"; do
        wait "${pids[p]}" || fail kafka "cannot create topic ${names[p]}"
        say "kafka: created topic ${names[p]}"
    done
}


start_kafka() {
    local dir=$CAST_VAR/kafka

    [[ -f $CAST_KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar ]] \
        || die "kafka: no jars in $CAST_KAFKA_LIBS (run make deps)"
    port_free kafka "$CAST_KAFKA_PORT"
    port_free kafka "$CAST_KAFKA_CONTROLLER_PORT"
    kafka_config
    kafka_format
    # C1 only: on a small machine C2 spends minutes of CPU compiling the
    # broker's hot paths, taken from the services it shares the cores with
    launch kafka java -Xms256m -Xmx"$CAST_KAFKA_HEAP" -XX:+UseG1GC \
        -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -Dkafka.logs.dir="$LOG" \
        -cp "$CAST_KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
    wait_for kafka 120 port_open "$CAST_KAFKA_PORT"
    kafka_ensure_topics "$FRESH"
}


# --- daemons -------------------------------------------------------------------

daemon_port() {
    local var="CAST_${1^^}_HTTP_PORT"

    echo "${!var}"
}


# cast_cmd NAME: sets CMD to build/bin/cast-NAME with -c conf/NAME.conf when
# there is such a file.
cast_cmd() {
    CMD=("$BIN/cast-$1")
    [[ ! -f $ROOT/conf/$1.conf ]] || CMD+=(-c "$ROOT/conf/$1.conf")
}


daemon_healthy() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz"
}


secret_file() {
    [[ -s $CAST_TICKET_SECRET_FILE ]] && return 0
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' \
        >"$CAST_TICKET_SECRET_FILE")
    say "wrote a new ticket secret to $CAST_TICKET_SECRET_FILE"
}


migrate() {
    [[ -x $BIN/cast-admin ]] || {
        say "cast-admin: not built, no schema migrations"
        return 0
    }
    cast_cmd admin
    "${CMD[@]}" migrate </dev/null >>"$LOG/admin.log" 2>&1 || {
        printf 'stack: error: cast-admin migrate failed:\n' >&2
        tail -n 25 "$LOG/admin.log" | sed 's/^/    /' >&2
        [[ $ON_FAIL != all ]] || down_all >&2 || true
        exit 1
    }
    say "cast-admin: migrations applied"
}


start_daemon() {
    local name=$1 port

    port=$(daemon_port "$name")
    port_free "$name" "$port"
    secret_file
    cast_cmd "$name"
    # A daemon reads its key http_port from CAST_HTTP_PORT, the others
    # (CAST_REDIS_URL, CAST_TICKET_PERIOD_MS, ...) from what is exported.
    launch "$name" env CAST_HTTP_PORT="$port" "${CMD[@]}"
    wait_for "$name" 20 daemon_healthy "$port"
}


# --- nginx ---------------------------------------------------------------------

# conf/cast.conf with the stack's ports, its var/ paths moved to $CAST_VAR,
# its conf/ and build/ paths made absolute (a copy lives elsewhere), the pid
# file under $CAST_VAR/nginx.
nginx_config() {
    local dir=$CAST_VAR/nginx conf=$CAST_VAR/nginx/cast.conf t

    mkdir -p "$dir"
    sed -E -e "s/\b8080\b/$CAST_HTTP_PORT/g" \
        -e "s/\b16379\b/$CAST_REDIS_PORT/g" \
        -e "s#^(\s*pid\s+)[^;]*;#\1$dir/nginx.pid;#" \
        -e "s#([[:space:]])var/#\1$CAST_VAR/#g" \
        -e "s#([[:space:]])(conf|build)/#\1$ROOT/\2/#g" \
        -e "s#^(\s*load_module\s+)[^;]*;#\1$CAST_NGINX_MODULE;#" \
        "$ROOT/conf/cast.conf" >"$conf"
    if ((CAST_REDIS_REPLICAS > 0)); then
        # the primary through the Sentinels, each vote batch on replicas
        t="\1cast_redis_sentinel $CAST_REDIS_SENTINELS;"
        t+="\n\1cast_redis_master_name $CAST_REDIS_MASTER_NAME;"
        t+="\n\1cast_redis_min_replicas $CAST_REDIS_MIN_REPLICAS;"
        # a promoted replica fsyncs as the primary did
        [[ $CAST_REDIS_APPENDFSYNC != always ]] \
            || t+="\n\1cast_redis_primary_fsync on;"
        [[ $CAST_REDIS_REPLICA_READS != on ]] \
            || t+="\n\1cast_redis_replica_reads on;"
        sed -i -E "s#^(\s*)cast_redis\s+[^;]*;#$t#" "$conf"
    fi
    grep -Eq '^\s*pid\s' "$conf" || sed -i "1i pid $dir/nginx.pid;" "$conf"
    if [[ -n $CAST_CLIENT_USES && $CAST_CLIENT_USES != off ]]; then
        [[ $CAST_CLIENT_USES =~ ^[1-9][0-9]*$ ]] \
            || fail nginx "CAST_CLIENT_USES=$CAST_CLIENT_USES: not off or n"
        t="    cast_client_uses          $CAST_CLIENT_USES;"
        sed -i -E "0,/^\s*cast_redis_functions\s.*\$/s##&\n$t#" "$conf"
    fi
    if [[ -n $CAST_CLIENT_KEY ]]; then
        case $CAST_CLIENT_KEY in
        *[\;\#\&\'\"\\]*)
            fail nginx "CAST_CLIENT_KEY=$CAST_CLIENT_KEY: no ; # & or quotes"
            ;;
        esac
        t="    cast_client_key           $CAST_CLIENT_KEY;"
        sed -i -E "0,/^\s*cast_redis_functions\s.*\$/s##&\n$t#" "$conf"
    fi
    grep -Eq '^\s*error_log\s' "$conf" \
        || sed -i "1i error_log $NGINX_ERROR_LOG info;" "$conf"
    for t in client_body proxy fastcgi uwsgi scgi; do
        grep -q "${t}_temp_path" "$conf" \
            || sed -i -E "0,/^\s*http\s*\{/s##&\n    ${t}_temp_path $dir/$t;#" "$conf"
    done
}


nginx_healthy() {
    curl -fsS -o /dev/null --max-time 2 \
        "http://127.0.0.1:$CAST_HTTP_PORT/healthz"
}


start_nginx() {
    local conf=$CAST_VAR/nginx/cast.conf daemon=()

    port_free nginx "$CAST_HTTP_PORT"
    secret_file
    nginx_config
    LD_PRELOAD=$CAST_NGINX_PRELOAD nginx -q -t -p "$ROOT" -c "$conf" \
        >>"$LOG/nginx.log" 2>&1 || fail nginx "nginx -t rejected $conf"
    grep -q '^\s*daemon\s' "$conf" || daemon=(-g 'daemon off;')
    launch nginx env LD_PRELOAD="$CAST_NGINX_PRELOAD" \
        nginx -p "$ROOT" -c "$conf" "${daemon[@]}"
    wait_for nginx 20 nginx_healthy
}


# --- parts ---------------------------------------------------------------------

# present PART: 0 when the part can run here; says why not otherwise.
present() {
    case $1 in
    ticketd|relay|persister)
        [[ -x $BIN/cast-$1 ]] || { say "$1: build/bin/cast-$1 not built, skipped"; return 1; }
        ;;
    nginx)
        [[ -f $ROOT/conf/cast.conf ]] || { say "nginx: conf/cast.conf missing, skipped"; return 1; }
        ;;
    esac
}


start_part() {
    local part=$1

    mkdir -p "$RUN" "$LOG"
    if alive "$part"; then
        say "$part: already running (pid $(pid_of "$part"))"
        return 0
    fi
    rm -f "$RUN/$part.pid"
    present "$part" || return 0
    local t0=$SECONDS
    case $part in
    redis|redis-replica*) start_redis "$part" ;;
    sentinel*)  start_sentinel "$part" ;;
    postgres)   start_postgres; pg_createdb ;;
    kafka)      start_kafka ;;
    ticketd|relay|persister) start_daemon "$part" ;;
    nginx)      start_nginx ;;
    esac
    say "$part: ready (pid $(pid_of "$part"), $((SECONDS - t0))s)"
}


check_part() {
    local p

    for p in "${PARTS[@]}"; do
        [[ $1 == "$p" ]] && return 0
    done
    die "unknown part '$1' (one of: ${PARTS[*]})"
}


write_env() {
    local v

    mkdir -p "$CAST_VAR"
    {
        echo "# generated by scripts/stack.sh; source it from a shell"
        for v in CAST_VAR CAST_GRAPHQL_URL CAST_REDIS_URL CAST_PG_DSN \
                 CAST_KAFKA_BOOTSTRAP CAST_HTTP_PORT CAST_REDIS_PORT \
                 CAST_PG_PORT CAST_KAFKA_PORT CAST_KAFKA_CONTROLLER_PORT \
                 CAST_TICKETD_HTTP_PORT CAST_RELAY_HTTP_PORT \
                 CAST_PERSISTER_HTTP_PORT CAST_TICKET_PERIOD_MS \
                 CAST_TICKET_MAX_USES CAST_TICKET_GRACE_MS CAST_CLIENT_USES \
                 CAST_CLIENT_KEY CAST_KAFKA_PARTITIONS \
                 CAST_TICKET_SECRET_FILE CAST_KAFKA_LIBS CAST_REDIS_REPLICAS \
                 CAST_REDIS_SENTINELS CAST_REDIS_MASTER_NAME \
                 CAST_SENTINEL_PORT CAST_REDIS_MIN_REPLICAS; do
            printf 'export %s=%q\n' "$v" "${!v}"
        done
        printf 'export CAST_STACK_PIDS=%q\n' "$RUN"
        printf 'export CAST_STACK_LOGS=%q\n' "$LOG"
        printf 'export CAST_NGINX_ERROR_LOG=%q\n' "$NGINX_ERROR_LOG"
    } >"$CAST_VAR/stack.env"
}


readyz() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://127.0.0.1:$CAST_HTTP_PORT/readyz") == 200 ]]
}


up() {
    local p t0=$SECONDS deadline first

    ON_FAIL=all
    write_env
    # the primary first: the replicas sync from it
    first=$(primary_part)
    start_part "$first"
    for p in "${REDIS_PARTS[@]}" "${SENTINELS[@]}"; do
        [[ $p == "$first" ]] || start_part "$p"
    done
    start_part postgres
    migrate
    start_part kafka
    for p in "${DAEMONS[@]}"; do
        start_part "$p"
    done
    start_part nginx
    if ! alive nginx || ! alive ticketd; then
        say "not waiting for /readyz: nginx or ticketd is not running"
    else
        deadline=$((SECONDS + CAST_READY_TIMEOUT))
        until readyz; do
            ((SECONDS < deadline)) \
                || fail nginx "GET /readyz not 200 after ${CAST_READY_TIMEOUT}s"
            sleep 0.2
        done
        say "GET /readyz: 200"
    fi
    say "up in $((SECONDS - t0))s; environment in $CAST_VAR/stack.env"
}


# Stops every part in reverse order and checks nothing is left.
down_all() {
    local i p pid left=()

    for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do
        p=${PARTS[i]}
        if [[ $p == postgres ]]; then
            stop_part "$p" INT     # fast shutdown; TERM waits for clients
        else
            stop_part "$p"
        fi
    done
    for p in "${PARTS[@]}"; do
        pid=$(pid_of "$p") || continue
        [[ -z $(session_pids "$pid") ]] || left+=("$p")
    done
    ((${#left[@]} == 0)) || die "still running: ${left[*]}"
}


status() {
    local p pid role

    for p in "${PARTS[@]}"; do
        if alive "$p"; then
            pid=$(pid_of "$p")
            role=
            if ((${#SENTINELS[@]})) && [[ $p == redis* ]]; then
                case $(redis_role "$(redis_port "$p")") in
                master) role=', primary' ;;
                slave)  role=', replica' ;;
                esac
            fi
            printf '%-15s running (pid %s%s)\n' "$p" "$pid" "$role"
        else
            printf '%-15s stopped\n' "$p"
        fi
    done
    if ((${#SENTINELS[@]})); then
        printf '%-15s %s (port %s, as the Sentinels see it)\n' \
            redis-primary "$(primary_part)" "$(primary_port)"
    fi
}


run() {
    local p

    trap 'trap - INT TERM; say "stopping"; down_all; exit 0' INT TERM
    up
    say "running; Ctrl-C stops everything"
    declare -A warned=()
    while :; do
        for p in "${PARTS[@]}"; do
            [[ -s $RUN/$p.pid ]] || continue
            if ! alive "$p" && [[ -z ${warned[$p]:-} ]]; then
                say "$p: exited (log: $LOG/$p.log)"
                warned[$p]=1
            fi
        done
        sleep 1 &
        wait $! || true
    done
}


main() {
    local cmd=${1:-} part

    case $cmd in
    up)         up ;;
    down)       down_all ;;
    run)        run ;;
    status)     status ;;
    start|stop|kill|restart)
        [[ $# -eq 2 ]] || die "usage: stack.sh $cmd PART"
        part=$2
        [[ $part != redis-primary ]] || part=$(primary_part)
        check_part "$part"
        case $cmd in
        start)      start_part "$part" ;;
        stop)       stop_part "$part" "$([[ $part == postgres ]] && echo INT || echo TERM)" ;;
        kill)       stop_part "$part" KILL ;;
        restart)    stop_part "$part" "$([[ $part == postgres ]] && echo INT || echo TERM)"
                    start_part "$part" ;;
        esac
        ;;
    -h|--help|help) usage ;;
    *)          usage >&2; exit 2 ;;
    esac
}


main "$@"
