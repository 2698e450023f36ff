/*
 * cast-relay: carries vote events from the Redis outbox stream to Kafka.
 *
 * Entries are read in stream order with XREAD from an in-memory cursor and
 * produced (idempotent producer, acks=all) with the stream entry id as the
 * key.  Each produced entry waits in a ring, oldest first; the delivery
 * report marks it, and the delivered prefix of the ring is trimmed from the
 * stream with XTRIM MINID.  The stream is therefore exactly what Kafka has
 * not confirmed: a restart reads it again from the start (duplicates, no
 * loss), and while Kafka is down events just wait there.
 */

#ifndef RELAY_H
#define RELAY_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "cast_http.h"
#include "cast_kafka.h"
#include "cast_redis.h"


#define RELAY_ID_MAX  48


typedef struct relay_entry_s  relay_entry_t;

/* One Kafka message: an event of a stream entry */
typedef struct {
    relay_entry_t   *entry;
    char             key[RELAY_ID_MAX];
    char            *value;             /* the event, for a re-produce */
    size_t           len;
    int              state;
} relay_msg_t;

#define RELAY_PENDING    0
#define RELAY_DELIVERED  1
#define RELAY_FAILED     2

/*
 * A stream entry: a legacy one (field "e") is one event, keyed by the
 * entry id; a batch entry (cast_outbox.h) one event per vote, keyed by
 * the event id.  It is delivered when all its messages are.
 */
struct relay_entry_s {
    char             id[RELAY_ID_MAX];  /* stream entry id */
    uint64_t         ms;
    uint64_t         seq;
    relay_msg_t     *msgs;
    size_t           nmsgs;
    size_t           pending;           /* messages not delivered yet */
};


typedef struct {
    /* configuration */
    cast_kafka_settings_t  kafka;
    int64_t          batch_max;
    int64_t          read_max;      /* entries an XREAD asks for now */
    unsigned         read_full:1;   /*   and the last one read as many */
    int64_t          packed_at;     /* when to say packed again, ms */
    int64_t          batch_ms;
    int64_t          min_replicas;     /* WAIT before producing */
    uint64_t         unacked_total;    /* reads WAIT found too few for */
    int64_t          inflight_max;
    int64_t          flush_ms;
    char            *http_host;
    int64_t          http_port;
    char            *log_level;

    /* redis.url and redis.timeout_ms are settings */
    cast_redis_link_t  redis;
    int64_t          produce_retry_at;
    char             cursor[RELAY_ID_MAX];  /* last entry read */

    rd_kafka_t      *rk;
    rd_kafka_topic_t *rkt;
    int              topics_ready;
    int64_t          topics_retry_at;
    int              fatal;

    /* the ring of produced entries, oldest at head; their events */
    relay_entry_t   *ring;
    size_t           head;
    size_t           count;
    size_t           events;
    size_t           failed;

    /* the stream below this id is delivered; trimmed up to it */
    uint64_t         trim_ms;
    uint64_t         trim_seq;
    int              trim_pending;

    /* metrics */
    int64_t          backlog;
    int64_t          backlog_at;
    uint64_t         read_total;
    uint64_t         produced_total;
    uint64_t         delivered_total;
    uint64_t         delivery_errors_total;
    uint64_t         trims_total;
} relay_t;


/* relay_outbox.c */
void relay_redis_init(relay_t *rl);
int relay_read(relay_t *rl, int block_ms);
void relay_publish_inflight(relay_t *rl);
void relay_unpublish(relay_t *rl);
void relay_trim(relay_t *rl);
void relay_backlog(relay_t *rl, int64_t now);
void relay_entry_free(relay_entry_t *e);

/* relay_kafka.c */
int relay_kafka_open(relay_t *rl);
int relay_topics(relay_t *rl, int64_t now);
int relay_produce(relay_t *rl, relay_msg_t *m);
void relay_retry_failed(relay_t *rl, int64_t now);
void relay_kafka_close(relay_t *rl);

/* relay_metrics.c: /healthz and /metrics */
extern const cast_http_pages_t  relay_pages;


#endif /* RELAY_H */
