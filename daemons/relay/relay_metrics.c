#include <string.h>

#include "relay.h"


static void relay_counter(cast_http_response_t *res, const char *name,
    const char *help, uint64_t v);


static void
relay_counter(cast_http_response_t *res, const char *name, const char *help,
    uint64_t v)
{
    cast_http_printf(res, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                     name, help, name, name, (unsigned long long) v);
}


void
relay_metrics(const char *path, cast_http_response_t *res, void *data)
{
    relay_t  *rl = data;

    if (strcmp(path, "/healthz") == 0) {
        res->content_type = "text/plain";

        if (rl->redis != NULL && rl->topics_ready) {
            cast_http_printf(res, "ok\n");

        } else {
            res->status = 503;
            cast_http_printf(res, "%s\n", rl->redis == NULL
                             ? "redis unreachable" : "kafka topics not ready");
        }

        return;
    }

    if (strcmp(path, "/metrics") != 0) {
        res->status = 404;
        res->content_type = "text/plain";
        cast_http_printf(res, "not found\n");
        return;
    }

    cast_http_printf(res, "# HELP cast_relay_backlog Entries in the outbox "
                     "stream (XLEN), sampled every second.\n"
                     "# TYPE cast_relay_backlog gauge\n"
                     "cast_relay_backlog %lld\n", (long long) rl->backlog);
    cast_http_printf(res, "# HELP cast_relay_inflight Events produced and "
                     "not yet confirmed by Kafka.\n"
                     "# TYPE cast_relay_inflight gauge\n"
                     "cast_relay_inflight %zu\n", rl->count);

    relay_counter(res, "cast_relay_read_total",
                  "Outbox entries read from Redis.", rl->read_total);
    relay_counter(res, "cast_relay_produced_total",
                  "Events handed to the Kafka producer (retries included).",
                  rl->produced_total);
    relay_counter(res, "cast_relay_delivered_total",
                  "Events Kafka confirmed.", rl->delivered_total);
    relay_counter(res, "cast_relay_delivery_errors_total",
                  "Events whose delivery failed (they are produced again).",
                  rl->delivery_errors_total);
    relay_counter(res, "cast_relay_redis_errors_total",
                  "Failed Redis connects and commands.",
                  rl->redis_errors_total);
    relay_counter(res, "cast_relay_trims_total",
                  "XTRIM MINID calls after confirmed deliveries.",
                  rl->trims_total);
}
