/*
 * cast-admin: operator commands for the durable pipeline.
 *
 *   migrate              apply conf/migrations/NNN_*.sql not yet applied
 *   restore [--wait N]   Redis counts from PostgreSQL, then ready
 *   check [--wait N]     compare Redis with PostgreSQL, exit 1 on any
 *                        difference
 *   dlq-replay           dead letters back to the vote topic
 *   lag [--seconds N]    vote -> PostgreSQL delay percentiles, events/s
 *
 * --wait N waits up to N seconds for the pipeline to drain (outbox empty,
 * consumer lag 0) first.
 */

#ifndef ADMIN_H
#define ADMIN_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <postgresql/libpq-fe.h>

#include "cast_kafka.h"


typedef struct {
    char            *redis_url;
    char            *redis_sentinels;
    char            *redis_master_name;
    char            *functions_file;
    cast_kafka_settings_t  kafka;   /* no partitions, replication */
    char            *group_id;
    char            *dlq_group_id;
    char            *pg_dsn;
    char            *migrations_dir;
    int64_t          restore_chunk;
    char            *log_level;

    /* command options */
    int64_t          wait_s;
    int64_t          seconds;

    PGconn          *pg;
    redisContext    *redis;
    rd_kafka_t      *meta;          /* the persisters' group, for lag */
} admin_t;


/* admin.c: connections, created on first use; NULL after a message */
PGconn *admin_pg(admin_t *a);
redisContext *admin_redis(admin_t *a);
rd_kafka_t *admin_consumer(admin_t *a, const char *group_id,
    const char *client_id);
int admin_wait_drained(admin_t *a);

/* the commands: exit statuses */
int admin_check(admin_t *a);
int admin_dlq_replay(admin_t *a);
int admin_lag(admin_t *a);


#endif /* ADMIN_H */
