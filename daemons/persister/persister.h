/*
 * cast-persister: applies vote events from Kafka to PostgreSQL.
 *
 * Replicas share the topic's partitions through one consumer group.  Each
 * batch (batch_max messages or batch_ms) is applied in one transaction;
 * offsets are committed only after COMMIT succeeded, so a crash replays
 * the batch, and replays are harmless: vote_events keeps each event id
 * once (a batch is copied in, and one holding a known id is applied again
 * with ON CONFLICT DO NOTHING) and votes only takes a higher version.
 * Events that do not decode go to the dead-letter topic first.  While
 * PostgreSQL fails the same batch is retried with backoff and the
 * partitions are paused (the consumer keeps polling, so it stays in the
 * group); the batch never holds more than batch_max messages.
 *
 * It also restores Redis from PostgreSQL when {cast}:ready is missing,
 * once the outbox is empty and the group has no lag.
 */

#ifndef PERSISTER_H
#define PERSISTER_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <postgresql/libpq-fe.h>

#include "cast_event.h"
#include "cast_http.h"
#include "cast_kafka.h"
#include "cast_redis.h"


typedef struct {
    rd_kafka_message_t  *msg;
    int                  valid;
    int                  dlq;           /* PERSISTER_DLQ_* */
    cast_event_t         ev;
    char                 reason[CAST_EVENT_REASON_MAX];
} persister_item_t;

#define PERSISTER_DLQ_NONE     0
#define PERSISTER_DLQ_SENT     1
#define PERSISTER_DLQ_DONE     2
#define PERSISTER_DLQ_FAILED   3

/* a batch held an event PostgreSQL has already (persister_copy_events) */
#define PERSISTER_KNOWN        1


typedef struct {
    /* configuration */
    char              *functions_file;
    cast_kafka_settings_t  kafka;
    char              *group_id;
    char              *pg_dsn;
    char              *migrations_dir;
    int64_t            batch_max;
    int64_t            batch_ms;
    int64_t            retry_max_ms;
    int64_t            restore_chunk;
    char              *http_host;
    int64_t            http_port;
    char              *log_level;

    rd_kafka_t        *consumer;
    rd_kafka_t        *producer;        /* dead letters */
    rd_kafka_t        *meta;            /* lag queries, never subscribed */
    PGconn            *pg;
    int                migrated;
    int                replaying;       /* the last batch held known ids */
    char              *copy;            /* the COPY data being sent */
    size_t             copy_len;
    size_t             copy_size;
    int                copy_failed;     /* out of memory */
    uint64_t           tx_rows;         /* inserted, not yet committed */
    cast_redis_link_t  redis;           /* url, timeout_ms: settings */
    cast_http_t       *http;

    /* the batch in hand */
    persister_item_t  *items;
    size_t             n;
    size_t             size;
    uint64_t           gen;             /* of the batch, for DLQ reports */
    int                paused;

    int64_t            check_at;
    int64_t            lag_at;
    int64_t            relay_idle_at;   /* first seen idle, 0: not */
    int64_t            lag;
    int                lag_ok;
    int                assigned;        /* partitions of this replica */
    int                ready;

    /* metrics */
    uint64_t           batches_total;
    uint64_t           messages_total;
    uint64_t           events_inserted_total;
    uint64_t           votes_updated_total;
    uint64_t           dead_letters_total;
    uint64_t           replay_batches_total;
    uint64_t           pg_errors_total;
    uint64_t           commit_errors_total;
    uint64_t           restores_total;
} persister_t;


/* persister_batch.c */
int persister_kafka_open(persister_t *p);
void persister_kafka_close(persister_t *p);
int persister_collect(persister_t *p);
int persister_flush(persister_t *p);

/* persister_copy.c */
int persister_copy_events(persister_t *p, persister_item_t **sorted,
    size_t n);

/* persister_pg.c */
int persister_pg_open(persister_t *p);
int persister_pg_apply(persister_t *p);

/* persister_restore.c */
void persister_redis_init(persister_t *p);
void persister_lag(persister_t *p, int64_t now);
void persister_check(persister_t *p, int64_t now);

/* persister_metrics.c: waits up to timeout_ms serving /healthz, /metrics */
void persister_serve(persister_t *p, int timeout_ms);


#endif /* PERSISTER_H */
