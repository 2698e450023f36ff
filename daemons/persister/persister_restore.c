#include <stdio.h>

#include "cast_kafka.h"
#include "cast_log.h"
#include "cast_redis.h"
#include "cast_restore.h"
#include "persister.h"


#define PERSISTER_CHECK_MS     1000
#define PERSISTER_LAG_TIMEOUT  1000


static int persister_redis(persister_t *p);
static void persister_restore(persister_t *p);


static int
persister_redis(persister_t *p)
{
    char  err[256];

    if (p->redis != NULL) {
        return 0;
    }

    p->redis = cast_redis_connect(p->redis_url, (int) p->redis_timeout_ms,
                                  err, sizeof(err));
    if (p->redis == NULL) {
        cast_log(CAST_LOG_WARN, "redis", "%s", err);
        return -1;
    }

    return 0;
}


/*
 * Redis lost its counts.  PostgreSQL is complete once the outbox is empty
 * (votes are refused meanwhile, so it only drains) and the group has
 * consumed everything Kafka holds; then it is copied back.
 */

static void
persister_restore(persister_t *p)
{
    int64_t  outbox;

    if (!p->lag_ok || p->lag != 0 || p->n != 0) {
        cast_log(CAST_LOG_INFO, "restore", "redis not ready; waiting for "
                 "the consumer lag (%lld) to reach 0", (long long) p->lag);
        return;
    }

    outbox = cast_restore_outbox_len(p->redis);
    if (outbox != 0) {
        cast_log(CAST_LOG_INFO, "restore", "redis not ready; waiting for "
                 "the outbox (%lld) to drain", (long long) outbox);
        return;
    }

    if (persister_pg_open(p) != 0
        || cast_redis_load_functions(p->redis, p->functions_file) != 0
        || cast_restore_run(p->pg, p->redis, (int) p->restore_chunk) < 0)
    {
        return;
    }

    p->restores_total++;
    p->ready = 1;
}


/*
 * Once a second: the assignment, the consumer lag, and whether Redis needs
 * a restore.
 */

void
persister_check(persister_t *p, int64_t now)
{
    int                               ready;
    int64_t                           lag;
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

    p->lag_ok = (cast_kafka_group_lag(p->meta, p->topic, &lag,
                                      PERSISTER_LAG_TIMEOUT) == 0);
    if (p->lag_ok) {
        p->lag = lag;
    }

    if (persister_redis(p) != 0) {
        return;
    }

    ready = cast_restore_is_ready(p->redis);

    if (ready < 0) {
        redisFree(p->redis);
        p->redis = NULL;
        return;
    }

    p->ready = ready;

    if (!ready) {
        persister_restore(p);
    }
}
