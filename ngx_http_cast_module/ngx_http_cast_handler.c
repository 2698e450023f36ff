
/*
 * Copyright (C) CAST developers
 *
 * The content handlers: GraphQL over HTTP, the schema, health and
 * readiness probes.  A GraphQL request is prepared by the engine, its
 * root fields resolved through Redis, then finished by the engine.
 */


#include "ngx_http_cast_module.h"


static void ngx_http_cast_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_cast_process(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_cast_finish(ngx_http_request_t *r,
    ngx_http_cast_ctx_t *ctx);
static ngx_int_t ngx_http_cast_body_too_large(ngx_http_request_t *r);
static ngx_int_t ngx_http_cast_body_join(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_http_cast_ctx_t *ngx_http_cast_ctx_create(ngx_http_request_t *r,
    ngx_http_cast_complete_pt complete);
static void ngx_http_cast_ctx_cleanup(void *data);
static void ngx_http_cast_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_cast_wait(ngx_http_request_t *r,
    ngx_http_cast_ctx_t *ctx);
static void *ngx_http_cast_palloc(void *pool, size_t size);
static void ngx_http_cast_state_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_cast_readyz_complete(ngx_http_request_t *r,
    ngx_http_cast_ctx_t *ctx);
static ngx_int_t ngx_http_cast_send_text(ngx_http_request_t *r,
    ngx_uint_t status, const char *text);


static cast_gql_engine_t  *ngx_http_cast_engine;
static uint64_t            ngx_http_cast_hits;
static uint64_t            ngx_http_cast_misses;

static ngx_str_t  ngx_http_cast_text = ngx_string("text/plain");
static ngx_str_t  ngx_http_cast_json = ngx_string("application/json");


ngx_int_t
ngx_http_cast_engine_init(ngx_http_cast_main_conf_t *cmcf)
{
    ngx_http_cast_engine = cast_gql_engine_create(&cmcf->limits);

    return ngx_http_cast_engine ? NGX_OK : NGX_ERROR;
}


void
ngx_http_cast_engine_exit(void)
{
    if (ngx_http_cast_engine) {
        cast_gql_engine_destroy(ngx_http_cast_engine);
        ngx_http_cast_engine = NULL;
    }
}


ngx_int_t
ngx_http_cast_graphql_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_cast_main_conf_t  *cmcf;

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_cast_process(r, NULL);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    if (r->headers_in.content_length_n > (off_t) cmcf->max_body_size) {
        return ngx_http_cast_body_too_large(r);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_cast_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_cast_body_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    rc = ngx_http_cast_body_join(r, &body);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_cast_body_too_large(r));
        return;
    }

    ngx_http_finalize_request(r, ngx_http_cast_process(r, &body));
}


/*
 * The body in one piece, in memory and within cast_max_body_size; one
 * nginx wrote to a temporary file (client_body_buffer_size smaller than
 * cast_max_body_size) is refused like an oversize one.
 */

static ngx_int_t
ngx_http_cast_body_join(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char                     *p;
    size_t                      len;
    ngx_chain_t                *cl;
    ngx_http_cast_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }
        len += cl->buf->last - cl->buf->pos;
    }

    if (len > cmcf->max_body_size) {
        return NGX_DECLINED;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL) {
        body->data = cl->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for ( /* void */ ; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_cast_body_too_large(ngx_http_request_t *r)
{
    static const char  msg[] =
        "{\"errors\":[{\"message\":\"request body too large\","
        "\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}";

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    return ngx_http_cast_send(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              &ngx_http_cast_json, (u_char *) msg,
                              sizeof(msg) - 1);
}


static ngx_int_t
ngx_http_cast_process(ngx_http_request_t *r, ngx_str_t *body)
{
    int                         rc;
    uint64_t                    hits, misses;
    cast_gql_http_t             in;
    cast_gql_alloc_t           *alloc;
    cast_gql_exec_t            *exec;
    ngx_http_cast_ctx_t        *ctx;
    ngx_http_cast_main_conf_t  *cmcf;

    ngx_memzero(&in, sizeof(cast_gql_http_t));

    in.method = r->method == NGX_HTTP_GET ? CAST_GQL_METHOD_GET
              : r->method == NGX_HTTP_POST ? CAST_GQL_METHOD_POST
              : CAST_GQL_METHOD_OTHER;

    if (r->headers_in.content_type) {
        in.content_type.data = (char *) r->headers_in.content_type->value.data;
        in.content_type.len = r->headers_in.content_type->value.len;
    }

    if (r->headers_in.accept) {
        in.accept.data = (char *) r->headers_in.accept->value.data;
        in.accept.len = r->headers_in.accept->value.len;
    }

    if (body) {
        in.body.data = (char *) body->data;
        in.body.len = body->len;
    }

    in.args.data = (char *) r->args.data;
    in.args.len = r->args.len;

    /* the engine keeps the allocator until cast_gql_finish() */
    alloc = ngx_palloc(r->pool, sizeof(cast_gql_alloc_t));
    if (alloc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    alloc->alloc = ngx_http_cast_palloc;
    alloc->ctx = r->pool;

    rc = cast_gql_prepare(ngx_http_cast_engine, &in, alloc, &exec);

    /* the engine counts per worker; the shared counters get the change */
    hits = cast_gql_cache_hits(ngx_http_cast_engine);
    misses = cast_gql_cache_misses(ngx_http_cast_engine);

    ngx_http_cast_metrics_cache(hits - ngx_http_cast_hits,
                                misses - ngx_http_cast_misses);

    ngx_http_cast_hits = hits;
    ngx_http_cast_misses = misses;

    if (exec == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_cast_ctx_create(r, ngx_http_cast_finish);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->exec = exec;

    if (rc == CAST_GQL_RESOLVE) {
        cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);
        ngx_http_cast_resolve(ctx, cmcf);
    }

    return ngx_http_cast_wait(r, ctx);
}


/* answers at once when nothing is pending, or waits for Redis */

static ngx_int_t
ngx_http_cast_wait(ngx_http_request_t *r, ngx_http_cast_ctx_t *ctx)
{
    ngx_http_cast_main_conf_t  *cmcf;

    if (ctx->pending == 0) {
        ctx->done = 1;
        return ctx->complete(r, ctx);
    }

    /*
     * A client that closed ends the request at once (499), and its calls,
     * still in a batch, are never sent: here when the close came with the
     * request (its event is spent), else when the read event reports it.
     */
    if (r->connection->read->pending_eof) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client prematurely closed connection");
        r->connection->read->eof = 1;
        r->connection->error = 1;
        ngx_http_cast_batch_detach(ctx);
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    r->read_event_handler = ngx_http_test_reading;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    ngx_add_timer(&ctx->timer, cmcf->redis_timeout);

    r->main->count++;

    return NGX_DONE;
}


/* the last reply arrived */

void
ngx_http_cast_slot_done(ngx_http_cast_ctx_t *ctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (ctx->done) {
        return;
    }

    if (ngx_http_cast_resolve_more(ctx,
            ngx_http_get_module_main_conf(ctx->request, ngx_http_cast_module)))
    {
        return;
    }

    ctx->done = 1;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    r = ctx->request;
    c = r->connection;

    ngx_http_finalize_request(r, ctx->complete(r, ctx));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_cast_timeout(ngx_event_t *ev)
{
    size_t                i;
    ngx_http_cast_ctx_t  *ctx = ev->data;

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "cast: redis timed out, %ui commands unanswered",
                  ctx->pending);

    if (ctx->exec) {
        for (i = 0; i < ctx->next; i++) {
            if (ctx->exec->slots[i].status == CAST_RES_PENDING) {
                ngx_http_cast_resolve_unavailable(&ctx->exec->slots[i],
                                                  "redis timed out");
            }
        }
    }

    ngx_http_cast_batch_detach(ctx);
    ngx_http_cast_slot_done(ctx);
    ngx_http_cast_redis_check_stuck();
}


static ngx_int_t
ngx_http_cast_finish(ngx_http_request_t *r, ngx_http_cast_ctx_t *ctx)
{
    size_t               i;
    ngx_uint_t           failed;
    ngx_str_t            type;
    ngx_table_elt_t     *h;
    cast_gql_response_t  resp;

    if (cast_gql_finish(ctx->exec, &resp) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    failed = resp.status != NGX_HTTP_OK;

    for (i = 0; i < ctx->exec->nslots; i++) {
        failed |= ctx->exec->slots[i].status != CAST_RES_OK;
    }

    ngx_http_cast_metrics_request(ctx->exec->op, failed);

    if (resp.allow) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.data = (u_char *) resp.allow;
        h->value.len = ngx_strlen(resp.allow);
    }

    type.data = (u_char *) resp.content_type;
    type.len = ngx_strlen(resp.content_type);

    return ngx_http_cast_send(r, resp.status, &type, (u_char *) resp.body.data,
                              resp.body.len);
}


static ngx_http_cast_ctx_t *
ngx_http_cast_ctx_create(ngx_http_request_t *r,
    ngx_http_cast_complete_pt complete)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_cast_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_cast_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->exec = NULL;
     *     ctx->pending = 0;
     *     ctx->next = 0;
     *     ctx->done = 0;
     */

    ctx->request = r;
    ctx->complete = complete;
    ngx_queue_init(&ctx->cmds);

    ctx->timer.handler = ngx_http_cast_timeout;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    cln->handler = ngx_http_cast_ctx_cleanup;
    cln->data = ctx;

    return ctx;
}


/* the request is going away, perhaps with Redis replies still due */

static void
ngx_http_cast_ctx_cleanup(void *data)
{
    ngx_http_cast_ctx_t  *ctx = data;

    /* not answered: its client went away */
    if (!ctx->done && ctx->exec) {
        ngx_http_cast_metrics_request(ctx->exec->op, 1);
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ngx_http_cast_batch_detach(ctx);
}


static void *
ngx_http_cast_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


ngx_int_t
ngx_http_cast_schema_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    cast_str_t  sdl;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    sdl = cast_gql_schema_sdl();

    return ngx_http_cast_send(r, NGX_HTTP_OK, &ngx_http_cast_text,
                              (u_char *) sdl.data, sdl.len);
}


ngx_int_t
ngx_http_cast_healthz_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_cast_send_text(r, NGX_HTTP_OK, "ok\n");
}


/* ready: Redis answers, counts are complete and a current ticket exists */

ngx_int_t
ngx_http_cast_readyz_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    cast_gql_slot_t      *slot;
    ngx_http_cast_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_cast_ctx_create(r, ngx_http_cast_readyz_complete);
    slot = ngx_pcalloc(r->pool, sizeof(cast_gql_slot_t));

    if (ctx == NULL || slot == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->slot = slot;

    ngx_http_cast_batch_add(NGX_HTTP_CAST_BATCH_STATE, ctx, slot,
                            ngx_http_cast_state_reply, 0, NULL, NULL);

    return ngx_http_cast_wait(r, ctx);
}


static void
ngx_http_cast_state_reply(void *data, redisReply *reply)
{
    ngx_http_cast_cmd_t  *cmd = data;
    cast_gql_slot_t      *slot = cmd->slot;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2)
    {
        ngx_http_cast_resolve_unavailable(slot, "redis not answering");
        return;
    }

    slot->status = CAST_RES_OK;
    slot->success = reply->element[0]->integer == 1
                    && reply->element[1]->integer == 1;
}


static ngx_int_t
ngx_http_cast_readyz_complete(ngx_http_request_t *r, ngx_http_cast_ctx_t *ctx)
{
    if (ctx->slot->status != CAST_RES_OK) {
        return ngx_http_cast_send_text(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "redis unavailable\n");
    }

    if (!ctx->slot->success) {
        return ngx_http_cast_send_text(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "no current ticket or counts "
                                       "not restored\n");
    }

    return ngx_http_cast_send_text(r, NGX_HTTP_OK, "ready\n");
}


static ngx_int_t
ngx_http_cast_send_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    return ngx_http_cast_send(r, status, &ngx_http_cast_text, (u_char *) text,
                              ngx_strlen(text));
}


ngx_int_t
ngx_http_cast_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *type,
    u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
