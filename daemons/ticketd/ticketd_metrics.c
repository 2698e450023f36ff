#include "ticketd.h"


static const char *ticketd_health(void *data);
static void ticketd_metrics(cast_http_response_t *res, void *data);


const cast_http_pages_t  ticketd_pages = { ticketd_health, ticketd_metrics };


/* ok while Redis is up */

static const char *
ticketd_health(void *data)
{
    ticketd_t  *td = data;

    return (td->redis.ctx == NULL) ? "redis down" : NULL;
}


static void
ticketd_metrics(cast_http_response_t *res, void *data)
{
    ticketd_t  *td = data;

    cast_http_gauge(res, "cast_ticketd_leader",
                    "1 while this replica holds the minting lease.",
                    td->leader);
    cast_http_counter(res, "cast_ticketd_tickets_minted_total",
                      "Tickets minted by this replica.",
                      (uint64_t) td->minted_total);
    cast_http_gauge(res, "cast_ticketd_last_mint_ms",
                    "Time of this replica's last mint, ms since the epoch.",
                    td->last_mint_ms);
    cast_http_gauge(res, "cast_ticketd_last_seq",
                    "Sequence number of this replica's last mint.",
                    td->last_seq);
    cast_http_counter(res, "cast_ticketd_redis_errors_total",
                      "Failed Redis connects and commands.",
                      td->redis.errors);
    cast_http_gauge(res, "cast_ticketd_redis_up",
                    "1 while connected to Redis.", td->redis.ctx != NULL);
}
