#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_kafka.h"
#include "cast_log.h"
#include "cast_signal.h"
#include "cast_time.h"
#include "persister.h"


#define PERSISTER_POLL_MS        100
#define PERSISTER_DLQ_FLUSH_MS   10000
#define PERSISTER_DLQ_WAIT_MS    100
#define PERSISTER_RETRY_MIN_MS   100


static void persister_dlq_delivered(rd_kafka_t *rk,
    const rd_kafka_message_t *m, void *opaque);
static void persister_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *offsets, void *opaque);
static rd_kafka_t *persister_consumer(persister_t *p, const char *client_id);
static rd_kafka_t *persister_producer(persister_t *p);
static void persister_rewind(rd_kafka_message_t *m);
static void persister_defer(persister_t *p, rd_kafka_message_t *m);
static int persister_add(persister_t *p, rd_kafka_message_t *m);
static void persister_poll(persister_t *p, int timeout_ms);
static int persister_dlq_produce(persister_t *p, size_t i, const char *ts);
static void persister_dlq_wait(persister_t *p);
static int persister_dead_letters(persister_t *p);
static void persister_commit(persister_t *p, int sync);
static int persister_flush_once(persister_t *p, int sync);
static void persister_pause(persister_t *p, int pause);
static void persister_backoff(persister_t *p, int64_t ms);
static void persister_release(persister_t *p);


/*
 * A report names its item by index and batch generation, never by
 * address: p->items may move, and a report of an earlier batch must not
 * mark an item of this one.
 */

static void
persister_dlq_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque)
{
    size_t             i;
    uint64_t           tag;
    persister_t       *p = opaque;
    persister_item_t  *it;

    (void) rk;

    tag = (uint64_t) (uintptr_t) m->_private;
    i = (size_t) (tag & 0xffffffff);

    if ((tag >> 32) != (p->gen & 0xffffffff) || i >= p->n
        || p->items[i].dlq != PERSISTER_DLQ_SENT)
    {
        cast_log(CAST_LOG_WARN, "dlq", "report of an earlier batch "
                 "ignored");
        return;
    }

    it = &p->items[i];

    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_WARN, "dlq", "%s", rd_kafka_err2str(m->err));
        it->dlq = PERSISTER_DLQ_FAILED;
        return;
    }

    it->dlq = PERSISTER_DLQ_DONE;
    p->dead_letters_total++;
}


static void
persister_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    persister_t  *p = opaque;

    (void) rk;
    (void) offsets;

    /* the events are in PostgreSQL: a lost commit only means replays */
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR
        && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    {
        cast_log(CAST_LOG_WARN, "commit", "%s", rd_kafka_err2str(err));
        p->commit_errors_total++;
    }
}


static rd_kafka_t *
persister_consumer(persister_t *p, const char *client_id)
{
    rd_kafka_t       *rk;
    rd_kafka_conf_t  *conf;

    /* a replica that died is noticed within 6 s (the broker's minimum) */
    conf = cast_kafka_conf(p->kafka.bootstrap, client_id,
                           "session.timeout.ms=6000,heartbeat.interval.ms="
                           "1500,fetch.min.bytes=65536,fetch.wait.max.ms=50",
                           p->kafka.options);
    if (conf == NULL) {
        return NULL;
    }

    /* after kafka_options: a new group must not skip what is in the topic */
    if (cast_kafka_set(conf, "group.id", p->group_id) != 0
        || cast_kafka_set(conf, "auto.offset.reset", "earliest") != 0
        || cast_kafka_set(conf, "enable.auto.commit", "false") != 0
        || cast_kafka_set(conf, "enable.auto.offset.store", "false") != 0)
    {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    rd_kafka_conf_set_offset_commit_cb(conf, persister_committed);
    rd_kafka_conf_set_opaque(conf, p);

    rk = cast_kafka_new(RD_KAFKA_CONSUMER, conf);
    if (rk == NULL) {
        return NULL;
    }

    rd_kafka_poll_set_consumer(rk);
    return rk;
}


static rd_kafka_t *
persister_producer(persister_t *p)
{
    return cast_kafka_producer(p->kafka.bootstrap, "cast-persister-dlq", "",
                               p->kafka.options, persister_dlq_delivered,
                               NULL, p);
}


/* Both handles, the topics (created when missing), the subscription. */

int
persister_kafka_open(persister_t *p)
{
    rd_kafka_resp_err_t               err;
    rd_kafka_topic_partition_list_t  *topics;

    /*
     * Lag queries get their own connections: on the consumer's they would
     * queue behind long-polling fetch requests.
     */
    p->consumer = persister_consumer(p, "cast-persister");
    p->meta = persister_consumer(p, "cast-persister-lag");
    p->producer = persister_producer(p);

    if (p->consumer == NULL || p->meta == NULL || p->producer == NULL) {
        return -1;
    }

    while (cast_kafka_create_topics(p->producer, p->kafka.topic,
                                    (int) p->kafka.partitions,
                                    p->kafka.dlq_topic, 1,
                                    (int) p->kafka.replication, 5000)
           != 0)
    {
        persister_serve(p, 2000);

        if (cast_quit) {
            return -1;
        }
    }

    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, p->kafka.topic,
                                      RD_KAFKA_PARTITION_UA);

    err = rd_kafka_subscribe(p->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_ERR, "kafka", "subscribe %s: %s", p->kafka.topic,
                 rd_kafka_err2str(err));
        return -1;
    }

    return 0;
}


void
persister_kafka_close(persister_t *p)
{
    rd_kafka_resp_err_t  err;

    if (p->consumer != NULL) {
        err = rd_kafka_consumer_close(p->consumer);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cast_log(CAST_LOG_WARN, "stop", "consumer close: %s",
                     rd_kafka_err2str(err));
        }

        rd_kafka_destroy(p->consumer);
    }

    if (p->meta != NULL) {
        rd_kafka_destroy(p->meta);
    }

    if (p->producer != NULL) {
        rd_kafka_flush(p->producer, PERSISTER_DLQ_FLUSH_MS);
        rd_kafka_destroy(p->producer);
    }
}


/*
 * A message that did not fit must not be skipped by a commit of later
 * ones: its partition is consumed again from it.  When even that fails
 * the daemon stops, leaving it uncommitted.
 */

static void
persister_rewind(rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t  err;

    cast_log(CAST_LOG_ERR, "batch", "out of memory; %s/%d again from %lld",
             rd_kafka_topic_name(m->rkt), (int) m->partition,
             (long long) m->offset);

    err = rd_kafka_seek(m->rkt, m->partition, m->offset, 1000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_ERR, "batch", "seek: %s; stopping",
                 rd_kafka_err2str(err));
        cast_quit = 1;
    }

    rd_kafka_message_destroy(m);
}


/*
 * A message that came while the batch is full (partitions assigned while
 * it waits out PostgreSQL are not paused yet): its partition is consumed
 * again from it later, and every partition waits.  The batch never grows
 * past batch_max, so one transaction stays the size it was configured.
 */

static void
persister_defer(persister_t *p, rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t  err;

    err = rd_kafka_seek(m->rkt, m->partition, m->offset, 1000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_ERR, "batch", "seek %s/%d: %s; stopping",
                 rd_kafka_topic_name(m->rkt), (int) m->partition,
                 rd_kafka_err2str(err));
        cast_quit = 1;
    }

    rd_kafka_message_destroy(m);
    persister_pause(p, 1);
}


/* Takes the message into the batch, decoded; 0, or -1 without memory. */

static int
persister_add(persister_t *p, rd_kafka_message_t *m)
{
    size_t             size;
    persister_item_t  *items, *it;

    if (p->n == p->size) {
        size = p->size ? 2 * p->size : (size_t) p->batch_max;

        items = realloc(p->items, size * sizeof(persister_item_t));
        if (items == NULL) {
            persister_rewind(m);
            return -1;
        }

        p->items = items;
        p->size = size;
    }

    it = &p->items[p->n++];
    it->msg = m;
    it->dlq = PERSISTER_DLQ_NONE;
    it->valid = (cast_event_decode(m->payload, m->payload ? m->len : 0,
                                   &it->ev, it->reason, sizeof(it->reason))
                 == 0);

    if (!it->valid) {
        cast_log(CAST_LOG_WARN, "invalid_event", "%s/%d@%lld: %s",
                 rd_kafka_topic_name(m->rkt), (int) m->partition,
                 (long long) m->offset, it->reason);
    }

    p->messages_total++;
    return 0;
}


/*
 * Up to batch_max messages, waiting at most batch_ms after the first
 * (PERSISTER_POLL_MS while there is none); the batch size.
 */

int
persister_collect(persister_t *p)
{
    int64_t              left, deadline;
    rd_kafka_message_t  *m;

    deadline = 0;

    while (p->n < (size_t) p->batch_max && !cast_quit) {
        left = (p->n == 0) ? PERSISTER_POLL_MS : deadline - cast_mono_ms();

        if (left <= 0) {
            break;
        }

        m = rd_kafka_consumer_poll(p->consumer, (int) left);

        if (m == NULL) {
            if (p->n == 0) {
                break;
            }

            continue;
        }

        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                cast_log(CAST_LOG_WARN, "consume", "%s",
                         rd_kafka_message_errstr(m));
            }

            rd_kafka_message_destroy(m);
            continue;
        }

        if (p->n == 0) {
            deadline = cast_mono_ms() + p->batch_ms;
        }

        if (persister_add(p, m) != 0) {
            break;
        }
    }

    return (int) p->n;
}


/*
 * One consumer poll, so the group keeps it; a message joins the batch
 * while it has room.
 */

static void
persister_poll(persister_t *p, int timeout_ms)
{
    rd_kafka_message_t  *m;

    m = rd_kafka_consumer_poll(p->consumer, timeout_ms);
    if (m != NULL) {
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_message_destroy(m);

        } else if (p->n >= (size_t) p->batch_max) {
            persister_defer(p, m);

        } else {
            persister_add(p, m);
        }
    }

    persister_serve(p, 0);
}


/* Item i to the dead-letter topic unchanged, reason and origin in headers */

static int
persister_dlq_produce(persister_t *p, size_t i, const char *ts)
{
    char                 src[256];
    uint64_t             tag;
    persister_item_t    *it;
    rd_kafka_resp_err_t  err;

    it = &p->items[i];
    tag = ((p->gen & 0xffffffff) << 32) | (uint64_t) i;

    snprintf(src, sizeof(src), "%s/%d/%lld",
             rd_kafka_topic_name(it->msg->rkt), (int) it->msg->partition,
             (long long) it->msg->offset);

    err = rd_kafka_producev(p->producer,
              RD_KAFKA_V_TOPIC(p->kafka.dlq_topic),
              RD_KAFKA_V_KEY(it->msg->key, it->msg->key_len),
              RD_KAFKA_V_VALUE(it->msg->payload, it->msg->len),
              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
              RD_KAFKA_V_HEADER("cast-dlq-reason", it->reason,
                                (ssize_t) strlen(it->reason)),
              RD_KAFKA_V_HEADER("cast-dlq-source", src,
                                (ssize_t) strlen(src)),
              RD_KAFKA_V_HEADER("cast-dlq-ts", ts, (ssize_t) strlen(ts)),
              RD_KAFKA_V_OPAQUE((void *) (uintptr_t) tag),
              RD_KAFKA_V_END);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_WARN, "dlq", "produce: %s", rd_kafka_err2str(err));
        return -1;
    }

    it->dlq = PERSISTER_DLQ_SENT;
    return 0;
}


/*
 * Until every message produced has its report: none may arrive after
 * the batch is released.  On stop the rest are purged, which reports them
 * failed.
 */

static void
persister_dlq_wait(persister_t *p)
{
    while (rd_kafka_outq_len(p->producer) > 0) {
        if (cast_quit) {
            rd_kafka_purge(p->producer, RD_KAFKA_PURGE_F_QUEUE
                                        | RD_KAFKA_PURGE_F_INFLIGHT);
        }

        rd_kafka_flush(p->producer, PERSISTER_DLQ_WAIT_MS);
        persister_poll(p, 0);
    }
}


/* Invalid messages to the dead-letter topic; 0 once Kafka confirmed all. */

static int
persister_dead_letters(persister_t *p)
{
    char    ts[24];
    size_t  i, sent;

    snprintf(ts, sizeof(ts), "%lld", (long long) cast_wall_ms());
    sent = 0;

    for (i = 0; i < p->n; i++) {
        if (p->items[i].valid
            || p->items[i].dlq == PERSISTER_DLQ_SENT
            || p->items[i].dlq == PERSISTER_DLQ_DONE)
        {
            continue;
        }

        if (persister_dlq_produce(p, i, ts) != 0) {
            break;
        }

        sent++;
    }

    if (sent > 0) {
        persister_dlq_wait(p);
    }

    for (i = 0; i < p->n; i++) {
        if (!p->items[i].valid && p->items[i].dlq != PERSISTER_DLQ_DONE) {
            return -1;
        }
    }

    return 0;
}


/* Commits the next offset of every partition in the batch. */

static void
persister_commit(persister_t *p, int sync)
{
    size_t                             i;
    rd_kafka_message_t                *m;
    rd_kafka_resp_err_t                err;
    rd_kafka_topic_partition_t        *tp;
    rd_kafka_topic_partition_list_t   *offsets;

    offsets = rd_kafka_topic_partition_list_new(16);

    for (i = 0; i < p->n; i++) {
        m = p->items[i].msg;

        tp = rd_kafka_topic_partition_list_find(offsets,
                                                rd_kafka_topic_name(m->rkt),
                                                m->partition);
        if (tp == NULL) {
            tp = rd_kafka_topic_partition_list_add(offsets,
                     rd_kafka_topic_name(m->rkt), m->partition);
            tp->offset = m->offset + 1;

        } else if (tp->offset < m->offset + 1) {
            tp->offset = m->offset + 1;
        }
    }

    err = rd_kafka_commit(p->consumer, offsets, !sync);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_WARN, "commit", "%s", rd_kafka_err2str(err));
        p->commit_errors_total++;
    }

    rd_kafka_topic_partition_list_destroy(offsets);
}


static int
persister_flush_once(persister_t *p, int sync)
{
    if (persister_dead_letters(p) != 0 || persister_pg_apply(p) != 0) {
        return -1;
    }

    persister_commit(p, sync);
    p->batches_total++;

    return 0;
}


static void
persister_pause(persister_t *p, int pause)
{
    rd_kafka_resp_err_t               err;
    rd_kafka_topic_partition_list_t  *parts;

    err = rd_kafka_assignment(p->consumer, &parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_WARN, "kafka", "assignment: %s",
                 rd_kafka_err2str(err));
        return;
    }

    if (pause) {
        rd_kafka_pause_partitions(p->consumer, parts);

    } else {
        rd_kafka_resume_partitions(p->consumer, parts);
    }

    rd_kafka_topic_partition_list_destroy(parts);
    p->paused = pause;
}


/*
 * Waits while the batch cannot be applied.  The consumer keeps polling so
 * the group does not evict it; what still arrives joins the batch while
 * it has room (persister_poll).
 */

static void
persister_backoff(persister_t *p, int64_t ms)
{
    int64_t  until, left;

    until = cast_mono_ms() + ms;

    while (!cast_quit && (left = until - cast_mono_ms()) > 0) {
        persister_poll(p, (int) (left < PERSISTER_POLL_MS
                                 ? left : PERSISTER_POLL_MS));
    }
}


/*
 * Applies the batch, retrying with backoff until it is in PostgreSQL (0)
 * or the daemon stops (-1: the batch is dropped uncommitted and will be
 * consumed again).
 */

int
persister_flush(persister_t *p)
{
    int64_t  delay;

    delay = PERSISTER_RETRY_MIN_MS;

    while (persister_flush_once(p, cast_quit) != 0) {
        if (cast_quit) {
            cast_log(CAST_LOG_WARN, "stop", "%zu messages not applied; "
                     "they stay uncommitted", p->n);
            persister_release(p);
            return -1;
        }

        /* every time: partitions assigned meanwhile must wait too */
        persister_pause(p, 1);
        cast_log(CAST_LOG_WARN, "batch", "%zu messages not applied; retry "
                 "in %lld ms", p->n, (long long) delay);

        persister_backoff(p, delay);
        delay = (2 * delay < p->retry_max_ms) ? 2 * delay : p->retry_max_ms;
    }

    if (p->paused) {
        persister_pause(p, 0);
        cast_log(CAST_LOG_INFO, "batch", "applied after retries; consuming "
                 "again");
    }

    persister_release(p);
    return 0;
}


static void
persister_release(persister_t *p)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        if (p->items[i].valid) {
            cast_event_free(&p->items[i].ev);
        }

        rd_kafka_message_destroy(p->items[i].msg);
    }

    p->n = 0;
    p->gen++;
}
