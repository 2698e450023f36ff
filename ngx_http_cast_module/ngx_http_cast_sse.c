
/*
 * Copyright (C) CAST developers
 *
 * Subscriptions over Server-Sent Events, as the GraphQL over SSE protocol's
 * distinct connections mode has them: a GET or POST to the GraphQL
 * location with Accept: text/event-stream is answered 200
 * text/event-stream, then "event: next" with each new result and, when
 * the worker shuts down, "event: complete".
 *
 * This file admits a subscriber and keeps the views.  Subscribers of the
 * same request (the same query text, variables and operation: the same
 * body, or the same query string) share a view: its plan, prepared once
 * in memory of its own, and its last event, rendered once per tick
 * (ngx_http_cast_sse_tick.c) and sent to each of them
 * (ngx_http_cast_sse_stream.c).
 *
 * A subscriber is its request's, then, once its first bytes are out, its
 * connection's (the request freed: ngx_http_cast_sse_detach): the pool's
 * cleanup takes it out of its view, and a view no one watches any more is
 * freed with what it held.  Called by the request handler
 * (ngx_http_cast_handler.c), which prepares the view's plan through the
 * handler it passes down; it calls the tick, the streams, the watch, the
 * resolvers' limit check, the client keys and their counts
 * (ngx_http_cast_client.c) and the metrics.
 */


#include "ngx_http_cast_module.h"
#include "cast_name.h"


static ngx_int_t ngx_http_cast_sse_refuse(cast_gql_slot_t *slot,
    ngx_pool_t *pool, const char *code, const char *fmt, size_t n);
static ngx_int_t ngx_http_cast_sse_admit(ngx_http_request_t *r,
    ngx_http_cast_main_conf_t *cmcf, cast_gql_slot_t *slot);
static ngx_int_t ngx_http_cast_sse_status(cast_gql_slot_t *slot);
static void ngx_http_cast_sse_join(ngx_http_request_t *r,
    ngx_http_cast_view_t *v, ngx_http_cast_sub_t *sub,
    ngx_pool_cleanup_t *cln);
static ngx_int_t ngx_http_cast_sse_start(ngx_http_request_t *r,
    ngx_http_cast_sub_t *sub);
static ngx_http_cast_view_t *ngx_http_cast_sse_view(ngx_http_request_t *r,
    ngx_str_t *key, ngx_http_cast_sse_prepare_pt prepare, void *data,
    cast_gql_slot_t *slot);
static ngx_http_cast_view_t *ngx_http_cast_sse_view_find(ngx_str_t *key,
    ngx_uint_t hash);
static ngx_int_t ngx_http_cast_sse_usernames(ngx_http_request_t *r,
    cast_gql_slot_t *slot);
static ngx_http_cast_view_t *ngx_http_cast_sse_view_create(ngx_str_t *key,
    ngx_uint_t hash, ngx_http_cast_sse_prepare_pt prepare, void *data,
    cast_gql_slot_t *slot);
static ngx_int_t ngx_http_cast_sse_view_watch(ngx_http_request_t *r,
    ngx_http_cast_view_t *v, cast_gql_slot_t *slot);
static void ngx_http_cast_sse_view_free(ngx_http_cast_view_t *v);
static ngx_uint_t ngx_http_cast_sse_names(cast_gql_slot_t *slot);
static ngx_int_t ngx_http_cast_sse_client(ngx_http_request_t *r,
    ngx_http_cast_main_conf_t *cmcf, cast_gql_slot_t *slot, ngx_uint_t names,
    ngx_http_cast_client_t **client);
static ngx_int_t ngx_http_cast_sse_header(ngx_http_request_t *r);
static void ngx_http_cast_sse_cleanup(void *data);


static ngx_http_cast_sse_t  ngx_http_cast_sse;


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
    ngx_uint_t                  names;
    ngx_pool_cleanup_t         *cln;
    ngx_http_cast_sub_t        *sub;
    ngx_http_cast_view_t       *v;
    ngx_http_cast_client_t     *client;
    ngx_http_cast_main_conf_t  *cmcf;
    cast_gql_slot_t            *slot = &exec->slots[0];

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    rc = ngx_http_cast_sse_admit(r, cmcf, slot);
    if (rc != NGX_OK) {
        return rc;
    }

    client = NULL;
    names = ngx_http_cast_sse_names(slot);

    /* a stream counts when a limit applies to it: names, when it has any */
    if (cmcf->max_client_subscribers || (cmcf->max_client_names && names)) {
        rc = ngx_http_cast_sse_client(r, cmcf, slot, names, &client);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    sub = ngx_pcalloc(r->pool, sizeof(ngx_http_cast_sub_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    v = NULL;

    if (sub && cln) {
        v = ngx_http_cast_sse_view(r, key, prepare, data, slot);
    }

    if (v == NULL) {
        if (client) {
            ngx_http_cast_client_release(client, names);
        }

        return ngx_http_cast_sse_status(slot);
    }

    sub->client = client;
    sub->names = names;

    ngx_http_cast_sse_join(r, v, sub, cln);

    return ngx_http_cast_sse_start(r, sub);
}


/*
 * The worker's bounds a stream must fit, whatever its client: NGX_OK,
 * else the refusal's status, its error in the slot.
 */

static ngx_int_t
ngx_http_cast_sse_admit(ngx_http_request_t *r,
    ngx_http_cast_main_conf_t *cmcf, cast_gql_slot_t *slot)
{
    ngx_http_cast_sse_t  *sse = &ngx_http_cast_sse;

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

    return NGX_OK;
}


/* the status of a view refused (its error in the slot), or not made */

static ngx_int_t
ngx_http_cast_sse_status(cast_gql_slot_t *slot)
{
    if (slot->status != CAST_RES_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_strcmp(slot->error_code, "UNAVAILABLE") == 0
           ? NGX_HTTP_SERVICE_UNAVAILABLE : NGX_HTTP_BAD_REQUEST;
}


/* the subscriber, its client already in it, one more of its view's */

static void
ngx_http_cast_sse_join(ngx_http_request_t *r, ngx_http_cast_view_t *v,
    ngx_http_cast_sub_t *sub, ngx_pool_cleanup_t *cln)
{
    ngx_http_cast_sse_t  *sse = &ngx_http_cast_sse;

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
}


/*
 * The stream begins: its headers, the ticks, and the view's latest event
 * if it has one.  NGX_DONE, or the status of a header not sent (the
 * subscriber leaves with the request's pool).
 */

static ngx_int_t
ngx_http_cast_sse_start(ngx_http_request_t *r, ngx_http_cast_sub_t *sub)
{
    ngx_int_t                   rc;
    ngx_http_cast_sse_t        *sse = &ngx_http_cast_sse;
    ngx_http_cast_main_conf_t  *cmcf = sse->cmcf;

    /* a stream ends with its connection */
    r->keepalive = 0;

    rc = ngx_http_cast_sse_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_cast_sse_writer;
    r->main->count++;

    ngx_http_cast_sse_limit(sse);
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

    return ngx_http_cast_sse_status(slot);
}


/* the names a stream of this slot has its client watch */

static ngx_uint_t
ngx_http_cast_sse_names(cast_gql_slot_t *slot)
{
    return slot->kind == CAST_FIELD_SCORES ? slot->nusernames : 0;
}


/*
 * The stream is its client's one more (cast_max_subscribers_per_client),
 * its names the client's too (cast_max_watched_names_per_client): NGX_OK
 * with the client held, to be released with the same names, else the
 * refusal's status, its error in the slot.  A request without a client
 * key is refused, never put in one count that every keyless client would
 * share; the caller asks only for a stream a limit applies to.
 */

static ngx_int_t
ngx_http_cast_sse_client(ngx_http_request_t *r,
    ngx_http_cast_main_conf_t *cmcf, cast_gql_slot_t *slot, ngx_uint_t names,
    ngx_http_cast_client_t **client)
{
    ngx_int_t  rc;
    ngx_str_t  key;

    if (ngx_http_cast_client_key(r, cmcf->client_key, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key.len == 0) {
        return ngx_http_cast_sse_refuse(slot, r->pool, "BAD_REQUEST",
                                        "the request has no client key "
                                        "(cast_client_key is empty), so "
                                        "its subscription cannot count "
                                        "against a client's", 0);
    }

    rc = ngx_http_cast_client_hold(&key, cmcf->max_client_subscribers,
                                   names, cmcf->max_client_names, client);

    if (rc == NGX_DECLINED) {
        (void) ngx_http_cast_sse_refuse(slot, r->pool,
                                        "TOO_MANY_SUBSCRIPTIONS",
                                        "this client's subscriptions would "
                                        "watch more than %uz usernames on "
                                        "this worker "
                                        "(cast_max_watched_names_per_client)",
                                        cmcf->max_client_names);
        return NGX_HTTP_TOO_MANY_REQUESTS;
    }

    if (rc == NGX_BUSY) {
        (void) ngx_http_cast_sse_refuse(slot, r->pool,
                                        "TOO_MANY_SUBSCRIPTIONS",
                                        "this client already holds %uz "
                                        "subscriptions on this worker "
                                        "(cast_max_subscribers_per_client)",
                                        cmcf->max_client_subscribers);
        return NGX_HTTP_TOO_MANY_REQUESTS;
    }

    return rc == NGX_OK ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
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
    ngx_uint_t             hash;
    ngx_http_cast_view_t  *v;
    ngx_http_cast_sse_t   *sse = &ngx_http_cast_sse;

    hash = ngx_hash_key(key->data, key->len);

    v = ngx_http_cast_sse_view_find(key, hash);
    if (v) {
        return v;
    }

    if (ngx_http_cast_sse_usernames(r, slot) != NGX_OK) {
        return NULL;
    }

    v = ngx_http_cast_sse_view_create(key, hash, prepare, data, slot);
    if (v == NULL) {
        return NULL;
    }

    if (ngx_http_cast_sse_view_watch(r, v, slot) != NGX_OK) {
        ngx_destroy_pool(v->pool);
        return NULL;
    }

    ngx_queue_insert_tail(&sse->views, &v->queue);

    return v;
}


static ngx_http_cast_view_t *
ngx_http_cast_sse_view_find(ngx_str_t *key, ngx_uint_t hash)
{
    ngx_queue_t           *q;
    ngx_http_cast_view_t  *v;
    ngx_http_cast_sse_t   *sse = &ngx_http_cast_sse;

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

    return NULL;
}


/*
 * A votes subscription's names, before a view watches them: each view
 * renders all its names every tick, so as a vote's, bounded and valid.
 * NGX_OK, else NGX_DECLINED with the refusal in slot.
 */

static ngx_int_t
ngx_http_cast_sse_usernames(ngx_http_request_t *r, cast_gql_slot_t *slot)
{
    size_t                      i;
    ngx_http_cast_main_conf_t  *cmcf = ngx_http_cast_sse.cmcf;

    if (slot->kind != CAST_FIELD_SCORES) {
        return NGX_OK;
    }

    if (slot->nusernames > cmcf->max_usernames) {
        (void) ngx_http_cast_sse_refuse(slot, r->pool, "BAD_USER_INPUT",
                                        "usernames may hold at most %uz "
                                        "names (cast_max_usernames)",
                                        cmcf->max_usernames);
        return NGX_DECLINED;
    }

    for (i = 0; i < slot->nusernames; i++) {
        if (!cast_name_valid(slot->usernames[i].data, slot->usernames[i].len,
                             NGX_HTTP_CAST_NAME_MAX))
        {
            (void) ngx_http_cast_sse_refuse(slot, r->pool, "BAD_USER_INPUT",
                                            "each username must be 1 to "
                                            "64 bytes of UTF-8 without "
                                            "control characters", 0);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * A new view of key, in a pool of its own: the key copied and the plan
 * prepared again into it, of the kind the request's slot is.  NULL when
 * out of memory or the plan differs.
 */

static ngx_http_cast_view_t *
ngx_http_cast_sse_view_create(ngx_str_t *key, ngx_uint_t hash,
    ngx_http_cast_sse_prepare_pt prepare, void *data, cast_gql_slot_t *slot)
{
    ngx_pool_t            *pool;
    ngx_http_cast_view_t  *v;

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

    v->slot = &v->exec->slots[0];

    return v;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


/*
 * The names of a votes view held in the worker's watch, as many as its
 * own slot has: released with it (ngx_http_cast_sse_view_free).  Else
 * NGX_ERROR, the names held so far released, the refusal in the
 * request's slot when the worker watches too many already.
 */

static ngx_int_t
ngx_http_cast_sse_view_watch(ngx_http_request_t *r, ngx_http_cast_view_t *v,
    cast_gql_slot_t *slot)
{
    size_t                      i;
    cast_gql_slot_t            *vs = v->slot;
    ngx_http_cast_main_conf_t  *cmcf = ngx_http_cast_sse.cmcf;

    if (vs->kind != CAST_FIELD_SCORES || vs->nusernames == 0) {
        return NGX_OK;
    }

    v->names = ngx_pcalloc(v->pool, vs->nusernames * sizeof(void *));
    v->votes = ngx_pcalloc(v->pool, vs->nusernames * sizeof(int64_t));

    if (v->names == NULL || v->votes == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < vs->nusernames; i++) {
        v->names[i] = ngx_http_cast_watch_name(
                          (u_char *) vs->usernames[i].data,
                          vs->usernames[i].len, cmcf->max_watched_names);

        if (v->names[i] == NULL) {
            break;
        }
    }

    if (i == vs->nusernames) {
        return NGX_OK;
    }

    while (i--) {
        ngx_http_cast_watch_release(v->names[i]);
    }

    (void) ngx_http_cast_sse_refuse(slot, r->pool, "UNAVAILABLE",
                                    "this worker already watches %uz "
                                    "usernames (cast_max_watched_names)",
                                    cmcf->max_watched_names);
    return NGX_ERROR;
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

    if (sub->client) {
        ngx_http_cast_client_release(sub->client, sub->names);
    }

    ngx_queue_remove(&sub->queue);
    sse->nsubs--;
    ngx_http_cast_metrics_streams(-1);

    if (--v->nsubs == 0) {
        ngx_http_cast_sse_view_free(v);
        ngx_http_cast_sse_limit(sse);
    }

    if (sse->nsubs == 0) {
        ngx_http_cast_watch_stop();
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
