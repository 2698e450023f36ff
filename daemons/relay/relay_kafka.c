#include <stdio.h>
#include <string.h>

#include "cast_kafka.h"
#include "cast_log.h"
#include "relay.h"


#define RELAY_TOPICS_RETRY_MS   5000
#define RELAY_TOPICS_TIMEOUT    5000
#define RELAY_PRODUCE_RETRY_MS  1000


static void relay_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque);
static void relay_kafka_error(rd_kafka_t *rk, int err, const char *reason,
    void *opaque);


/* Delivery reports come from rd_kafka_poll() in the loop's thread. */

static void
relay_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    relay_t      *rl = opaque;
    relay_msg_t  *msg = m->_private;

    (void) rk;

    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        msg->state = RELAY_DELIVERED;
        msg->entry->pending--;
        rl->delivered_total++;
        return;
    }

    if (rl->failed == 0) {
        cast_log(CAST_LOG_WARN, "delivery", "entry %s (%s): %s; will "
                 "produce it again", msg->entry->id, msg->key,
                 rd_kafka_err2str(m->err));
    }

    msg->state = RELAY_FAILED;
    rl->failed++;
    rl->delivery_errors_total++;
}


static void
relay_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char      fatal[512];
    relay_t  *rl = opaque;

    if (err != RD_KAFKA_RESP_ERR__FATAL) {
        cast_log(CAST_LOG_WARN, "kafka", "%s: %s",
                 rd_kafka_err2name(err), reason);
        return;
    }

    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    cast_log(CAST_LOG_ERR, "kafka", "fatal: %s", fatal);
    rl->fatal = 1;
}


/*
 * linger.ms=100: the broker's work goes with the number of produce
 * requests more than with their size; at 10 ms it spent twice the CPU
 * per event here (make bench), for 100 ms more at most on the way to
 * PostgreSQL, where the persister's own batching already waits.
 * compression.codec=lz4: what the broker still spends goes with the
 * bytes it checks and writes; the events, JSON alike in all but a few
 * fields, shrink to about a fifth, and the broker's CPU per event fell
 * from 5.1-6.4 to 1.9 us (four outbox backlogs of 156,000-189,000
 * events drained, alternating), with no more for the relay or the
 * persister.
 */

int
relay_kafka_open(relay_t *rl)
{
    rl->rk = cast_kafka_producer(rl->kafka.bootstrap, "cast-relay",
                                 "linger.ms=100,compression.codec=lz4",
                                 rl->kafka.options,
                                 relay_delivered, relay_kafka_error, rl);
    if (rl->rk == NULL) {
        return -1;
    }

    rl->rkt = rd_kafka_topic_new(rl->rk, rl->kafka.topic, NULL);
    if (rl->rkt == NULL) {
        cast_log(CAST_LOG_ERR, "kafka", "topic %s: %s", rl->kafka.topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }

    return 0;
}


/* Creates the topics once; 1 when they exist, 0 to try again later */

int
relay_topics(relay_t *rl, int64_t now)
{
    if (rl->topics_ready) {
        return 1;
    }

    if (now < rl->topics_retry_at) {
        return 0;
    }

    if (cast_kafka_create_topics(rl->rk, rl->kafka.topic,
                                 (int) rl->kafka.partitions,
                                 rl->kafka.dlq_topic, 1,
                                 (int) rl->kafka.replication,
                                 RELAY_TOPICS_TIMEOUT)
        != 0)
    {
        rl->topics_retry_at = now + RELAY_TOPICS_RETRY_MS;
        return 0;
    }

    rl->topics_ready = 1;
    return 1;
}


/*
 * The value stays in the entry until its delivery is confirmed, so it is
 * lent to librdkafka without a copy.
 */

int
relay_produce(relay_t *rl, relay_msg_t *m)
{
    rd_kafka_resp_err_t  err;

    err = rd_kafka_producev(rl->rk,
                            RD_KAFKA_V_RKT(rl->rkt),
                            RD_KAFKA_V_KEY(m->key, strlen(m->key)),
                            RD_KAFKA_V_VALUE(m->value, m->len),
                            RD_KAFKA_V_MSGFLAGS(0),
                            RD_KAFKA_V_OPAQUE(m),
                            RD_KAFKA_V_END);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rl->failed == 0) {
            cast_log(CAST_LOG_WARN, "produce", "entry %s (%s): %s",
                     m->entry->id, m->key, rd_kafka_err2str(err));
        }

        m->state = RELAY_FAILED;
        rl->failed++;
        return -1;
    }

    m->state = RELAY_PENDING;
    rl->produced_total++;
    return 0;
}


/* Produces the failed entries again, in ring order, at most once a second */

void
relay_retry_failed(relay_t *rl, int64_t now)
{
    size_t          i, j;
    relay_entry_t  *e;

    if (rl->failed == 0 || now < rl->produce_retry_at) {
        return;
    }

    rl->produce_retry_at = now + RELAY_PRODUCE_RETRY_MS;
    rl->failed = 0;

    for (i = 0; i < rl->count; i++) {
        e = &rl->ring[(rl->head + i) % rl->inflight_max];

        for (j = 0; j < e->nmsgs; j++) {
            if (e->msgs[j].state == RELAY_FAILED) {
                relay_produce(rl, &e->msgs[j]);
            }
        }
    }
}


void
relay_kafka_close(relay_t *rl)
{
    rd_kafka_resp_err_t  err;

    err = rd_kafka_flush(rl->rk, (int) rl->flush_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_WARN, "stop", "flush: %s; %d messages stay in "
                 "the outbox", rd_kafka_err2str(err),
                 rd_kafka_outq_len(rl->rk));
    }

    rd_kafka_topic_destroy(rl->rkt);
    rd_kafka_destroy(rl->rk);
}
