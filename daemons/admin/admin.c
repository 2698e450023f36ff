#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "cast_conf.h"
#include "cast_kafka.h"
#include "cast_log.h"
#include "cast_pg.h"
#include "cast_redis.h"
#include "cast_restore.h"
#include "cast_signal.h"
#include "cast_time.h"


#define ADMIN_PROG      "cast-admin"
#define ADMIN_POLL_MS   250


typedef struct {
    const char      *name;
    int            (*run)(admin_t *a);
    const char      *options;
} admin_command_t;


static int admin_migrate(admin_t *a);
static int admin_restore(admin_t *a);
static int admin_rank(admin_t *a);
static void admin_options(admin_t *a, const admin_command_t *cmd, int argc,
    char **argv, int first);
static int admin_drained(admin_t *a, int64_t *outbox, int64_t *lag,
    int64_t *relay);


static admin_t  admin;

static const cast_conf_t  admin_conf[] = {

    cast_conf_redis_url_row(&admin.redis_url),
    cast_conf_redis_sentinels_row(&admin.redis_sentinels),
    cast_conf_redis_master_name_row(&admin.redis_master_name),
    cast_conf_functions_file_row(&admin.functions_file,
                                 "loaded by restore"),
    cast_conf_kafka_bootstrap_row(&admin.kafka.bootstrap),
    cast_conf_kafka_options_row(&admin.kafka.options),
    cast_conf_topic_row(&admin.kafka.topic),
    cast_conf_dlq_topic_row(&admin.kafka.dlq_topic),
    cast_conf_group_id_row(&admin.group_id),

    { "dlq_group_id", CAST_CONF_STR, "cast-dlq-replay", &admin.dlq_group_id,
      "consumer group remembering which dead letters were replayed" },

    cast_conf_pg_dsn_row(&admin.pg_dsn),
    cast_conf_migrations_dir_row(&admin.migrations_dir),
    cast_conf_restore_chunk_row(&admin.restore_chunk),
    cast_conf_log_level_row(&admin.log_level, "warn"),

    cast_conf_null_row
};

static const admin_command_t  admin_commands[] = {
    { "migrate", admin_migrate, "" },
    { "restore", admin_restore, "--wait" },
    { "check", admin_check, "--wait" },
    { "rank", admin_rank, "" },
    { "dlq-replay", admin_dlq_replay, "" },
    { "lag", admin_lag, "--seconds" },
    { NULL, NULL, NULL }
};


int
main(int argc, char **argv)
{
    int                     first, rc;
    admin_t                *a = &admin;
    const admin_command_t  *cmd;

    cast_log_open(ADMIN_PROG);

    first = cast_conf_load(admin_conf, argc, argv, ADMIN_PROG,
                           "Operator commands: migrate | restore [--wait N] "
                           "| check [--wait N] | rank | dlq-replay\n"
                           "| lag [--seconds N].  See docs/pipeline.md.");

    cast_conf_log_level(ADMIN_PROG, a->log_level);

    /* 0 would restore nothing forever, a huge one overflow FCALL's argc */
    if (a->restore_chunk < 1 || a->restore_chunk > 100000) {
        cast_conf_die(ADMIN_PROG, "restore_chunk must be 1..100000");
    }

    if (first >= argc) {
        cast_conf_die(ADMIN_PROG, "a command is required: migrate, restore, "
                      "check, rank, dlq-replay or lag");
    }

    for (cmd = admin_commands; cmd->name != NULL; cmd++) {
        if (strcmp(cmd->name, argv[first]) == 0) {
            break;
        }
    }

    if (cmd->name == NULL) {
        cast_conf_die(ADMIN_PROG, "unknown command \"%s\"", argv[first]);
    }

    admin_options(a, cmd, argc, argv, first + 1);
    cast_signal_init();

    rc = cmd->run(a);

    if (a->pg != NULL) {
        PQfinish(a->pg);
    }

    if (a->redis != NULL) {
        redisFree(a->redis);
    }

    if (a->meta != NULL) {
        rd_kafka_destroy(a->meta);
    }

    cast_conf_free(admin_conf);
    return rc;
}


/* "--wait N" or "--seconds N", when the command takes it */

static void
admin_options(admin_t *a, const admin_command_t *cmd, int argc, char **argv,
    int first)
{
    int    i;
    char  *end;
    long   v;

    a->wait_s = 0;
    a->seconds = 60;

    for (i = first; i < argc; i += 2) {
        if (cmd->options[0] == '\0' || strcmp(argv[i], cmd->options) != 0) {
            cast_conf_die(ADMIN_PROG, "%s: unexpected argument \"%s\"",
                          cmd->name, argv[i]);
        }

        if (i + 1 >= argc) {
            cast_conf_die(ADMIN_PROG, "%s needs a number", argv[i]);
        }

        v = strtol(argv[i + 1], &end, 10);
        if (*end != '\0' || end == argv[i + 1] || v < 0 || v > 86400) {
            cast_conf_die(ADMIN_PROG, "%s: \"%s\" is not 0..86400 seconds",
                          argv[i], argv[i + 1]);
        }

        if (strcmp(argv[i], "--wait") == 0) {
            a->wait_s = v;

        } else {
            a->seconds = v;
        }
    }
}


PGconn *
admin_pg(admin_t *a)
{
    char  err[512];

    if (a->pg == NULL) {
        a->pg = cast_pg_connect(a->pg_dsn, err, sizeof(err));
        if (a->pg == NULL) {
            fprintf(stderr, "%s: postgresql: %s\n", ADMIN_PROG, err);
        }
    }

    return a->pg;
}


redisContext *
admin_redis(admin_t *a)
{
    char  err[512];

    if (a->redis == NULL) {
        a->redis = cast_redis_connect_primary(a->redis_url,
                                              a->redis_sentinels,
                                              a->redis_master_name, 5000,
                                              err, sizeof(err));
        if (a->redis == NULL) {
            fprintf(stderr, "%s: redis: %s\n", ADMIN_PROG, err);
        }
    }

    return a->redis;
}


/* A consumer handle of group_id that never subscribes. */

rd_kafka_t *
admin_consumer(admin_t *a, const char *group_id, const char *client_id)
{
    rd_kafka_conf_t  *conf;

    conf = cast_kafka_conf(a->kafka.bootstrap, client_id,
                           "enable.auto.commit=false", a->kafka.options);
    if (conf == NULL) {
        return NULL;
    }

    if (cast_kafka_set(conf, "group.id", group_id) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    return cast_kafka_new(RD_KAFKA_CONSUMER, conf);
}


static int
admin_drained(admin_t *a, int64_t *outbox, int64_t *lag, int64_t *relay)
{
    *outbox = cast_restore_outbox_len(a->redis);
    *relay = cast_restore_relay_inflight(a->redis);

    if (*outbox < 0 || *relay < 0
        || cast_kafka_group_lag(a->meta, a->kafka.topic, lag, 5000) != 0)
    {
        return -1;
    }

    return (*outbox == 0 && *lag == 0 && *relay == 0) ? 1 : 0;
}


/*
 * Waits up to wait_s for an empty outbox, no consumer lag and no event in
 * the relay, seen on two checks at least CAST_RESTORE_IDLE_MS apart: 0
 * drained, -1 (printed) not drained or unreachable.
 */

int
admin_wait_drained(admin_t *a)
{
    int      rc;
    int64_t  deadline, since, outbox, lag, relay;

    if (admin_redis(a) == NULL) {
        return -1;
    }

    if (a->meta == NULL) {
        a->meta = admin_consumer(a, a->group_id, "cast-admin");
        if (a->meta == NULL) {
            return -1;
        }
    }

    deadline = cast_mono_ms() + a->wait_s * 1000;
    since = 0;

    for ( ;; ) {
        rc = admin_drained(a, &outbox, &lag, &relay);

        if (rc != 1) {
            since = 0;

        } else if (since == 0) {
            since = cast_mono_ms();

        } else if (cast_mono_ms() - since >= CAST_RESTORE_IDLE_MS) {
            return 0;
        }

        /* a first drained check is always confirmed by a second */
        if (cast_quit || (since == 0 && cast_mono_ms() >= deadline)) {
            break;
        }

        usleep(ADMIN_POLL_MS * 1000);
    }

    if (rc < 0) {
        fprintf(stderr, "%s: cannot tell whether the pipeline is drained "
                "(redis or kafka unreachable)\n", ADMIN_PROG);

    } else {
        fprintf(stderr, "%s: pipeline not drained after %lld s: outbox %lld, "
                "consumer lag %lld, relay in flight %lld\n", ADMIN_PROG,
                (long long) a->wait_s, (long long) outbox, (long long) lag,
                (long long) relay);
    }

    return -1;
}


static int
admin_migrate(admin_t *a)
{
    int  n;

    if (admin_pg(a) == NULL) {
        return 1;
    }

    n = cast_pg_migrate(a->pg, a->migrations_dir);
    if (n < 0) {
        fprintf(stderr, "%s: migration failed (see the log above)\n",
                ADMIN_PROG);
        return 1;
    }

    printf("migrate: %d applied\n", n);
    return 0;
}


/*
 * The leaderboard and the total made again from Redis's counts, in one
 * function call (for a Redis whose counts predate them).
 */

static int
admin_rank(admin_t *a)
{
    redisReply  *r;

    if (admin_redis(a) == NULL) {
        return 1;
    }

    if (cast_redis_load_functions(a->redis, a->functions_file) != 0) {
        fprintf(stderr, "%s: cannot load %s into redis\n", ADMIN_PROG,
                a->functions_file);
        return 1;
    }

    r = cast_redis_command(a->redis, "FCALL cast_rank 0");

    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        fprintf(stderr, "%s: FCALL cast_rank: %s\n", ADMIN_PROG,
                r == NULL ? a->redis->errstr
                : r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        if (r != NULL) {
            freeReplyObject(r);
        }
        return 1;
    }

    printf("rank: %lld names ranked, total set\n", (long long) r->integer);
    freeReplyObject(r);

    return 0;
}


/* Only once PostgreSQL holds everything: the pipeline must be drained. */

static int
admin_restore(admin_t *a)
{
    int64_t  n;

    if (admin_pg(a) == NULL || admin_wait_drained(a) != 0) {
        return 1;
    }

    if (cast_redis_load_functions(a->redis, a->functions_file) != 0) {
        fprintf(stderr, "%s: cannot load %s into redis\n", ADMIN_PROG,
                a->functions_file);
        return 1;
    }

    n = cast_restore_run(a->pg, a->redis, (int) a->restore_chunk);
    if (n < 0) {
        fprintf(stderr, "%s: restore failed (see the log above)\n",
                ADMIN_PROG);
        return 1;
    }

    printf("restore: %lld names written, ready set\n", (long long) n);
    return 0;
}
