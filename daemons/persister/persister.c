#include <stdio.h>
#include <stdlib.h>

#include "cast_conf.h"
#include "cast_http.h"
#include "cast_log.h"
#include "cast_signal.h"
#include "cast_time.h"
#include "persister.h"


#define PERSISTER_PROG      "cast-persister"
#define PERSISTER_START_MS  1000


static void persister_configure(persister_t *p, int argc, char **argv);
static int persister_start(persister_t *p);


static persister_t  persister;

static const cast_conf_t  persister_conf[] = {

    cast_conf_redis_url_row(&persister.redis.url),
    cast_conf_redis_sentinels_row(&persister.redis.sentinels),
    cast_conf_redis_master_name_row(&persister.redis.master_name),
    cast_conf_redis_timeout_row(&persister.redis.timeout_ms),
    cast_conf_functions_file_row(&persister.functions_file,
                                 "loaded before a restore"),
    cast_conf_kafka_bootstrap_row(&persister.kafka.bootstrap),
    cast_conf_kafka_options_row(&persister.kafka.options),
    cast_conf_topic_row(&persister.kafka.topic),
    cast_conf_dlq_topic_row(&persister.kafka.dlq_topic),
    cast_conf_partitions_row(&persister.kafka.partitions),
    cast_conf_replication_row(&persister.kafka.replication),
    cast_conf_group_id_row(&persister.group_id),
    cast_conf_pg_dsn_row(&persister.pg_dsn),
    cast_conf_migrations_dir_row(&persister.migrations_dir),

    { "batch_max", CAST_CONF_INT, "5000", &persister.batch_max,
      "messages per PostgreSQL transaction, at most" },

    { "batch_ms", CAST_CONF_INT, "200", &persister.batch_ms,
      "how long a batch waits to fill after its first message" },

    { "retry_max_ms", CAST_CONF_INT, "2000", &persister.retry_max_ms,
      "longest pause between attempts while PostgreSQL fails" },

    cast_conf_restore_chunk_row(&persister.restore_chunk),
    cast_conf_http_host_row(&persister.http_host),
    cast_conf_http_port_row(&persister.http_port),
    cast_conf_log_level_row(&persister.log_level, "info"),

    cast_conf_null_row
};


int
main(int argc, char **argv)
{
    persister_t  *p = &persister;

    persister_configure(p, argc, argv);

    if (cast_http_listen(&p->http, p->http_host, p->http_port) != 0) {
        return 1;
    }

    cast_signal_init();

    cast_log(CAST_LOG_INFO, "start", "kafka=%s topic=%s group=%s "
             "batch_max=%lld batch_ms=%lld", p->kafka.bootstrap, p->kafka.topic,
             p->group_id, (long long) p->batch_max, (long long) p->batch_ms);

    if (persister_start(p) != 0) {
        persister_kafka_close(p);
        return cast_quit ? 0 : 1;
    }

    while (!cast_quit) {
        if (persister_collect(p) > 0) {
            persister_flush(p);
        }

        persister_check(p, cast_mono_ms());
        persister_serve(p, 0);
    }

    /* a batch cut short by the signal is still applied and committed */
    if (p->n > 0) {
        persister_flush(p);
    }

    persister_kafka_close(p);

    cast_log(CAST_LOG_INFO, "stop", "batches=%llu messages=%llu "
             "dead_letters=%llu", (unsigned long long) p->batches_total,
             (unsigned long long) p->messages_total,
             (unsigned long long) p->dead_letters_total);

    if (p->pg != NULL) {
        PQfinish(p->pg);
    }

    cast_redis_close(&p->redis);

    free(p->items);
    free(p->copy);
    cast_http_close(p->http);
    cast_conf_free(persister_conf);

    return 0;
}


/*
 * PostgreSQL reachable and migrated, then Kafka; both are waited for, so
 * the daemon can start before its dependencies.
 */

static int
persister_start(persister_t *p)
{
    while (persister_pg_open(p) != 0) {
        if (!p->migrated && p->pg != NULL) {
            return -1;          /* a migration failed: needs a human */
        }

        persister_serve(p, PERSISTER_START_MS);

        if (cast_quit) {
            return -1;
        }
    }

    return persister_kafka_open(p);
}


static void
persister_configure(persister_t *p, int argc, char **argv)
{
    cast_conf_load_daemon(persister_conf, argc, argv, PERSISTER_PROG,
                          "Applies vote events from Kafka to PostgreSQL in "
                          "batches, commits offsets after\nthe transaction, "
                          "dead-letters what does not decode, and restores "
                          "Redis\nfrom PostgreSQL when its counts are lost.",
                          &p->log_level);

    cast_kafka_settings_check(&p->kafka, PERSISTER_PROG);

    if (p->batch_max < 1 || p->batch_max > 100000
        || p->batch_ms < 1 || p->batch_ms > 60000)
    {
        cast_conf_die(PERSISTER_PROG, "batch_max must be 1..100000 and "
                      "batch_ms 1..60000");
    }

    if (p->retry_max_ms < 100 || p->restore_chunk < 1
        || p->restore_chunk > 100000 || p->redis.timeout_ms < 1
        || p->http_port < 0 || p->http_port > 65535)
    {
        cast_conf_die(PERSISTER_PROG, "need retry_max_ms >= 100, "
                      "restore_chunk 1..100000, redis_timeout_ms > 0 and "
                      "http_port 0..65535");
    }

    persister_redis_init(p);
}
