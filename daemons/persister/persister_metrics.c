#include "cast_time.h"
#include "persister.h"


static const char *persister_health(void *data);
static void persister_metrics(cast_http_response_t *res, void *data);


static const cast_http_pages_t  persister_pages = {
    persister_health, persister_metrics
};


void
persister_serve(persister_t *p, int timeout_ms)
{
    cast_http_poll(p->http, timeout_ms, &persister_pages, p);
}


/* ok while PostgreSQL takes the batches */

static const char *
persister_health(void *data)
{
    persister_t  *p = data;

    return (p->pg != NULL && !p->paused) ? NULL : "postgresql unavailable";
}


static void
persister_metrics(cast_http_response_t *res, void *data)
{
    persister_t  *p = data;

    persister_lag(p, cast_mono_ms());

    cast_http_gauge(res, "cast_persister_consumer_lag",
                    "Messages of the topic the group has not committed "
                    "(-1: unknown).", p->lag_ok ? p->lag : -1);
    cast_http_gauge(res, "cast_persister_partitions",
                    "Partitions assigned to this replica.", p->assigned);
    cast_http_gauge(res, "cast_persister_paused",
                    "1 while PostgreSQL fails and consumption is paused.",
                    p->paused);
    cast_http_gauge(res, "cast_persister_redis_ready",
                    "1 when {cast}:ready was present at the last check.",
                    p->ready);
    cast_http_counter(res, "cast_persister_batches_total",
                      "Batches applied and committed.", p->batches_total);
    cast_http_counter(res, "cast_persister_messages_total",
                      "Messages consumed.", p->messages_total);
    cast_http_counter(res, "cast_persister_rows_total",
                      "New vote_events rows (replays not counted).",
                      p->events_inserted_total);
    cast_http_counter(res, "cast_persister_votes_updated_total",
                      "votes rows inserted or moved to a newer version.",
                      p->votes_updated_total);
    cast_http_counter(res, "cast_persister_replay_batches_total",
                      "Batches that held events already in PostgreSQL "
                      "(applied with ON CONFLICT).",
                      p->replay_batches_total);
    cast_http_counter(res, "cast_persister_dead_letters_total",
                      "Messages sent to the dead-letter topic.",
                      p->dead_letters_total);
    cast_http_counter(res, "cast_persister_pg_errors_total",
                      "Failed PostgreSQL connects and batches.",
                      p->pg_errors_total);
    cast_http_counter(res, "cast_persister_commit_errors_total",
                      "Failed offset commits (the batch will be replayed).",
                      p->commit_errors_total);
    cast_http_counter(res, "cast_persister_restores_total",
                      "Redis restores from PostgreSQL.", p->restores_total);
}

