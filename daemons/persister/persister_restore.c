#include <stdio.h>

#include "cast_kafka.h"
#include "cast_log.h"
#include "cast_redis.h"
#include "cast_restore.h"
#include "persister.h"


#define PERSISTER_CHECK_MS       1000
#define PERSISTER_LAG_TIMEOUT    1000
#define PERSISTER_REDIS_RETRY_MS 1000
#define PERSISTER_REDIS_MAX_MS   30000


static int persister_relay_idle(persister_t *p, int64_t now);
static void persister_restore(persister_t *p, int64_t now);


/* The connection's settings, once the configuration is read */

void
persister_redis_init(persister_t *p)
{
    cast_redis_init(&p->redis, PERSISTER_REDIS_RETRY_MS,
                    PERSISTER_REDIS_MAX_MS, NULL, NULL);
}


/*
 * The group's lag, at most once per PERSISTER_CHECK_MS: it costs broker
 * round trips, so only a restore that waits for it or a /metrics scrape
 * asks.
 */

void
persister_lag(persister_t *p, int64_t now)
{
    int64_t  lag;

    if (p->lag_at != 0 && now - p->lag_at < PERSISTER_CHECK_MS) {
        return;
    }

    p->lag_at = now;
    p->lag_ok = (cast_kafka_group_lag(p->meta, p->kafka.topic, &lag,
                                      PERSISTER_LAG_TIMEOUT) == 0);
    if (p->lag_ok) {
        p->lag = lag;
    }
}


/*
 * Whether the relay holds no event awaiting Kafka, seen on two checks at
 * least CAST_RESTORE_IDLE_MS apart.
 */

static int
persister_relay_idle(persister_t *p, int64_t now)
{
    int64_t  n;

    n = cast_restore_relay_inflight(p->redis.ctx);
    if (n != 0) {
        cast_log(CAST_LOG_INFO, "restore", "redis not ready; waiting for "
                 "the relay's in-flight events (%lld)", (long long) n);
        p->relay_idle_at = 0;
        return 0;
    }

    if (p->relay_idle_at == 0) {
        p->relay_idle_at = now;
    }

    return now - p->relay_idle_at >= CAST_RESTORE_IDLE_MS;
}


/*
 * Redis lost its counts.  PostgreSQL is complete once the outbox is empty
 * (votes are refused meanwhile, so it only drains), the relay holds
 * nothing and the group has consumed everything Kafka holds; then it is
 * copied back.
 */

static void
persister_restore(persister_t *p, int64_t now)
{
    int64_t  outbox;

    if (!p->lag_ok || p->lag != 0 || p->n != 0) {
        p->relay_idle_at = 0;
        cast_log(CAST_LOG_INFO, "restore", "redis not ready; waiting for "
                 "the consumer lag (%lld) to reach 0", (long long) p->lag);
        return;
    }

    outbox = cast_restore_outbox_len(p->redis.ctx);
    if (outbox != 0) {
        p->relay_idle_at = 0;
        cast_log(CAST_LOG_INFO, "restore", "redis not ready; waiting for "
                 "the outbox (%lld) to drain", (long long) outbox);
        return;
    }

    if (!persister_relay_idle(p, now)) {
        return;
    }

    if (persister_pg_open(p) != 0) {
        return;
    }

    /*
     * A failure on Redis's side may be a demoted primary (READONLY): the
     * next check connects again, through the Sentinels when set
     */
    if (cast_redis_load_functions(p->redis.ctx, p->functions_file) != 0
        || cast_restore_run(p->pg, p->redis.ctx, (int) p->restore_chunk) < 0)
    {
        cast_redis_lost(&p->redis, now, "restore failed; reconnecting");
        return;
    }

    p->restores_total++;
    p->ready = 1;
}


/*
 * Once a second: the assignment, and whether Redis needs a restore (then
 * the consumer lag too).
 */

void
persister_check(persister_t *p, int64_t now)
{
    int                               ready;
    rd_kafka_topic_partition_list_t  *parts;

    if (now < p->check_at) {
        return;
    }

    p->check_at = now + PERSISTER_CHECK_MS;

    if (rd_kafka_assignment(p->consumer, &parts)
        == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
        p->assigned = parts->cnt;
        rd_kafka_topic_partition_list_destroy(parts);
    }

    if (cast_redis_up(&p->redis, now) != 0) {
        return;
    }

    ready = cast_restore_is_ready(p->redis.ctx);

    if (ready < 0) {
        cast_redis_lost(&p->redis, now, "{cast}:ready unknown");
        return;
    }

    p->ready = ready;

    if (ready) {
        p->relay_idle_at = 0;

    } else {
        persister_lag(p, now);
        persister_restore(p, now);
    }
}
