#include "relay.h"


static const char *relay_health(void *data);
static void relay_metrics(cast_http_response_t *res, void *data);


const cast_http_pages_t  relay_pages = { relay_health, relay_metrics };


/* ok while Redis is connected and the topics exist */

static const char *
relay_health(void *data)
{
    relay_t  *rl = data;

    if (rl->redis.ctx == NULL) {
        return "redis unreachable";
    }

    return rl->topics_ready ? NULL : "kafka topics not ready";
}


static void
relay_metrics(cast_http_response_t *res, void *data)
{
    relay_t  *rl = data;

    cast_http_gauge(res, "cast_relay_backlog",
                    "Entries in the outbox stream (XLEN), sampled every "
                    "second.", rl->backlog);
    cast_http_gauge(res, "cast_relay_inflight",
                    "Events produced and not yet confirmed by Kafka.",
                    (int64_t) rl->count);
    cast_http_counter(res, "cast_relay_read_total",
                      "Outbox entries read from Redis.", rl->read_total);
    cast_http_counter(res, "cast_relay_unreplicated_total",
                      "Outbox reads held back: fewer replicas than "
                      "redis_min_replicas had them (WAIT).",
                      rl->unacked_total);
    cast_http_counter(res, "cast_relay_produced_total",
                      "Events handed to the Kafka producer (retries "
                      "included).", rl->produced_total);
    cast_http_counter(res, "cast_relay_delivered_total",
                      "Events Kafka confirmed.", rl->delivered_total);
    cast_http_counter(res, "cast_relay_delivery_errors_total",
                      "Events whose delivery failed (they are produced "
                      "again).", rl->delivery_errors_total);
    cast_http_counter(res, "cast_relay_redis_errors_total",
                      "Failed Redis connects and commands.",
                      rl->redis.errors);
    cast_http_counter(res, "cast_relay_trims_total",
                      "XTRIM MINID calls after confirmed deliveries.",
                      rl->trims_total);
}
