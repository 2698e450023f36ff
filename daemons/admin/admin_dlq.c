#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cast_kafka.h"
#include "cast_log.h"
#include "cast_signal.h"


#define ADMIN_DLQ_TIMEOUT_MS  30000
#define ADMIN_DLQ_REASONS     32


typedef struct {
    char             reason[128];
    uint64_t         n;
} admin_reason_t;


typedef struct {
    rd_kafka_t                        *consumer;
    rd_kafka_t                        *producer;
    rd_kafka_topic_partition_list_t   *parts;   /* offset: where to start */
    int64_t                           *end;     /* high watermarks */
    uint64_t                           replayed;
    uint64_t                           failed;
    admin_reason_t                     reasons[ADMIN_DLQ_REASONS];
    size_t                             nreasons;
} admin_dlq_t;


static void admin_dlq_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque);
static rd_kafka_t *admin_dlq_producer(admin_t *a, admin_dlq_t *d);
static int admin_dlq_plan(admin_t *a, admin_dlq_t *d);
static void admin_dlq_count(admin_dlq_t *d, const rd_kafka_message_t *m);
static int admin_dlq_done(const admin_dlq_t *d);
static int admin_dlq_copy(admin_t *a, admin_dlq_t *d);
static int admin_dlq_run(admin_t *a, admin_dlq_t *d);


static void
admin_dlq_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque)
{
    admin_dlq_t  *d = opaque;

    (void) rk;

    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "cast-admin: delivery: %s\n",
                rd_kafka_err2str(m->err));
        d->failed++;
    }
}


static rd_kafka_t *
admin_dlq_producer(admin_t *a, admin_dlq_t *d)
{
    /* idempotent, acks=all: a replay must not be lost or duplicated */
    return cast_kafka_producer(a->kafka.bootstrap, "cast-admin-replay", "",
                               a->kafka.options, admin_dlq_delivered, NULL,
                               d);
}


/*
 * Every partition of the dead-letter topic, from the replay group's
 * committed offset (or the start) to the high watermark seen now: what
 * arrives later is left for the next replay.
 */

static int
admin_dlq_plan(admin_t *a, admin_dlq_t *d)
{
    int                          i, n;
    int64_t                      lo, hi;
    rd_kafka_resp_err_t          err;
    const rd_kafka_metadata_t   *md;
    rd_kafka_topic_t            *rkt;

    rkt = rd_kafka_topic_new(d->consumer, a->kafka.dlq_topic, NULL);
    err = rd_kafka_metadata(d->consumer, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = (md->topic_cnt != 1) ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
                                   : md->topics[0].err;

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
        }
    }

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "cast-admin: topic %s: %s\n", a->kafka.dlq_topic,
                rd_kafka_err2str(err));
        return -1;
    }

    n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);

    d->parts = rd_kafka_topic_partition_list_new(n);
    d->end = calloc(n, sizeof(int64_t));
    if (d->end == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(d->parts, a->kafka.dlq_topic, i);
    }

    err = rd_kafka_committed(d->consumer, d->parts, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "cast-admin: committed offsets: %s\n",
                rd_kafka_err2str(err));
        return -1;
    }

    for (i = 0; i < n; i++) {
        err = rd_kafka_query_watermark_offsets(d->consumer,
                                               a->kafka.dlq_topic, i,
                                               &lo, &hi, 10000);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "cast-admin: watermarks: %s\n",
                    rd_kafka_err2str(err));
            return -1;
        }

        if (d->parts->elems[i].offset < lo) {
            d->parts->elems[i].offset = lo;
        }

        d->end[i] = hi;
    }

    return 0;
}


/* Tallies the message by its cast-dlq-reason header. */

static void
admin_dlq_count(admin_dlq_t *d, const rd_kafka_message_t *m)
{
    char                  reason[128];
    size_t                i, size;
    const void           *value;
    rd_kafka_headers_t   *hdrs;

    strcpy(reason, "(no reason header)");

    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR
        && rd_kafka_header_get_last(hdrs, "cast-dlq-reason", &value, &size)
           == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
        snprintf(reason, sizeof(reason), "%.*s", (int) size,
                 (const char *) value);
    }

    for (i = 0; i < d->nreasons; i++) {
        if (strcmp(d->reasons[i].reason, reason) == 0) {
            break;
        }
    }

    if (i == d->nreasons) {
        if (d->nreasons == ADMIN_DLQ_REASONS) {
            i = ADMIN_DLQ_REASONS - 1;
            strcpy(d->reasons[i].reason, "(other reasons)");

        } else {
            strcpy(d->reasons[i].reason, reason);
            d->nreasons++;
        }
    }

    d->reasons[i].n++;
}


static int
admin_dlq_done(const admin_dlq_t *d)
{
    int  i;

    for (i = 0; i < d->parts->cnt; i++) {
        if (d->parts->elems[i].offset < d->end[i]) {
            return 0;
        }
    }

    return 1;
}


/* Consumes the plan, producing each message to the vote topic. */

static int
admin_dlq_copy(admin_t *a, admin_dlq_t *d)
{
    int64_t                      waited;
    rd_kafka_message_t          *m;
    rd_kafka_resp_err_t          err;
    rd_kafka_topic_partition_t  *tp;

    waited = 0;

    while (!admin_dlq_done(d)) {
        if (cast_quit || waited > ADMIN_DLQ_TIMEOUT_MS) {
            fprintf(stderr, "cast-admin: dead letters not all read\n");
            return -1;
        }

        m = rd_kafka_consumer_poll(d->consumer, 100);
        if (m == NULL) {
            waited += 100;
            continue;
        }

        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "cast-admin: consume: %s\n",
                    rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }

        tp = &d->parts->elems[m->partition];

        if (m->offset >= d->end[m->partition] || m->offset < tp->offset) {
            rd_kafka_message_destroy(m);
            continue;
        }

        err = rd_kafka_producev(d->producer,
                                RD_KAFKA_V_TOPIC(a->kafka.topic),
                                RD_KAFKA_V_KEY(m->key, m->key_len),
                                RD_KAFKA_V_VALUE(m->payload, m->len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "cast-admin: produce: %s\n",
                    rd_kafka_err2str(err));
            rd_kafka_message_destroy(m);
            return -1;
        }

        admin_dlq_count(d, m);
        tp->offset = m->offset + 1;
        d->replayed++;

        rd_kafka_message_destroy(m);
        rd_kafka_poll(d->producer, 0);
    }

    return 0;
}


static int
admin_dlq_run(admin_t *a, admin_dlq_t *d)
{
    size_t               i;
    rd_kafka_resp_err_t  err;

    if (admin_dlq_plan(a, d) != 0) {
        return -1;
    }

    err = rd_kafka_assign(d->consumer, d->parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "cast-admin: assign: %s\n", rd_kafka_err2str(err));
        return -1;
    }

    if (admin_dlq_copy(a, d) != 0) {
        return -1;
    }

    rd_kafka_flush(d->producer, ADMIN_DLQ_TIMEOUT_MS);

    /* commit only what the vote topic confirmed */
    if (d->failed > 0 || rd_kafka_outq_len(d->producer) > 0) {
        fprintf(stderr, "cast-admin: %llu replays not confirmed; nothing "
                "committed, run again\n", (unsigned long long) d->failed);
        return -1;
    }

    if (d->replayed > 0) {
        err = rd_kafka_commit(d->consumer, d->parts, 0);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "cast-admin: commit: %s (the next replay "
                    "repeats these)\n", rd_kafka_err2str(err));
            return -1;
        }
    }

    printf("dlq-replay: %llu messages from %s to %s\n",
           (unsigned long long) d->replayed, a->kafka.dlq_topic,
           a->kafka.topic);

    for (i = 0; i < d->nreasons; i++) {
        printf("  %llu\t%s\n", (unsigned long long) d->reasons[i].n,
               d->reasons[i].reason);
    }

    return 0;
}


int
admin_dlq_replay(admin_t *a)
{
    int          rc;
    admin_dlq_t  d;

    memset(&d, 0, sizeof(d));

    d.consumer = admin_consumer(a, a->dlq_group_id, "cast-admin-replay");
    d.producer = admin_dlq_producer(a, &d);

    rc = (d.consumer != NULL && d.producer != NULL)
         ? admin_dlq_run(a, &d) : -1;

    if (d.parts != NULL) {
        rd_kafka_topic_partition_list_destroy(d.parts);
    }

    free(d.end);

    if (d.consumer != NULL) {
        rd_kafka_consumer_close(d.consumer);
        rd_kafka_destroy(d.consumer);
    }

    if (d.producer != NULL) {
        rd_kafka_destroy(d.producer);
    }

    return rc == 0 ? 0 : 1;
}
