
/*
 * Copyright (C) CAST developers
 *
 * Subscriptions over Server-Sent Events, as the GraphQL over SSE protocol's
 * distinct connections mode has them: a GET or POST to the GraphQL
 * location with Accept: text/event-stream is answered 200
 * text/event-stream, then "event: next" with each new result and, when
 * the worker shuts down, "event: complete".
 *
 * Subscribers of the same request (the same query text, variables and
 * operation: the same body, or the same query string) share a view: its
 * plan, prepared once in memory of its own, and its last event, rendered
 * once per tick and sent to each of them.  Every tick (ngx_http_cast_
 * watch.c: one Redis call for the worker) a view fills its slot from the
 * watch's state and renders it; an event that differs from the last one
 * becomes the view's current event, and a subscriber is sent it unless
 * its previous one is still in nginx's output.  Then it is sent the
 * latest once that drains: a client that does not read holds one event
 * at most, and is closed when nothing moved for send_timeout.  An event
 * is counted, so that it lives while a subscriber's output holds it.
 * A subscriber that has been sent nothing for cast_subscription_keepalive
 * gets a comment line.  While Redis is down the views' events are
 * UNAVAILABLE errors, sent once, until it answers again.
 *
 * A subscriber is its request's, then, once its first bytes are out, its
 * connection's (the request freed: ngx_http_cast_sse_detach): the pool's
 * cleanup takes it out of its view, and a view no one watches any more is
 * freed with what it held.
 * The subscribers are closed from posted events, never from inside a
 * view's loop.  Called by the request handler (ngx_http_cast_handler.c),
 * which prepares the view's plan through the handler it passes down; it
 * calls the watch, the resolvers' limit check, the engine's renderer and
 * the metrics.
 */


#include "ngx_http_cast_module.h"
#include "cast_name.h"


#define NGX_HTTP_CAST_SSE_NEXT       "event: next\ndata: "
#define NGX_HTTP_CAST_SSE_COMPLETE   "event: complete\ndata:\n\n"
#define NGX_HTTP_CAST_SSE_COMMENT    ":\n\n"
#define NGX_HTTP_CAST_SSE_LAST       "0\r\n\r\n"
#define NGX_HTTP_CAST_SSE_SWEEP      1000


/*
 * An event's text, shared by the subscribers sending it, with its
 * HTTP/1.1 chunk framing around it: chunk .. data + len + 2 is the chunk.
 */
typedef struct {
    ngx_uint_t                     refs;
    size_t                         len;
    u_char                        *data;
    u_char                        *chunk;
    u_char                         buf[1];
} ngx_http_cast_event_t;

#define NGX_HTTP_CAST_SSE_CHUNK_HEAD  (NGX_SIZE_T_LEN + 2)


typedef struct {
    ngx_queue_t                    queue;        /* the worker's views */
    ngx_queue_t                    subs;
    ngx_uint_t                     nsubs;
    ngx_str_t                      key;          /* the request, as sent */
    ngx_uint_t                     hash;
    ngx_pool_t                    *pool;         /* the plan's, the key's */
    cast_gql_exec_t               *exec;
    cast_gql_slot_t               *slot;
    ngx_http_cast_watch_name_t   **names;        /* Subscription.votes */
    int64_t                       *votes;
    ngx_http_cast_event_t         *event;        /* the latest */
    ngx_uint_t                     version;
} ngx_http_cast_view_t;


/*
 * A subscriber: in its request's pool until the stream is detached from
 * the request (ngx_http_cast_sse_detach), then in its connection's.
 */

typedef struct {
    ngx_queue_t                    queue;        /* its view's */
    ngx_http_request_t            *request;      /* NULL once detached */
    ngx_connection_t              *connection;
    ngx_http_core_loc_conf_t      *clcf;         /* send_timeout, lowat */
    ngx_pool_cleanup_t            *cln;
    ngx_http_cast_view_t          *view;
    ngx_http_cast_event_t         *sending;      /* held by the output */
    ngx_uint_t                     version;      /* the view's, last sent */
    ngx_msec_t                     last;         /* when it last wrote */
    ngx_buf_t                      buf;
    ngx_chain_t                    out;
    u_char                        *pos;          /* sent directly, */
    u_char                        *last_byte;    /*   still to go */
    ngx_event_t                    closer;       /* posted: finalize */
    ngx_int_t                      rc;           /*   with this */
    unsigned                       busy:1;       /* buf in the output */
    unsigned                       complete:1;   /* ends with complete */
    unsigned                       closing:1;
    unsigned                       chunked:1;
    unsigned                       detached:1;
} ngx_http_cast_sub_t;


typedef struct {
    ngx_queue_t                    views;
    ngx_uint_t                     nsubs;
    ngx_pool_t                    *render;       /* scratch, each view */
    ngx_msec_t                     swept;
    ngx_http_cast_main_conf_t     *cmcf;
} ngx_http_cast_sse_t;


static ngx_int_t ngx_http_cast_sse_refuse(cast_gql_slot_t *slot,
    ngx_pool_t *pool, const char *code, const char *fmt, size_t n);
static ngx_http_cast_view_t *ngx_http_cast_sse_view(ngx_http_request_t *r,
    ngx_str_t *key, ngx_http_cast_sse_prepare_pt prepare, void *data,
    cast_gql_slot_t *slot);
static void ngx_http_cast_sse_view_free(ngx_http_cast_view_t *v);
static ngx_int_t ngx_http_cast_sse_header(ngx_http_request_t *r);
static void ngx_http_cast_sse_tick(void *data);
static ngx_int_t ngx_http_cast_sse_render(ngx_http_cast_view_t *v,
    ngx_http_cast_watch_state_t *st);
static void ngx_http_cast_sse_fill(ngx_http_cast_view_t *v,
    ngx_http_cast_watch_state_t *st);
static void ngx_http_cast_sse_send(ngx_http_cast_sub_t *sub);
static ngx_int_t ngx_http_cast_sse_direct(ngx_http_cast_sub_t *sub,
    ngx_http_cast_event_t *ev);
static ngx_int_t ngx_http_cast_sse_flush(ngx_http_cast_sub_t *sub);
static void ngx_http_cast_sse_write(ngx_http_cast_sub_t *sub, u_char *p,
    size_t len, ngx_http_cast_event_t *ev);
static ngx_int_t ngx_http_cast_sse_output(ngx_http_cast_sub_t *sub,
    ngx_chain_t *in);
static void ngx_http_cast_sse_writer(ngx_http_request_t *r);
static void ngx_http_cast_sse_close(ngx_http_cast_sub_t *sub, ngx_int_t rc);
static void ngx_http_cast_sse_closer(ngx_event_t *ev);
static void ngx_http_cast_sse_detach(ngx_http_cast_sub_t *sub);
static void ngx_http_cast_sse_text(ngx_http_cast_sub_t *sub,
    ngx_str_t *text);
static void ngx_http_cast_sse_raw_reader(ngx_event_t *rev);
static void ngx_http_cast_sse_raw_writer(ngx_event_t *wev);
static void ngx_http_cast_sse_cleanup(void *data);
static void ngx_http_cast_sse_sent(ngx_http_cast_sub_t *sub,
    ngx_event_t *wev);
static void ngx_http_cast_sse_event_put(ngx_http_cast_event_t *ev);
static void ngx_http_cast_sse_limit(void);
static void *ngx_http_cast_sse_palloc(void *pool, size_t size);


static ngx_http_cast_sse_t  ngx_http_cast_sse;

/* the texts of the module's own, bare and in their HTTP/1.1 chunks */
static ngx_str_t  ngx_http_cast_sse_comment[2] = {
    ngx_string(NGX_HTTP_CAST_SSE_COMMENT),
    ngx_string("3\r\n" NGX_HTTP_CAST_SSE_COMMENT "\r\n")
};
static ngx_str_t  ngx_http_cast_sse_complete[2] = {
    ngx_string(NGX_HTTP_CAST_SSE_COMPLETE),
    ngx_string("17\r\n" NGX_HTTP_CAST_SSE_COMPLETE "\r\n"
               NGX_HTTP_CAST_SSE_LAST)
};


/*
 * A subscription's request, prepared and valid: NGX_DONE once it streams
 * (the request is this layer's until its pool goes), else the HTTP status
 * of the refusal, its error in the slot, for the caller to answer.
 */

ngx_int_t
ngx_http_cast_sse_subscribe(ngx_http_request_t *r, cast_gql_exec_t *exec,
    ngx_str_t *key, ngx_http_cast_sse_prepare_pt prepare, void *data)
{
    ngx_int_t                   rc;
    ngx_pool_cleanup_t         *cln;
    ngx_http_cast_sub_t        *sub;
    ngx_http_cast_view_t       *v;
    ngx_http_cast_sse_t        *sse = &ngx_http_cast_sse;
    ngx_http_cast_main_conf_t  *cmcf;
    cast_gql_slot_t            *slot = &exec->slots[0];

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);
    sse->cmcf = cmcf;

    if (sse->views.next == NULL) {
        ngx_queue_init(&sse->views);
    }

    if (ngx_http_cast_resolve_limit(slot, r->pool, cmcf) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_exiting || ngx_terminate) {
        return ngx_http_cast_sse_refuse(slot, r->pool, "UNAVAILABLE",
                                        "the server is shutting down", 0);
    }

    if (sse->nsubs >= cmcf->max_subscribers) {
        return ngx_http_cast_sse_refuse(slot, r->pool, "UNAVAILABLE",
                                        "this worker already serves %uz "
                                        "subscriptions "
                                        "(cast_max_subscribers)",
                                        cmcf->max_subscribers);
    }

    if (cmcf->redis.url.len == 0 && cmcf->sentinels == NULL) {
        return ngx_http_cast_sse_refuse(slot, r->pool, "UNAVAILABLE",
                                        "no redis configured", 0);
    }

    sub = ngx_pcalloc(r->pool, sizeof(ngx_http_cast_sub_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (sub == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = ngx_http_cast_sse_view(r, key, prepare, data, slot);
    if (v == NULL) {
        return slot->status == CAST_RES_ERROR
               ? (ngx_int_t) (ngx_strcmp(slot->error_code, "UNAVAILABLE") == 0
                              ? NGX_HTTP_SERVICE_UNAVAILABLE
                              : NGX_HTTP_BAD_REQUEST)
               : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sub->request = r;
    sub->connection = r->connection;
    sub->clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    sub->cln = cln;
    sub->view = v;
    sub->last = ngx_current_msec;
    sub->closer.handler = ngx_http_cast_sse_closer;
    sub->closer.data = sub;
    sub->closer.log = r->connection->log;

    ngx_queue_insert_tail(&v->subs, &sub->queue);
    v->nsubs++;
    sse->nsubs++;

    cln->handler = ngx_http_cast_sse_cleanup;
    cln->data = sub;

    ngx_http_set_ctx(r, sub, ngx_http_cast_module);

    ngx_http_cast_metrics_streams(1);
    ngx_http_cast_metrics_request(CAST_GQL_OP_SUBSCRIPTION, 0);

    /* a stream ends with its connection */
    r->keepalive = 0;

    rc = ngx_http_cast_sse_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_cast_sse_writer;
    r->main->count++;

    ngx_http_cast_sse_limit();
    ngx_http_cast_watch_run(cmcf->subscription_interval, cmcf->redis_timeout,
                            ngx_http_cast_sse_tick, sse);

    sub->chunked = r->chunked;

    /* the headers now; and the view's latest event, if it has one */
    ngx_http_cast_sse_text(sub, ngx_http_cast_sse_comment);
    ngx_http_cast_sse_send(sub);

    /* once the request has unwound: the stream without it */
    if (!sub->closing) {
        ngx_post_event(&sub->closer, &ngx_posted_events);
    }

    return NGX_DONE;
}


/* a subscription refused before it streams: the error in its slot */

static ngx_int_t
ngx_http_cast_sse_refuse(cast_gql_slot_t *slot, ngx_pool_t *pool,
    const char *code, const char *fmt, size_t n)
{
    u_char  *p, *last;
    size_t   len;

    len = ngx_strlen(fmt) + NGX_SIZE_T_LEN + 1;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_slprintf(p, p + len - 1, fmt, n);
    *last = '\0';

    slot->status = CAST_RES_ERROR;
    slot->error_code = code;
    slot->error_message.data = (char *) p;
    slot->error_message.len = last - p;

    return ngx_strcmp(code, "UNAVAILABLE") == 0
           ? NGX_HTTP_SERVICE_UNAVAILABLE : NGX_HTTP_BAD_REQUEST;
}


/*
 * The view of the request's key, found or made: its plan prepared once
 * more into its own pool, and the names it watches held.  NULL with the
 * refusal in slot, or without (out of memory).
 */

static ngx_http_cast_view_t *
ngx_http_cast_sse_view(ngx_http_request_t *r, ngx_str_t *key,
    ngx_http_cast_sse_prepare_pt prepare, void *data, cast_gql_slot_t *slot)
{
    size_t                      i;
    ngx_uint_t                  hash;
    ngx_queue_t                *q;
    ngx_pool_t                 *pool;
    cast_gql_slot_t            *vs;
    ngx_http_cast_view_t       *v;
    ngx_http_cast_sse_t        *sse = &ngx_http_cast_sse;
    ngx_http_cast_main_conf_t  *cmcf = sse->cmcf;

    hash = ngx_hash_key(key->data, key->len);

    for (q = ngx_queue_head(&sse->views);
         q != ngx_queue_sentinel(&sse->views);
         q = ngx_queue_next(q))
    {
        v = ngx_queue_data(q, ngx_http_cast_view_t, queue);

        if (v->hash == hash && v->key.len == key->len
            && ngx_memcmp(v->key.data, key->data, key->len) == 0)
        {
            return v;
        }
    }

    if (slot->kind == CAST_FIELD_SCORES) {
        /* each view renders all its names every tick: as a vote's, bound */
        if (slot->nusernames > cmcf->max_usernames) {
            (void) ngx_http_cast_sse_refuse(slot, r->pool, "BAD_USER_INPUT",
                                            "usernames may hold at most %uz "
                                            "names (cast_max_usernames)",
                                            cmcf->max_usernames);
            return NULL;
        }

        for (i = 0; i < slot->nusernames; i++) {
            if (!cast_name_valid(slot->usernames[i].data,
                                 slot->usernames[i].len,
                                 NGX_HTTP_CAST_NAME_MAX))
            {
                (void) ngx_http_cast_sse_refuse(slot, r->pool,
                                                "BAD_USER_INPUT",
                                                "each username must be 1 to "
                                                "64 bytes of UTF-8 without "
                                                "control characters", 0);
                return NULL;
            }
        }
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    v = ngx_pcalloc(pool, sizeof(ngx_http_cast_view_t));
    if (v == NULL) {
        goto failed;
    }

    v->pool = pool;
    v->hash = hash;
    ngx_queue_init(&v->subs);

    v->key.data = ngx_pnalloc(pool, key->len);
    if (v->key.data == NULL) {
        goto failed;
    }

    ngx_memcpy(v->key.data, key->data, key->len);
    v->key.len = key->len;

    if (prepare(data, pool, &v->exec) != NGX_OK
        || v->exec->nslots != 1
        || v->exec->slots[0].kind != slot->kind)
    {
        goto failed;
    }

    vs = &v->exec->slots[0];
    v->slot = vs;

    if (vs->kind == CAST_FIELD_SCORES && vs->nusernames) {
        v->names = ngx_pcalloc(pool, vs->nusernames * sizeof(void *));
        v->votes = ngx_pcalloc(pool, vs->nusernames * sizeof(int64_t));

        if (v->names == NULL || v->votes == NULL) {
            goto failed;
        }

        for (i = 0; i < vs->nusernames; i++) {
            v->names[i] = ngx_http_cast_watch_name(
                              (u_char *) vs->usernames[i].data,
                              vs->usernames[i].len, cmcf->max_watched_names);

            if (v->names[i] == NULL) {
                (void) ngx_http_cast_sse_refuse(slot, r->pool, "UNAVAILABLE",
                                                "this worker already watches "
                                                "%uz usernames "
                                                "(cast_max_watched_names)",
                                                cmcf->max_watched_names);
                goto failed;
            }
        }
    }

    ngx_queue_insert_tail(&sse->views, &v->queue);

    return v;

failed:

    if (v && v->names) {
        for (i = 0; i < v->slot->nusernames && v->names[i]; i++) {
            ngx_http_cast_watch_release(v->names[i]);
        }
    }

    ngx_destroy_pool(pool);

    return NULL;
}


static void
ngx_http_cast_sse_view_free(ngx_http_cast_view_t *v)
{
    size_t  i;

    ngx_queue_remove(&v->queue);

    for (i = 0; v->names && i < v->slot->nusernames; i++) {
        ngx_http_cast_watch_release(v->names[i]);
    }

    if (v->event) {
        ngx_http_cast_sse_event_put(v->event);
    }

    ngx_destroy_pool(v->pool);
}


/* allocations of a view's plan: its own pool */

ngx_int_t
ngx_http_cast_sse_alloc(ngx_pool_t *pool, cast_gql_alloc_t **alloc)
{
    *alloc = ngx_palloc(pool, sizeof(cast_gql_alloc_t));
    if (*alloc == NULL) {
        return NGX_ERROR;
    }

    (*alloc)->alloc = ngx_http_cast_sse_palloc;
    (*alloc)->ctx = pool;

    return NGX_OK;
}


static void *
ngx_http_cast_sse_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static ngx_int_t
ngx_http_cast_sse_header(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = -1;
    r->allow_ranges = 0;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Accel-Buffering");
    ngx_str_set(&h->value, "no");

    return ngx_http_send_header(r);
}


/* the largest top limit of the views is what a tick reads */

static void
ngx_http_cast_sse_limit(void)
{
    size_t                 limit;
    ngx_queue_t           *q;
    ngx_http_cast_view_t  *v;

    limit = 0;

    for (q = ngx_queue_head(&ngx_http_cast_sse.views);
         q != ngx_queue_sentinel(&ngx_http_cast_sse.views);
         q = ngx_queue_next(q))
    {
        v = ngx_queue_data(q, ngx_http_cast_view_t, queue);

        if (v->slot->kind == CAST_FIELD_TOP
            && (size_t) v->slot->limit > limit)
        {
            limit = (size_t) v->slot->limit;
        }
    }

    ngx_http_cast_watch_limit(limit);
}


/*
 * A tick's state is in: each view renders its event, and the subscribers
 * of a view whose event changed are sent it.  A worker shutting down
 * completes every stream instead, and stops ticking.
 */

static void
ngx_http_cast_sse_tick(void *data)
{
    ngx_uint_t                    sweep;
    ngx_queue_t                  *q, *s;
    ngx_http_cast_sub_t          *sub;
    ngx_http_cast_view_t         *v;
    ngx_http_cast_sse_t          *sse = data;
    ngx_http_cast_watch_state_t  *st;

    if (ngx_exiting || ngx_terminate) {
        ngx_http_cast_watch_stop();

        for (q = ngx_queue_head(&sse->views);
             q != ngx_queue_sentinel(&sse->views);
             q = ngx_queue_next(q))
        {
            v = ngx_queue_data(q, ngx_http_cast_view_t, queue);

            for (s = ngx_queue_head(&v->subs);
                 s != ngx_queue_sentinel(&v->subs);
                 s = ngx_queue_next(s))
            {
                sub = ngx_queue_data(s, ngx_http_cast_sub_t, queue);
                sub->complete = 1;
                ngx_http_cast_sse_close(sub, NGX_OK);
            }
        }

        return;
    }

    st = ngx_http_cast_watch_state();

    sweep = ngx_current_msec - sse->swept >= NGX_HTTP_CAST_SSE_SWEEP;
    if (sweep) {
        sse->swept = ngx_current_msec;
    }

    for (q = ngx_queue_head(&sse->views);
         q != ngx_queue_sentinel(&sse->views);
         q = ngx_queue_next(q))
    {
        v = ngx_queue_data(q, ngx_http_cast_view_t, queue);

        if (ngx_http_cast_sse_render(v, st) != NGX_OK && !sweep) {
            continue;
        }

        for (s = ngx_queue_head(&v->subs);
             s != ngx_queue_sentinel(&v->subs);
             s = ngx_queue_next(s))
        {
            sub = ngx_queue_data(s, ngx_http_cast_sub_t, queue);

            ngx_http_cast_sse_send(sub);

            if (sweep && !sub->busy && !sub->closing
                && ngx_current_msec - sub->last
                   >= sse->cmcf->subscription_keepalive)
            {
                ngx_http_cast_sse_text(sub, ngx_http_cast_sse_comment);
            }
        }
    }
}


/* the view's event of this tick: NGX_OK when it changed */

static ngx_int_t
ngx_http_cast_sse_render(ngx_http_cast_view_t *v,
    ngx_http_cast_watch_state_t *st)
{
    u_char                 *p;
    size_t                  len;
    cast_str_t              json;
    cast_gql_alloc_t        a;
    ngx_http_cast_event_t  *ev;
    ngx_http_cast_sse_t    *sse = &ngx_http_cast_sse;

    if (v->names && st->error == NULL) {
        for (len = 0; len < v->slot->nusernames; len++) {
            if (!v->names[len]->known) {
                /* a name new since the call left: the next tick has it */
                return NGX_DECLINED;
            }
        }
    }

    if (sse->render == NULL) {
        sse->render = ngx_create_pool(16384, ngx_cycle->log);
        if (sse->render == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_http_cast_sse_fill(v, st);

    a.alloc = ngx_http_cast_sse_palloc;
    a.ctx = sse->render;

    if (cast_gql_render(v->exec, &a, &json) != 0) {
        ngx_reset_pool(sse->render);
        return NGX_ERROR;
    }

    len = sizeof(NGX_HTTP_CAST_SSE_NEXT) - 1 + json.len + 2;

    if (v->event && v->event->len == len
        && ngx_memcmp(v->event->data + sizeof(NGX_HTTP_CAST_SSE_NEXT) - 1,
                      json.data, json.len) == 0)
    {
        ngx_reset_pool(sse->render);
        return NGX_DECLINED;
    }

    ev = ngx_alloc(sizeof(ngx_http_cast_event_t)
                   + NGX_HTTP_CAST_SSE_CHUNK_HEAD + len + 2, ngx_cycle->log);
    if (ev == NULL) {
        ngx_reset_pool(sse->render);
        return NGX_ERROR;
    }

    ev->refs = 1;
    ev->len = len;
    ev->data = ev->buf + NGX_HTTP_CAST_SSE_CHUNK_HEAD;

    p = ngx_cpymem(ev->data, NGX_HTTP_CAST_SSE_NEXT,
                   sizeof(NGX_HTTP_CAST_SSE_NEXT) - 1);
    p = ngx_cpymem(p, json.data, json.len);
    *p++ = '\n';
    *p++ = '\n';

    /* the chunk: "<hex length>\r\n" right before the data, "\r\n" after */
    *p++ = '\r';
    *p = '\n';

    p = ngx_sprintf(ev->buf, "%xz\r\n", len);
    ev->chunk = ev->data - (p - ev->buf);
    ngx_memmove(ev->chunk, ev->buf, p - ev->buf);

    ngx_reset_pool(sse->render);

    if (v->event) {
        ngx_http_cast_sse_event_put(v->event);
    }

    v->event = ev;
    v->version++;

    return NGX_OK;
}


/* the view's slot from the tick's state */

static void
ngx_http_cast_sse_fill(ngx_http_cast_view_t *v,
    ngx_http_cast_watch_state_t *st)
{
    size_t            i;
    cast_gql_slot_t  *slot = v->slot;

    slot->status = CAST_RES_OK;

    if (st->error) {
        slot->status = CAST_RES_ERROR;
        slot->error_code = "UNAVAILABLE";
        slot->error_message.data = st->error;
        slot->error_message.len = ngx_strlen(st->error);
        return;
    }

    switch (slot->kind) {

    case CAST_FIELD_TOP:
        slot->out_usernames = st->top.out_usernames;
        slot->out_votes = st->top.out_votes;
        slot->nout = ngx_min(st->top.nout, (size_t) slot->limit);
        break;

    case CAST_FIELD_SCORES:
        for (i = 0; i < slot->nusernames; i++) {
            v->votes[i] = v->names[i]->count;
        }

        slot->out_usernames = slot->usernames;
        slot->out_votes = v->votes;
        slot->nout = slot->nusernames;
        break;

    case CAST_FIELD_CAS:
        slot->status = st->ticket.status;
        slot->error_code = st->ticket.error_code;
        slot->error_message = st->ticket.error_message;
        slot->ticket_out = st->ticket.ticket_out;
        slot->valid_until = st->ticket.valid_until;
        slot->remaining = st->ticket.remaining;
        break;

    case CAST_FIELD_TOTAL:
        slot->count = st->total;
        break;

    default:
        slot->status = CAST_RES_ERROR;
        slot->error_code = "INTERNAL_SERVER_ERROR";
        slot->error_message.data = "not a subscription field";
        slot->error_message.len = sizeof("not a subscription field") - 1;
        break;
    }
}


/* the view's latest event, unless sent or the last one is still going */

static void
ngx_http_cast_sse_send(ngx_http_cast_sub_t *sub)
{
    ngx_http_cast_view_t  *v = sub->view;

    if (sub->busy || sub->closing || v->event == NULL
        || sub->version == v->version)
    {
        return;
    }

    sub->version = v->version;

    if (ngx_http_cast_sse_direct(sub, v->event) == NGX_DECLINED) {
        ngx_http_cast_sse_write(sub, v->event->data, v->event->len, v->event);
    }
}


/*
 * An event straight to the socket, chunk and all, when nothing waits in
 * nginx's output before it: one send() per subscriber and event, and no
 * filter work (most of a tick's cost with thousands of subscribers).
 * NGX_DECLINED: the output chain must carry it.
 */

static ngx_int_t
ngx_http_cast_sse_direct(ngx_http_cast_sub_t *sub, ngx_http_cast_event_t *ev)
{
    ngx_http_request_t  *r = sub->request;
    ngx_connection_t    *c = sub->connection;

    if (!sub->detached) {
        if (r->out || c->buffered || c->write->delayed) {
            return NGX_DECLINED;
        }

        if (r->headers_out.content_encoding) {
            /* a body filter encodes the stream (gzip on): it sees it all */
            return NGX_DECLINED;
        }

#if (NGX_HTTP_V2)
        if (r->stream) {
            /* HTTP/2 frames its data: only the output chain knows how */
            return NGX_DECLINED;
        }
#endif
    }

    ev->refs++;
    sub->sending = ev;
    sub->busy = 1;
    sub->last = ngx_current_msec;

    if (sub->chunked) {
        sub->pos = ev->chunk;
        sub->last_byte = ev->data + ev->len + 2;

    } else {
        sub->pos = ev->data;
        sub->last_byte = ev->data + ev->len;
    }

    ngx_http_cast_metrics_events(1);

    if (ngx_http_cast_sse_flush(sub) != NGX_OK) {
        ngx_http_cast_sse_close(sub, NGX_ERROR);
    }

    return NGX_OK;
}


/* what the socket takes of a direct event; the rest waits for it */

static ngx_int_t
ngx_http_cast_sse_flush(ngx_http_cast_sub_t *sub)
{
    ssize_t            n;
    ngx_event_t       *wev;
    ngx_connection_t  *c = sub->connection;

    wev = c->write;

    while (sub->pos < sub->last_byte) {
        n = c->send(c, sub->pos, sub->last_byte - sub->pos);

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN || n == 0) {
            if (!wev->timer_set) {
                ngx_add_timer(wev, sub->clcf->send_timeout);
            }

            return ngx_handle_write_event(wev, sub->clcf->send_lowat);
        }

        sub->pos += n;
    }

    sub->pos = NULL;
    sub->last_byte = NULL;

    ngx_http_cast_sse_sent(sub, wev);

    return NGX_OK;
}


/* all of the subscriber's output is out: the event it held is let go */

static void
ngx_http_cast_sse_sent(ngx_http_cast_sub_t *sub, ngx_event_t *wev)
{
    sub->busy = 0;

    if (sub->sending) {
        ngx_http_cast_sse_event_put(sub->sending);
        sub->sending = NULL;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }
}


/*
 * One of the module's own texts: through the output chain while the
 * stream has its request, else straight to the socket, framed.
 */

static void
ngx_http_cast_sse_text(ngx_http_cast_sub_t *sub, ngx_str_t *text)
{
    ngx_str_t  *t;

    if (!sub->detached) {
        ngx_http_cast_sse_write(sub, text[0].data, text[0].len, NULL);
        return;
    }

    t = &text[sub->chunked ? 1 : 0];

    sub->busy = 1;
    sub->last = ngx_current_msec;
    sub->pos = t->data;
    sub->last_byte = t->data + t->len;

    if (ngx_http_cast_sse_flush(sub) != NGX_OK) {
        ngx_http_cast_sse_close(sub, NGX_ERROR);
    }
}


/* bytes into the subscriber's output, in its one buffer */

static void
ngx_http_cast_sse_write(ngx_http_cast_sub_t *sub, u_char *p, size_t len,
    ngx_http_cast_event_t *ev)
{
    ngx_buf_t  *b = &sub->buf;

    ngx_memzero(b, sizeof(ngx_buf_t));

    b->pos = p;
    b->last = p + len;
    b->start = p;
    b->end = p + len;
    b->memory = 1;
    b->flush = 1;

    if (ev) {
        ev->refs++;
        sub->sending = ev;
        ngx_http_cast_metrics_events(1);
    }

    sub->busy = 1;
    sub->last = ngx_current_msec;
    sub->out.buf = b;
    sub->out.next = NULL;

    if (ngx_http_cast_sse_output(sub, &sub->out) != NGX_OK) {
        ngx_http_cast_sse_close(sub, NGX_ERROR);
    }
}


/*
 * Passes the output on; when the buffer is all written, the event it held
 * is let go.  Otherwise waits for the socket, within send_timeout.
 */

static ngx_int_t
ngx_http_cast_sse_output(ngx_http_cast_sub_t *sub, ngx_chain_t *in)
{
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_http_request_t        *r = sub->request;
    ngx_http_core_loc_conf_t  *clcf;

    rc = ngx_http_output_filter(r, in);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    wev = r->connection->write;

    if (sub->buf.pos == sub->buf.last && !r->connection->buffered) {
        ngx_http_cast_sse_sent(sub, wev);
        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!wev->timer_set) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the socket took more, or send_timeout passed with nothing taken */

static void
ngx_http_cast_sse_writer(ngx_http_request_t *r)
{
    ngx_http_cast_sub_t  *sub;

    sub = ngx_http_get_module_ctx(r, ngx_http_cast_module);

    if (sub == NULL || sub->closing) {
        return;
    }

    if (r->connection->write->timedout) {
        r->connection->write->timedout = 0;
        r->connection->timedout = 1;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "cast: a subscriber read nothing for send_timeout, "
                      "closing");
        ngx_http_cast_metrics_dropped();
        ngx_http_cast_sse_close(sub, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (!sub->busy) {
        return;
    }

    if (sub->pos) {
        if (ngx_http_cast_sse_flush(sub) != NGX_OK) {
            ngx_http_cast_sse_close(sub, NGX_ERROR);
            return;
        }

    } else if (ngx_http_cast_sse_output(sub, NULL) != NGX_OK) {
        ngx_http_cast_sse_close(sub, NGX_ERROR);
        return;
    }

    if (!sub->busy && !sub->closer.posted) {
        /* its first bytes are out now: the request can go */
        ngx_post_event(&sub->closer, &ngx_posted_events);
    }

    /* drained: the latest, if the view moved on meanwhile */
    ngx_http_cast_sse_send(sub);
}


/* ends the stream from a posted event: never inside a loop over views */

static void
ngx_http_cast_sse_close(ngx_http_cast_sub_t *sub, ngx_int_t rc)
{
    if (sub->closing) {
        return;
    }

    sub->closing = 1;
    sub->rc = rc;

    ngx_post_event(&sub->closer, &ngx_posted_events);
}


static void
ngx_http_cast_sse_closer(ngx_event_t *ev)
{
    ngx_int_t             rc;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_cast_sub_t  *sub = ev->data;

    if (!sub->closing) {
        ngx_http_cast_sse_detach(sub);
        return;
    }

    r = sub->request;
    c = sub->connection;
    rc = sub->rc;

    if (sub->detached) {
        if (rc == NGX_OK && sub->complete && !sub->busy) {
            ngx_http_cast_sse_text(sub, ngx_http_cast_sse_complete);
            ngx_http_cast_metrics_events(1);

            if (sub->busy && !c->error) {
                /* the raw writer closes once the socket took the rest */
                return;
            }
        }

        ngx_http_close_connection(c);
        return;
    }

    if (rc == NGX_OK && sub->complete && !sub->busy) {
        ngx_http_cast_sse_text(sub, ngx_http_cast_sse_complete);
        ngx_http_cast_metrics_events(1);

        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
        if (rc == NGX_ERROR) {
            rc = NGX_ERROR;
        } else {
            rc = NGX_OK;
        }

    } else if (rc == NGX_OK) {
        /* a client that does not read gets no complete: closed now */
        rc = NGX_ERROR;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * A stream with its headers and first bytes out no longer needs its
 * request: the request is freed (and logged), as a keepalive connection's
 * is, with the connection's header buffers, and the subscriber moves into
 * the connection's pool, the stream then served by the raw reader and
 * writer below.  A stream whose request is still in use (HTTP/2, output
 * pending, a reference held elsewhere) keeps it.  From a posted event:
 * the request has unwound.
 */

static void
ngx_http_cast_sse_detach(ngx_http_cast_sub_t *sub)
{
    ngx_buf_t              *b;
    ngx_chain_t            *cl, *ln;
    ngx_connection_t       *c;
    ngx_pool_cleanup_t     *cln;
    ngx_http_request_t     *r;
    ngx_http_cast_sub_t    *ds;
    ngx_http_connection_t  *hc;

    r = sub->request;
    c = sub->connection;

    if (sub->detached || sub->busy || r != r->main || r->count != 1
        || r->blocked || r->out || c->buffered || c->write->delayed
        || c->data != r || r->headers_out.content_encoding)
    {
        /* a body filter that encodes the stream (gzip) must see it all */
        return;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return;
    }
#endif

    ds = ngx_palloc(c->pool, sizeof(ngx_http_cast_sub_t));
    if (ds == NULL) {
        return;
    }

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        return;
    }

    *ds = *sub;
    ngx_queue_insert_after(&sub->queue, &ds->queue);
    ngx_queue_remove(&sub->queue);

    ds->request = NULL;
    ds->cln = cln;
    ds->detached = 1;
    ds->closer.data = ds;

    sub->cln->handler = NULL;
    cln->handler = ngx_http_cast_sse_cleanup;
    cln->data = ds;

    hc = r->http_connection;

    ngx_http_set_ctx(r, NULL, ngx_http_cast_module);
    ngx_http_free_request(r, 0);

    c->destroyed = 0;
    c->data = ds;
    c->log->action = "streaming events";

    b = c->buffer;

    if (b && ngx_pfree(c->pool, b->start) == NGX_OK) {
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    for (cl = hc->free; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->free = NULL;

    for (cl = hc->busy; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->busy = NULL;
    hc->nbusy = 0;

    c->read->handler = ngx_http_cast_sse_raw_reader;
    c->write->handler = ngx_http_cast_sse_raw_writer;

    /* a client gone meanwhile */
    ngx_http_cast_sse_raw_reader(c->read);
}


/* a detached stream's client closed, or not: what it sends is not read */

static void
ngx_http_cast_sse_raw_reader(ngx_event_t *rev)
{
    int                n;
    char               buf[1];
    ngx_err_t          err;
    ngx_connection_t  *c = rev->data;

    if (!rev->pending_eof) {
        n = recv(c->fd, buf, 1, MSG_PEEK);

        if (n > 0) {
            return;
        }

        if (n == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EAGAIN || err == NGX_EINTR) {
                return;
            }
        }
    }

    rev->eof = 1;
    c->error = 1;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "cast: subscriber closed its stream");

    ngx_http_close_connection(c);
}


/* a detached stream's socket took more, or send_timeout passed */

static void
ngx_http_cast_sse_raw_writer(ngx_event_t *wev)
{
    ngx_connection_t     *c = wev->data;
    ngx_http_cast_sub_t  *sub = c->data;

    if (wev->timedout) {
        wev->timedout = 0;
        c->timedout = 1;

        if (!sub->closing) {
            ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                          "cast: a subscriber read nothing for "
                          "send_timeout, closing");
            ngx_http_cast_metrics_dropped();
        }

        ngx_http_close_connection(c);
        return;
    }

    if (sub->busy && ngx_http_cast_sse_flush(sub) != NGX_OK) {
        ngx_http_close_connection(c);
        return;
    }

    if (sub->closing) {
        if (!sub->busy && !sub->closer.posted) {
            ngx_http_close_connection(c);
        }

        return;
    }

    /* drained: the latest, if the view moved on meanwhile */
    ngx_http_cast_sse_send(sub);
}


/*
 * The request or, once detached, the connection is going away: the
 * subscriber leaves its view.
 */

static void
ngx_http_cast_sse_cleanup(void *data)
{
    ngx_http_cast_sub_t   *sub = data;
    ngx_http_cast_view_t  *v = sub->view;
    ngx_http_cast_sse_t   *sse = &ngx_http_cast_sse;

    if (sub->closer.posted) {
        ngx_delete_posted_event(&sub->closer);
    }

    if (sub->sending) {
        ngx_http_cast_sse_event_put(sub->sending);
        sub->sending = NULL;
    }

    ngx_queue_remove(&sub->queue);
    sse->nsubs--;
    ngx_http_cast_metrics_streams(-1);

    if (--v->nsubs == 0) {
        ngx_http_cast_sse_view_free(v);
        ngx_http_cast_sse_limit();
    }

    if (sse->nsubs == 0) {
        ngx_http_cast_watch_stop();
    }
}


static void
ngx_http_cast_sse_event_put(ngx_http_cast_event_t *ev)
{
    if (--ev->refs == 0) {
        ngx_free(ev);
    }
}


/* the worker exits: what outlives the requests */

void
ngx_http_cast_sse_exit(void)
{
    ngx_http_cast_sse_t  *sse = &ngx_http_cast_sse;

    if (sse->render) {
        ngx_destroy_pool(sse->render);
        sse->render = NULL;
    }
}
