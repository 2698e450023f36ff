#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_conf.h"
#include "cast_http.h"
#include "cast_log.h"
#include "cast_signal.h"
#include "cast_time.h"
#include "relay.h"


#define RELAY_PROG     "cast-relay"
#define RELAY_IDLE_MS  100      /* wait while Redis or Kafka is away */
#define RELAY_ACK_MS   5        /* wait for delivery reports */

/*
 * An outbox entry as hiredis holds it, at most: 6000 fields and values
 * (ENTRY_ARGS, lib/redis/cast.lua), each an object of some 48 bytes and
 * a string of 65 at most (a name of 64 bytes), 8 bytes of slot each, its
 * id: some 730 KB.  An XREAD reply holds batch_max of them.
 */
#define RELAY_ENTRY_HELD  (768 * 1024)


static void relay_configure(relay_t *rl, int argc, char **argv);
static int relay_step(relay_t *rl, int64_t now);
static void relay_free_ring(relay_t *rl);


static relay_t  relay;

static const cast_conf_t  relay_conf[] = {

    cast_conf_redis_url_row(&relay.redis.url),
    cast_conf_redis_sentinels_row(&relay.redis.sentinels),
    cast_conf_redis_master_name_row(&relay.redis.master_name),
    cast_conf_redis_timeout_row(&relay.redis.timeout_ms),
    cast_conf_kafka_bootstrap_row(&relay.kafka.bootstrap),
    cast_conf_kafka_options_row(&relay.kafka.options),
    cast_conf_topic_row(&relay.kafka.topic),
    cast_conf_dlq_topic_row(&relay.kafka.dlq_topic),
    cast_conf_partitions_row(&relay.kafka.partitions),
    cast_conf_replication_row(&relay.kafka.replication),

    { "batch_max", CAST_CONF_INT, "500", &relay.batch_max,
      "outbox entries read per XREAD" },

    { "batch_ms", CAST_CONF_INT, "50", &relay.batch_ms,
      "XREAD BLOCK time while the outbox is empty" },

    { "redis_min_replicas", CAST_CONF_INT, "0", &relay.min_replicas,
      "replicas that must have an outbox entry (WAIT) before it is "
      "produced: an entry a failover may lose never reaches Kafka" },

    { "inflight_max", CAST_CONF_INT, "20000", &relay.inflight_max,
      "outbox entries, and events, read and not yet confirmed, at most" },

    { "flush_ms", CAST_CONF_INT, "10000", &relay.flush_ms,
      "on SIGTERM, how long to wait for Kafka to confirm what is in flight" },

    cast_conf_http_host_row(&relay.http_host),
    cast_conf_http_port_row(&relay.http_port),
    cast_conf_log_level_row(&relay.log_level, "info"),

    cast_conf_null_row
};


int
main(int argc, char **argv)
{
    int           wait;
    cast_http_t  *http;
    relay_t      *rl = &relay;

    relay_configure(rl, argc, argv);

    if (cast_http_listen(&http, rl->http_host, rl->http_port) != 0) {
        return 1;
    }

    if (relay_kafka_open(rl) != 0) {
        return 1;
    }

    cast_signal_init();

    cast_log(CAST_LOG_INFO, "start", "redis=%s kafka=%s topic=%s "
             "partitions=%lld", rl->redis.url, rl->kafka.bootstrap,
             rl->kafka.topic, (long long) rl->kafka.partitions);

    while (!cast_quit && !rl->fatal) {
        wait = relay_step(rl, cast_mono_ms());
        cast_http_poll(http, 0, &relay_pages, rl);
        rd_kafka_poll(rl->rk, wait);
    }

    relay_kafka_close(rl);
    relay_trim(rl);
    relay_unpublish(rl);

    cast_log(CAST_LOG_INFO, "stop", "read=%llu delivered=%llu "
             "unconfirmed=%zu (left in the outbox)",
             (unsigned long long) rl->read_total,
             (unsigned long long) rl->delivered_total, rl->count);

    relay_free_ring(rl);

    cast_redis_close(&rl->redis);
    cast_http_close(http);
    cast_conf_free(relay_conf);

    return (cast_quit && !rl->fatal) ? 0 : 1;
}


/* One turn of the loop; returns how long to wait for Kafka afterwards. */

static int
relay_step(relay_t *rl, int64_t now)
{
    int  n;

    rd_kafka_poll(rl->rk, 0);
    relay_trim(rl);
    relay_retry_failed(rl, now);

    if (!relay_topics(rl, now) || cast_redis_up(&rl->redis, now) != 0) {
        return RELAY_IDLE_MS;
    }

    relay_backlog(rl, now);

    if (rl->redis.ctx != NULL) {
        relay_publish_inflight(rl);
    }

    if (rl->redis.ctx == NULL) {
        return RELAY_IDLE_MS;
    }

    /* block in Redis only when nothing waits for a delivery report */
    n = relay_read(rl, rl->count == 0 ? (int) rl->batch_ms : 0);

    /* a full read: more is waiting; a partial one: let the next gather */
    if (rl->read_full) {
        return 0;
    }

    return (n > 0 || rl->count > 0) ? RELAY_ACK_MS : 0;
}


static void
relay_configure(relay_t *rl, int argc, char **argv)
{
    cast_conf_load_daemon(relay_conf, argc, argv, RELAY_PROG,
                          "Carries vote events from the Redis outbox stream to "
                          "Kafka; trims the stream\nonly after Kafka confirmed "
                          "them.",
                          &rl->log_level);

    cast_kafka_settings_check(&rl->kafka, RELAY_PROG);

    if (rl->batch_max < 1 || rl->inflight_max < rl->batch_max
        || rl->batch_ms < 1 || rl->batch_ms > 10000)
    {
        cast_conf_die(RELAY_PROG, "need batch_max >= 1, inflight_max >= "
                      "batch_max and batch_ms 1..10000");
    }

    if (rl->min_replicas < 0 || rl->min_replicas > 64) {
        cast_conf_die(RELAY_PROG, "redis_min_replicas must be 0..64");
    }

    if (rl->redis.timeout_ms <= rl->batch_ms || rl->flush_ms < 0
        || rl->http_port < 0 || rl->http_port > 65535)
    {
        cast_conf_die(RELAY_PROG, "need redis_timeout_ms > batch_ms, "
                      "flush_ms >= 0 and http_port 0..65535");
    }

    rl->read_max = rl->batch_max;

    rl->ring = calloc(rl->inflight_max, sizeof(relay_entry_t));
    if (rl->ring == NULL) {
        cast_conf_die(RELAY_PROG, "inflight_max %lld: out of memory",
                      (long long) rl->inflight_max);
    }

    /* the ring held inflight_max entries, at least batch_max */
    cast_redis_reply_max((size_t) rl->batch_max * RELAY_ENTRY_HELD);

    strcpy(rl->cursor, "0-0");
    relay_redis_init(rl);
}


static void
relay_free_ring(relay_t *rl)
{
    size_t  i;

    for (i = 0; i < rl->count; i++) {
        relay_entry_free(&rl->ring[(rl->head + i) % rl->inflight_max]);
    }

    free(rl->ring);
}
