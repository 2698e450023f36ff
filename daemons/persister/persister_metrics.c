#include <string.h>

#include "cast_log.h"
#include "cast_time.h"
#include "persister.h"


static void persister_counter(cast_http_response_t *res, const char *name,
    const char *help, uint64_t v);
static void persister_gauge(cast_http_response_t *res, const char *name,
    const char *help, int64_t v);


static void
persister_counter(cast_http_response_t *res, const char *name,
    const char *help, uint64_t v)
{
    cast_http_printf(res, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                     name, help, name, name, (unsigned long long) v);
}


static void
persister_gauge(cast_http_response_t *res, const char *name,
    const char *help, int64_t v)
{
    cast_http_printf(res, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n",
                     name, help, name, name, (long long) v);
}


void
persister_metrics(const char *path, cast_http_response_t *res, void *data)
{
    persister_t  *p = data;

    if (strcmp(path, "/healthz") == 0) {
        res->content_type = "text/plain";

        if (p->pg != NULL && !p->paused) {
            cast_http_printf(res, "ok\n");

        } else {
            res->status = 503;
            cast_http_printf(res, "postgresql unavailable\n");
        }

        return;
    }

    if (strcmp(path, "/metrics") != 0) {
        res->status = 404;
        res->content_type = "text/plain";
        cast_http_printf(res, "not found\n");
        return;
    }

    persister_lag(p, cast_mono_ms());

    persister_gauge(res, "cast_persister_consumer_lag",
                    "Messages of the topic the group has not committed "
                    "(-1: unknown).", p->lag_ok ? p->lag : -1);
    persister_gauge(res, "cast_persister_partitions",
                    "Partitions assigned to this replica.", p->assigned);
    persister_gauge(res, "cast_persister_paused",
                    "1 while PostgreSQL fails and consumption is paused.",
                    p->paused);
    persister_gauge(res, "cast_persister_redis_ready",
                    "1 when {cast}:ready was present at the last check.",
                    p->ready);
    persister_counter(res, "cast_persister_batches_total",
                      "Batches applied and committed.", p->batches_total);
    persister_counter(res, "cast_persister_messages_total",
                      "Messages consumed.", p->messages_total);
    persister_counter(res, "cast_persister_rows_total",
                      "New vote_events rows (replays not counted).",
                      p->events_inserted_total);
    persister_counter(res, "cast_persister_votes_updated_total",
                      "votes rows inserted or moved to a newer version.",
                      p->votes_updated_total);
    persister_counter(res, "cast_persister_dead_letters_total",
                      "Messages sent to the dead-letter topic.",
                      p->dead_letters_total);
    persister_counter(res, "cast_persister_pg_errors_total",
                      "Failed PostgreSQL connects and batches.",
                      p->pg_errors_total);
    persister_counter(res, "cast_persister_commit_errors_total",
                      "Failed offset commits (the batch will be replayed).",
                      p->commit_errors_total);
    persister_counter(res, "cast_persister_restores_total",
                      "Redis restores from PostgreSQL.", p->restores_total);
}


void
persister_serve(persister_t *p, int timeout_ms)
{
    if (cast_http_poll(p->http, timeout_ms, persister_metrics, p) != 0) {
        cast_log(CAST_LOG_ERR, "http", "poll failed");
    }
}
