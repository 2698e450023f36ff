
/*
 * Copyright (C) CAST developers
 *
 * What a worker's subscriptions watch, read from Redis once per tick for
 * all of them: one FCALL_RO cast_watch with the largest top limit and the
 * union of the usernames watched, whatever the number of subscribers.
 * The ticks run every cast_subscription_interval while someone listens,
 * and one call at most is in flight: a tick that finds the last one still
 * waiting skips (and drops a connection Redis has kept longer than
 * cast_redis_timeout, as a request's timeout does).
 *
 * The names watched are counted: each view of a subscription that watches
 * a name holds it, and the union is bounded (cast_max_watched_names), so a
 * tick's call and its reply stay bounded too.  The reply is parsed into
 * the state (a leaderboard, the counts of the names, the ticket, the
 * total, or why there is none), in memory that lasts until the next
 * reply, and the state's owner (ngx_http_cast_sse_tick.c) hears of it
 * through the handler it passed down.
 *
 * It calls the resolvers' parsers (ngx_http_cast_resolve.c), the batch
 * layer, the transport's stuck-connection check and the metrics.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_WATCH_BUCKETS  1024


typedef struct {
    ngx_event_t                     tick;
    ngx_msec_t                      interval;
    ngx_msec_t                      timeout;
    ngx_http_cast_watch_pt          handler;
    void                           *data;

    ngx_http_cast_call_t           *call;         /* in flight */
    ngx_msec_t                      asked;
    unsigned                        stale:1;      /* names changed since */

    size_t                          limit;
    ngx_queue_t                     names;        /* watched, any order */
    ngx_uint_t                      nnames;
    ngx_http_cast_watch_name_t     *buckets[NGX_HTTP_CAST_WATCH_BUCKETS];

    ngx_pool_t                     *pool;         /* the state's */
    ngx_http_cast_watch_state_t     state;
} ngx_http_cast_watch_t;


static void ngx_http_cast_watch_tick(ngx_event_t *ev);
static void ngx_http_cast_watch_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_cast_watch_parse(ngx_http_cast_watch_state_t *st,
    ngx_pool_t *pool, redisReply *reply);
static void ngx_http_cast_watch_fail(ngx_http_cast_watch_state_t *st,
    const char *why);


static ngx_http_cast_watch_t  ngx_http_cast_watch;


/*
 * A name to watch, held until ngx_http_cast_watch_release(); NULL when
 * the union would pass max names (or out of memory).
 */

ngx_http_cast_watch_name_t *
ngx_http_cast_watch_name(u_char *data, size_t len, ngx_uint_t max)
{
    ngx_uint_t                   key;
    ngx_http_cast_watch_t       *w = &ngx_http_cast_watch;
    ngx_http_cast_watch_name_t  *n;

    if (w->names.next == NULL) {
        ngx_queue_init(&w->names);
    }

    key = ngx_hash_key(data, len) % NGX_HTTP_CAST_WATCH_BUCKETS;

    for (n = w->buckets[key]; n; n = n->next) {
        if (n->name.len == len && ngx_memcmp(n->name.data, data, len) == 0) {
            n->refs++;
            return n;
        }
    }

    if (w->nnames >= max) {
        return NULL;
    }

    n = ngx_alloc(sizeof(ngx_http_cast_watch_name_t) + len, ngx_cycle->log);
    if (n == NULL) {
        return NULL;
    }

    n->name.data = (u_char *) &n[1];
    n->name.len = len;
    ngx_memcpy(n->name.data, data, len);

    n->refs = 1;
    n->count = 0;
    n->known = 0;
    n->key = key;
    n->next = w->buckets[key];
    w->buckets[key] = n;

    ngx_queue_insert_tail(&w->names, &n->queue);
    w->nnames++;
    w->stale |= w->call != NULL;

    return n;
}


void
ngx_http_cast_watch_release(ngx_http_cast_watch_name_t *n)
{
    ngx_http_cast_watch_t        *w = &ngx_http_cast_watch;
    ngx_http_cast_watch_name_t  **pn;

    if (--n->refs) {
        return;
    }

    for (pn = &w->buckets[n->key]; *pn != n; pn = &(*pn)->next) {
        /* void */
    }

    *pn = n->next;

    ngx_queue_remove(&n->queue);
    w->nnames--;
    w->stale |= w->call != NULL;

    ngx_free(n);
}


/* the largest top limit a tick reads */

void
ngx_http_cast_watch_limit(size_t limit)
{
    ngx_http_cast_watch.limit = limit;
}


ngx_http_cast_watch_state_t *
ngx_http_cast_watch_state(void)
{
    return &ngx_http_cast_watch.state;
}


/*
 * Ticks every interval from now on, handler(data) after each (its state
 * in ngx_http_cast_watch_state()); the first tick is at once.
 */

void
ngx_http_cast_watch_run(ngx_msec_t interval, ngx_msec_t timeout,
    ngx_http_cast_watch_pt handler, void *data)
{
    ngx_http_cast_watch_t  *w = &ngx_http_cast_watch;

    if (w->names.next == NULL) {
        ngx_queue_init(&w->names);
    }

    w->interval = interval;
    w->timeout = timeout;
    w->handler = handler;
    w->data = data;

    if (w->tick.timer_set || w->tick.posted) {
        return;
    }

    w->tick.handler = ngx_http_cast_watch_tick;
    w->tick.log = ngx_cycle->log;
    w->tick.data = w;

    ngx_post_event(&w->tick, &ngx_posted_events);
}


/* no one listens: no more ticks, and the reply in flight is dropped */

void
ngx_http_cast_watch_stop(void)
{
    ngx_http_cast_watch_t  *w = &ngx_http_cast_watch;

    if (w->tick.timer_set) {
        ngx_del_timer(&w->tick);
    }

    if (w->tick.posted) {
        ngx_delete_posted_event(&w->tick);
    }

    if (w->call) {
        ngx_http_cast_batch_cancel(w->call);
        w->call = NULL;
    }

    w->handler = NULL;
}


void
ngx_http_cast_watch_exit(void)
{
    ngx_queue_t            *q;
    ngx_http_cast_watch_t  *w = &ngx_http_cast_watch;

    ngx_http_cast_watch_stop();

    while (w->names.next && !ngx_queue_empty(&w->names)) {
        q = ngx_queue_head(&w->names);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_http_cast_watch_name_t, queue));
    }

    ngx_memzero(w->buckets, sizeof(w->buckets));
    w->nnames = 0;

    if (w->pool) {
        ngx_destroy_pool(w->pool);
        w->pool = NULL;
    }
}


/* one call for every subscriber: "limit name1 ... nameN" */

static void
ngx_http_cast_watch_tick(ngx_event_t *ev)
{
    int                          argc;
    char                         limit[CAST_DEC_LEN];
    size_t                      *argvlen;
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_queue_t                 *q;
    const char                 **argv;
    ngx_http_cast_watch_t       *w = ev->data;
    ngx_http_cast_watch_name_t  *n;

    if (w->handler == NULL) {
        return;
    }

    /* shutting down: the streams end now, not after Redis answers */
    if (ngx_exiting || ngx_terminate) {
        w->handler(w->data);
        return;
    }

    ngx_add_timer(&w->tick, w->interval);

    if (w->call) {
        /* the last tick's call still waits: a stuck connection is dropped */
        if (ngx_current_msec - w->asked >= w->timeout) {
            ngx_http_cast_redis_check_stuck();
        }
        return;
    }

    argc = 1 + w->nnames;

    argv = ngx_alloc(argc * (sizeof(char *) + sizeof(size_t)),
                     ngx_cycle->log);
    if (argv == NULL) {
        ngx_http_cast_watch_fail(&w->state, "out of memory");
        w->handler(w->data);
        return;
    }

    argvlen = (size_t *) &argv[argc];

    argv[0] = limit;
    argvlen[0] = cast_dec(limit, w->limit) - limit;

    i = 1;

    for (q = ngx_queue_head(&w->names);
         q != ngx_queue_sentinel(&w->names);
         q = ngx_queue_next(q))
    {
        n = ngx_queue_data(q, ngx_http_cast_watch_name_t, queue);
        argv[i] = (const char *) n->name.data;
        argvlen[i] = n->name.len;
        i++;
    }

    w->asked = ngx_current_msec;
    w->stale = 0;

    rc = ngx_http_cast_batch_add(NGX_HTTP_CAST_BATCH_WATCH, argc, argv,
                                 argvlen, ngx_http_cast_watch_reply, w,
                                 &w->call);
    ngx_free(argv);

    if (rc != NGX_OK) {
        w->call = NULL;
        ngx_http_cast_watch_fail(&w->state, rc == NGX_ERROR
                                            ? "out of memory"
                                            : "redis not connected");
        ngx_http_cast_metrics_tick(0);
        w->handler(w->data);
    }
}


/*
 * The tick's reply (or none): the state of this tick, for every
 * subscriber, in memory that lasts until the next reply.
 */

static void
ngx_http_cast_watch_reply(void *data, redisReply *reply)
{
    ngx_msec_t              start;
    ngx_pool_t             *pool;
    ngx_http_cast_watch_t  *w = data;

    w->call = NULL;
    start = w->asked;

    pool = ngx_create_pool(4096, ngx_cycle->log);

    if (pool == NULL) {
        ngx_http_cast_watch_fail(&w->state, "out of memory");

    } else if (reply == NULL) {
        /* as the ticks after it will say: one event, not two */
        ngx_http_cast_watch_fail(&w->state, "redis not connected");

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "cast: redis: %s",
                      reply->str);

        ngx_http_cast_watch_fail(&w->state,
                                 ngx_strncmp(reply->str, "UNAVAILABLE ", 12)
                                 == 0 ? "counts not restored"
                                      : "redis refused the command");

    } else if (ngx_http_cast_watch_parse(&w->state, pool, reply) != NGX_OK) {
        ngx_http_cast_watch_fail(&w->state, "unexpected redis reply");
    }

    if (w->pool) {
        ngx_destroy_pool(w->pool);
    }

    w->pool = pool;

    if (w->handler) {
        w->handler(w->data);
    }

    /* the tick's whole cost: the call, and the events it made */
    ngx_time_update();
    ngx_http_cast_metrics_tick(ngx_current_msec - start);
}


/* {total, top flat, counts of the names in order, ticket or {}} */

static ngx_int_t
ngx_http_cast_watch_parse(ngx_http_cast_watch_state_t *st, ngx_pool_t *pool,
    redisReply *reply)
{
    size_t                       i;
    ngx_int_t                    rc;
    redisReply                 **e, *counts;
    ngx_queue_t                 *q;
    ngx_http_cast_watch_t       *w = &ngx_http_cast_watch;
    ngx_http_cast_watch_name_t  *n;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_ARRAY
        || reply->element[3]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_ERROR;
    }

    e = reply->element;
    counts = e[2];

    ngx_memzero(&st->top, sizeof(cast_gql_slot_t));
    ngx_memzero(&st->ticket, sizeof(cast_gql_slot_t));

    st->top.kind = CAST_FIELD_TOP;
    st->ticket.kind = CAST_FIELD_CAS;

    if (ngx_http_cast_resolve_scores(&st->top, pool, e[1], (size_t) -1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * The counts are of the names in the order they were sent; when names
     * came or went since, they keep their last counts (a new one is not
     * known yet) until the next tick.
     */
    i = 0;

    for (q = ngx_queue_head(&w->names);
         !w->stale && q != ngx_queue_sentinel(&w->names)
         && i < counts->elements;
         q = ngx_queue_next(q))
    {
        n = ngx_queue_data(q, ngx_http_cast_watch_name_t, queue);

        if (counts->element[i]->type != REDIS_REPLY_INTEGER) {
            return NGX_ERROR;
        }

        n->count = counts->element[i++]->integer;
        n->known = 1;
    }

    if (e[3]->elements == 0) {
        st->ticket.status = CAST_RES_ERROR;
        st->ticket.error_code = "UNAVAILABLE";
        st->ticket.error_message.data = "no current ticket";
        st->ticket.error_message.len = sizeof("no current ticket") - 1;

    } else {
        rc = ngx_http_cast_resolve_ticket(&st->ticket, pool, e[3]);
        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    st->total = e[0]->integer;
    st->top.status = CAST_RES_OK;
    st->error = NULL;

    return NGX_OK;
}


static void
ngx_http_cast_watch_fail(ngx_http_cast_watch_state_t *st, const char *why)
{
    ngx_memzero(&st->top, sizeof(cast_gql_slot_t));
    ngx_memzero(&st->ticket, sizeof(cast_gql_slot_t));

    st->error = why;
}
