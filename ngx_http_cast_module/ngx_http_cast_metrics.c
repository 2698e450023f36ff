
/*
 * Copyright (C) CAST developers
 *
 * Counters shared by all workers, in a shared memory zone, served in the
 * Prometheus text format.  Latencies are measured with nginx's cached
 * clock, so their resolution is a millisecond.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_OPS        4
#define NGX_HTTP_CAST_BUCKETS    11
#define NGX_HTTP_CAST_METRICS_SIZE  8192


typedef struct {
    ngx_atomic_t              requests[NGX_HTTP_CAST_OPS][2];
    ngx_atomic_t              votes[NGX_HTTP_CAST_VOTE_NOUTCOMES];
    ngx_atomic_t              redis_buckets[NGX_HTTP_CAST_BUCKETS];
    ngx_atomic_t              redis_sum_ms;
    ngx_atomic_t              redis_count;
    ngx_atomic_t              reconnects;
    ngx_atomic_t              failovers;
    ngx_atomic_t              replica_reads;
    ngx_atomic_t              replica_fallbacks;
    ngx_atomic_t              unacked;
    ngx_atomic_t              cache_hits;
    ngx_atomic_t              cache_misses;
    ngx_atomic_t              replays;
    ngx_atomic_t              streams;
    ngx_atomic_t              events;
    ngx_atomic_t              dropped;
    ngx_atomic_t              tick_buckets[NGX_HTTP_CAST_BUCKETS];
    ngx_atomic_t              tick_sum_ms;
    ngx_atomic_t              ticks;
} ngx_http_cast_metrics_t;


static ngx_int_t ngx_http_cast_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static u_char *ngx_http_cast_metrics_write(u_char *p, u_char *last,
    ngx_http_cast_metrics_t *m);
static u_char *ngx_http_cast_metrics_histogram(u_char *p, u_char *last,
    const char *name, ngx_atomic_t *buckets, ngx_atomic_t sum_ms,
    ngx_atomic_t count);


static ngx_http_cast_metrics_t  *ngx_http_cast_metrics;

static ngx_msec_t  ngx_http_cast_bounds[NGX_HTTP_CAST_BUCKETS - 1] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000
};

static const char  *ngx_http_cast_ops[NGX_HTTP_CAST_OPS] = {
    "none", "query", "mutation", "subscription"
};

static const char  *ngx_http_cast_outcomes[NGX_HTTP_CAST_VOTE_NOUTCOMES] = {
    "accepted", "invalid", "expired", "exhausted", "bad_input", "unavailable",
    "client_share"
};


ngx_int_t
ngx_http_cast_metrics_init_conf(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf)
{
    ngx_str_t  name = ngx_string("cast_metrics");

    cmcf->metrics_zone = ngx_shared_memory_add(cf, &name,
                                               8 * ngx_pagesize,
                                               &ngx_http_cast_module);
    if (cmcf->metrics_zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->metrics_zone->init = ngx_http_cast_metrics_init_zone;

    return NGX_OK;
}


/*
 * The counters live in the zone's slab pool, never over it: the master
 * unlocks every zone's pool mutex when a worker exits.  A reload keeps the
 * counters of the previous cycle.
 */

static ngx_int_t
ngx_http_cast_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        shm_zone->data = data;
        ngx_http_cast_metrics = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ngx_http_cast_metrics = shpool->data;

    } else {
        ngx_http_cast_metrics = ngx_slab_calloc(shpool,
                                               sizeof(ngx_http_cast_metrics_t));
        if (ngx_http_cast_metrics == NULL) {
            return NGX_ERROR;
        }

        shpool->data = ngx_http_cast_metrics;
    }

    shm_zone->data = ngx_http_cast_metrics;

    return NGX_OK;
}


void
ngx_http_cast_metrics_request(cast_gql_op_e op, ngx_uint_t error)
{
    if (ngx_http_cast_metrics && (ngx_uint_t) op < NGX_HTTP_CAST_OPS) {
        (void) ngx_atomic_fetch_add(
                   &ngx_http_cast_metrics->requests[op][error ? 1 : 0], 1);
    }
}


void
ngx_http_cast_metrics_vote(ngx_uint_t outcome)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->votes[outcome],
                                    1);
    }
}


static ngx_uint_t
ngx_http_cast_metrics_bucket(ngx_msec_t elapsed)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_CAST_BUCKETS - 1; i++) {
        if (elapsed <= ngx_http_cast_bounds[i]) {
            break;
        }
    }

    return i;
}


void
ngx_http_cast_metrics_redis(ngx_msec_t elapsed)
{
    ngx_uint_t  i;

    if (ngx_http_cast_metrics == NULL) {
        return;
    }

    i = ngx_http_cast_metrics_bucket(elapsed);

    (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->redis_buckets[i], 1);
    (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->redis_sum_ms,
                                elapsed);
    (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->redis_count, 1);
}


/* a subscription tick: its call, the events it made, sent */

void
ngx_http_cast_metrics_tick(ngx_msec_t elapsed)
{
    ngx_uint_t  i;

    if (ngx_http_cast_metrics == NULL) {
        return;
    }

    i = ngx_http_cast_metrics_bucket(elapsed);

    (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->tick_buckets[i], 1);
    (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->tick_sum_ms,
                                elapsed);
    (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->ticks, 1);
}


void
ngx_http_cast_metrics_streams(ngx_int_t change)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->streams,
                                    (ngx_atomic_int_t) change);
    }
}


void
ngx_http_cast_metrics_events(ngx_uint_t n)
{
    if (ngx_http_cast_metrics && n) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->events, n);
    }
}


void
ngx_http_cast_metrics_dropped(void)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->dropped, 1);
    }
}


void
ngx_http_cast_metrics_failover(void)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->failovers, 1);
    }
}


/* a read batch sent to the replica, or sent again to the primary */

void
ngx_http_cast_metrics_replica_read(ngx_uint_t fallback)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(fallback
                                    ? &ngx_http_cast_metrics->replica_fallbacks
                                    : &ngx_http_cast_metrics->replica_reads,
                                    1);
    }
}


void
ngx_http_cast_metrics_unacked(void)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->unacked, 1);
    }
}


void
ngx_http_cast_metrics_reconnect(void)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->reconnects, 1);
    }
}


void
ngx_http_cast_metrics_cache(uint64_t hits, uint64_t misses)
{
    if (ngx_http_cast_metrics == NULL) {
        return;
    }

    if (hits) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->cache_hits, hits);
    }

    if (misses) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->cache_misses,
                                    misses);
    }
}


/* an answer given again without the engine (ngx_http_cast_replay.c) */

void
ngx_http_cast_metrics_replay(void)
{
    if (ngx_http_cast_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_cast_metrics->replays, 1);
    }
}


ngx_int_t
ngx_http_cast_metrics_handler(ngx_http_request_t *r)
{
    u_char     *body, *last;
    ngx_int_t   rc;
    ngx_str_t   type = ngx_string("text/plain; version=0.0.4");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_cast_metrics == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    body = ngx_pnalloc(r->pool, NGX_HTTP_CAST_METRICS_SIZE);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_http_cast_metrics_write(body, body + NGX_HTTP_CAST_METRICS_SIZE,
                                       ngx_http_cast_metrics);

    return ngx_http_cast_send(r, NGX_HTTP_OK, &type, body, last - body);
}


static u_char *
ngx_http_cast_metrics_write(u_char *p, u_char *last,
    ngx_http_cast_metrics_t *m)
{
    ngx_uint_t  i, j;

    p = ngx_slprintf(p, last,
                     "# HELP cast_requests_total GraphQL requests by "
                     "operation and outcome.\n"
                     "# TYPE cast_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_CAST_OPS; i++) {
        for (j = 0; j < 2; j++) {
            p = ngx_slprintf(p, last,
                             "cast_requests_total{operation=\"%s\","
                             "outcome=\"%s\"} %uA\n", ngx_http_cast_ops[i],
                             j ? "error" : "ok", m->requests[i][j]);
        }
    }

    p = ngx_slprintf(p, last,
                     "# HELP cast_votes_total Vote calls by outcome.\n"
                     "# TYPE cast_votes_total counter\n");

    for (i = 0; i < NGX_HTTP_CAST_VOTE_NOUTCOMES; i++) {
        p = ngx_slprintf(p, last, "cast_votes_total{outcome=\"%s\"} %uA\n",
                         ngx_http_cast_outcomes[i], m->votes[i]);
    }

    p = ngx_slprintf(p, last,
                     "# HELP cast_redis_command_seconds Redis command "
                     "latency.\n"
                     "# TYPE cast_redis_command_seconds histogram\n");

    p = ngx_http_cast_metrics_histogram(p, last,
                                        "cast_redis_command_seconds",
                                        m->redis_buckets, m->redis_sum_ms,
                                        m->redis_count);

    p = ngx_slprintf(p, last,
                     "# HELP cast_redis_reconnects_total Redis "
                     "connections lost.\n"
                     "# TYPE cast_redis_reconnects_total counter\n"
                     "cast_redis_reconnects_total %uA\n"
                     "# HELP cast_redis_failovers_total Workers that "
                     "found the primary at a new address.\n"
                     "# TYPE cast_redis_failovers_total counter\n"
                     "cast_redis_failovers_total %uA\n"
                     "# HELP cast_redis_replica_reads_total Read batches "
                     "sent to a replica (cast_redis_replica_reads).\n"
                     "# TYPE cast_redis_replica_reads_total counter\n"
                     "cast_redis_replica_reads_total %uA\n"
                     "# HELP cast_redis_replica_fallbacks_total Read "
                     "batches a replica did not answer, sent again to "
                     "the primary.\n"
                     "# TYPE cast_redis_replica_fallbacks_total counter\n"
                     "cast_redis_replica_fallbacks_total %uA\n"
                     "# HELP cast_redis_unacked_batches_total Vote "
                     "batches too few replicas acknowledged (WAIT).\n"
                     "# TYPE cast_redis_unacked_batches_total counter\n"
                     "cast_redis_unacked_batches_total %uA\n"
                     "# HELP cast_document_cache_hits_total GraphQL "
                     "documents served from the cache.\n"
                     "# TYPE cast_document_cache_hits_total counter\n"
                     "cast_document_cache_hits_total %uA\n"
                     "# HELP cast_document_cache_misses_total GraphQL "
                     "documents parsed and validated.\n"
                     "# TYPE cast_document_cache_misses_total counter\n"
                     "cast_document_cache_misses_total %uA\n"
                     "# HELP cast_replayed_answers_total Refusals of a "
                     "spent ticket's votes given again to the same bytes, "
                     "without the engine.\n"
                     "# TYPE cast_replayed_answers_total counter\n"
                     "cast_replayed_answers_total %uA\n",
                     m->reconnects, m->failovers, m->replica_reads,
                     m->replica_fallbacks, m->unacked,
                     m->cache_hits, m->cache_misses, m->replays);

    p = ngx_slprintf(p, last,
                     "# HELP cast_subscriptions_open Subscription streams "
                     "open.\n"
                     "# TYPE cast_subscriptions_open gauge\n"
                     "cast_subscriptions_open %uA\n"
                     "# HELP cast_subscription_events_total Subscription "
                     "events sent (next, complete).\n"
                     "# TYPE cast_subscription_events_total counter\n"
                     "cast_subscription_events_total %uA\n"
                     "# HELP cast_subscriptions_dropped_total Streams "
                     "closed for not reading within send_timeout.\n"
                     "# TYPE cast_subscriptions_dropped_total counter\n"
                     "cast_subscriptions_dropped_total %uA\n"
                     "# HELP cast_subscription_tick_seconds A tick: its "
                     "Redis call and the events it made.\n"
                     "# TYPE cast_subscription_tick_seconds histogram\n",
                     m->streams, m->events, m->dropped);

    return ngx_http_cast_metrics_histogram(p, last,
                                           "cast_subscription_tick_seconds",
                                           m->tick_buckets, m->tick_sum_ms,
                                           m->ticks);
}


/* A histogram's cumulative buckets, then its sum (seconds) and count. */

static u_char *
ngx_http_cast_metrics_histogram(u_char *p, u_char *last, const char *name,
    ngx_atomic_t *buckets, ngx_atomic_t sum_ms, ngx_atomic_t count)
{
    ngx_uint_t    i;
    ngx_atomic_t  sum;

    sum = 0;

    for (i = 0; i < NGX_HTTP_CAST_BUCKETS - 1; i++) {
        sum += buckets[i];
        p = ngx_slprintf(p, last, "%s_bucket{le=\"%.3f\"} %uA\n", name,
                         (double) ngx_http_cast_bounds[i] / 1000, sum);
    }

    sum += buckets[i];

    return ngx_slprintf(p, last,
                        "%s_bucket{le=\"+Inf\"} %uA\n"
                        "%s_sum %.3f\n"
                        "%s_count %uA\n",
                        name, sum, name, (double) sum_ms / 1000, name, count);
}
