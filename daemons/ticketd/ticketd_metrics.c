#include <string.h>

#include "ticketd.h"


static void ticketd_metric(cast_http_response_t *res, const char *name,
    const char *type, const char *help, long long value);


/* /metrics in Prometheus text format; /healthz is ok while Redis is up */

void
ticketd_metrics(const char *path, cast_http_response_t *res, void *data)
{
    ticketd_t  *td = data;

    if (strcmp(path, "/healthz") == 0) {
        res->content_type = "text/plain";

        if (td->redis == NULL) {
            res->status = 503;
            cast_http_printf(res, "redis down\n");

        } else {
            cast_http_printf(res, "ok\n");
        }

        return;
    }

    if (strcmp(path, "/metrics") != 0) {
        res->status = 404;
        res->content_type = "text/plain";
        cast_http_printf(res, "not found\n");
        return;
    }

    ticketd_metric(res, "cast_ticketd_leader", "gauge",
                   "1 while this replica holds the minting lease",
                   td->leader);
    ticketd_metric(res, "cast_ticketd_tickets_minted_total", "counter",
                   "Tickets minted by this replica", td->minted_total);
    ticketd_metric(res, "cast_ticketd_last_mint_ms", "gauge",
                   "Time of this replica's last mint, ms since the epoch",
                   td->last_mint_ms);
    ticketd_metric(res, "cast_ticketd_last_seq", "gauge",
                   "Sequence number of this replica's last mint",
                   td->last_seq);
    ticketd_metric(res, "cast_ticketd_redis_errors_total", "counter",
                   "Failed Redis connects and commands", td->redis_errors);
    ticketd_metric(res, "cast_ticketd_redis_up", "gauge",
                   "1 while connected to Redis", td->redis != NULL);
}


static void
ticketd_metric(cast_http_response_t *res, const char *name, const char *type,
    const char *help, long long value)
{
    cast_http_printf(res, "# HELP %s %s.\n# TYPE %s %s\n%s %lld\n",
                     name, help, name, type, name, value);
}
