
/*
 * Copyright (C) CAST developers
 *
 * The GraphQL endpoint: a browser sent to the GraphiQL page, the body
 * read (within cast_max_body_size), the request prepared by the engine,
 * a subscription handed to the SSE layer, the client key computed, and
 * the answer finished by the engine once the request's fields are
 * resolved.  Running the fields is the request's
 * (ngx_http_cast_request.c); this file calls it, the engine, the
 * herd's answers given again (ngx_http_cast_replay.c), the resolvers'
 * request check, the SSE layer, the client key, the response writer
 * (ngx_http_cast_send.c) and the metrics.  The module
 * (ngx_http_cast_module.c) calls it.
 */


#include "ngx_http_cast_module.h"


/* what a subscription's view prepares again, into its own memory */
typedef struct {
    cast_gql_http_t            *in;
} ngx_http_cast_again_t;


static void ngx_http_cast_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_cast_process(ngx_http_request_t *r,
    ngx_str_t *body);
static void ngx_http_cast_http_in(ngx_http_request_t *r, ngx_str_t *body,
    cast_gql_http_t *in);
static void ngx_http_cast_cache_count(void);
static ngx_int_t ngx_http_cast_finish(ngx_http_request_t *r,
    ngx_http_cast_ctx_t *ctx);
static ngx_int_t ngx_http_cast_client(ngx_http_request_t *r,
    ngx_http_cast_main_conf_t *cmcf, ngx_http_cast_ctx_t *ctx);
static ngx_int_t ngx_http_cast_body_too_large(ngx_http_request_t *r);
static ngx_int_t ngx_http_cast_body_join(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_cast_alloc(ngx_pool_t *pool,
    cast_gql_alloc_t **alloc);
static void *ngx_http_cast_palloc(void *pool, size_t size);
static ngx_int_t ngx_http_cast_graphiql(ngx_http_request_t *r,
    ngx_http_cast_main_conf_t *cmcf);
static void ngx_http_cast_coding(ngx_http_request_t *r, cast_str_t *coding);
static ngx_int_t ngx_http_cast_subscribe(ngx_http_request_t *r,
    cast_gql_http_t *in, cast_gql_exec_t *exec, ngx_pool_cleanup_t *tmp);
static ngx_pool_cleanup_t *ngx_http_cast_scratch(ngx_http_request_t *r);
static void ngx_http_cast_scratch_free(ngx_pool_cleanup_t *cln);
static void ngx_http_cast_scratch_cleanup(void *data);
static ngx_int_t ngx_http_cast_prepare_again(void *data, ngx_pool_t *pool,
    cast_gql_exec_t **exec);


static cast_gql_engine_t  *ngx_http_cast_engine;
static uint64_t            ngx_http_cast_hits;
static uint64_t            ngx_http_cast_misses;

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
    cast_str_t                  accept;
    ngx_http_cast_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    /* once only: a page URI that leads back here gets the API's answer */
    if (r->method == NGX_HTTP_GET && cmcf->graphiql && !r->internal
        && r->headers_in.accept)
    {
        accept.data = (char *) r->headers_in.accept->value.data;
        accept.len = r->headers_in.accept->value.len;

        if (cast_gql_prefers_html(accept)) {
            return ngx_http_cast_graphiql(r, cmcf);
        }
    }

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_cast_process(r, NULL);
    }

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


/*
 * A browser opening the endpoint (cast_graphiql): the GraphiQL page, a
 * static file at cast_graphiql_page, served by the location that URI
 * falls in (conf/cast.conf: an internal one under html/, with its
 * Content-Security-Policy).  The same URL answers API clients with JSON,
 * so the page says that its content depends on Accept.
 */

static ngx_int_t
ngx_http_cast_graphiql(ngx_http_request_t *r, ngx_http_cast_main_conf_t *cmcf)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Vary");
    ngx_str_set(&h->value, "Accept");

    return ngx_http_internal_redirect(r, &cmcf->graphiql_page, NULL);
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
 * The body in one piece, in memory and within cast_max_body_size.  A
 * body nginx wrote to its temporary file is read back: a chunked body
 * in small chunks, whose framing nginx keeps in client_body_buffer_size
 * (an 11 KB body sent a byte a chunk fills 64k), or a buffer smaller
 * than cast_max_body_size.  The file is nginx's own, just written and
 * at most cast_max_body_size long, as nginx reads a file it serves.
 */

static ngx_int_t
ngx_http_cast_body_join(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t                       len;
    u_char                     *p;
    size_t                      size;
    ssize_t                     n;
    ngx_buf_t                  *b;
    ngx_chain_t                *cl;
    ngx_http_cast_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);

        if (len > (off_t) cmcf->max_body_size) {
            return NGX_DECLINED;
        }
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && ngx_buf_in_memory(cl->buf)) {
        body->data = cl->buf->pos;
        body->len = (size_t) len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL && len) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = (size_t) len;

    /* a chunked body ends in an empty last_buf without memory */

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;
        size = (size_t) ngx_buf_size(b);

        if (size == 0) {
            continue;
        }

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, size);
            continue;
        }

        n = ngx_read_file(b->file, p, size, b->file_pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if ((size_t) n != size) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          ngx_read_file_n " read only %z of %uz bytes "
                          "from \"%V\"", n, size, &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_cast_body_too_large(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      len;
    ngx_http_cast_main_conf_t  *cmcf;

    static const char  head[] =
        "{\"errors\":[{\"message\":\"The request body is larger than the "
        "limit of ";
    static const char  tail[] =
        " bytes (cast_max_body_size).\","
        "\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}";

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    len = sizeof(head) - 1 + NGX_SIZE_T_LEN + sizeof(tail) - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_sprintf(p, "%s%uz%s", head, cmcf->max_body_size, tail) - p;

    return ngx_http_cast_send(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              &ngx_http_cast_json, p, len);
}


static ngx_int_t
ngx_http_cast_process(ngx_http_request_t *r, ngx_str_t *body)
{
    int                         rc;
    cast_gql_http_t             in;
    cast_gql_alloc_t           *alloc;
    cast_gql_exec_t            *exec;
    ngx_pool_cleanup_t         *tmp;
    ngx_http_cast_ctx_t        *ctx;
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_http_cast_replay_key_t *replay;

    ngx_http_cast_http_in(r, body, &in);

    rc = ngx_http_cast_replay(r, &in, &replay);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* the engine keeps the allocator until cast_gql_finish() */
    if (ngx_http_cast_alloc(r->pool, &alloc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * A stream lives long and its view has a plan of its own: its request
     * is prepared in memory that goes once the stream starts (or with the
     * request, when it is refused), not in the request's pool.
     */
    tmp = NULL;

    if (in.stream) {
        tmp = ngx_http_cast_scratch(r);
        if (tmp == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        alloc->ctx = tmp->data;
    }

    rc = cast_gql_prepare(ngx_http_cast_engine, &in, alloc, &exec);

    ngx_http_cast_cache_count();

    if (exec == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == CAST_GQL_RESOLVE && exec->op == CAST_GQL_OP_SUBSCRIPTION) {
        return ngx_http_cast_subscribe(r, &in, exec, tmp);
    }

    ctx = ngx_http_cast_request_create(r, ngx_http_cast_finish, exec->slots,
                                       rc == CAST_GQL_RESOLVE ? exec->nslots
                                                              : 0);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->exec = exec;
    ctx->replay = replay;

    if (rc == CAST_GQL_RESOLVE) {
        cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

        if (ngx_http_cast_client(r, cmcf, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_cast_resolve_check(exec, r->pool, cmcf) == NGX_OK) {
            ngx_http_cast_request_start(ctx);
        }
    }

    return ngx_http_cast_request_wait(r, ctx);
}


/* What the engine is told of the request: method, headers, body, args. */

static void
ngx_http_cast_http_in(ngx_http_request_t *r, ngx_str_t *body,
    cast_gql_http_t *in)
{
    ngx_memzero(in, sizeof(cast_gql_http_t));

    in->method = r->method == NGX_HTTP_GET ? CAST_GQL_METHOD_GET
               : r->method == NGX_HTTP_POST ? CAST_GQL_METHOD_POST
               : CAST_GQL_METHOD_OTHER;

    if (r->headers_in.content_type) {
        in->content_type.data = (char *) r->headers_in.content_type->value.data;
        in->content_type.len = r->headers_in.content_type->value.len;
    }

    if (r->headers_in.accept) {
        in->accept.data = (char *) r->headers_in.accept->value.data;
        in->accept.len = r->headers_in.accept->value.len;
    }

    ngx_http_cast_coding(r, &in->content_encoding);

    if (body) {
        in->body.data = (char *) body->data;
        in->body.len = body->len;
    }

    in->args.data = (char *) r->args.data;
    in->args.len = r->args.len;
    in->stream = cast_gql_wants_stream(in->accept);
}


/* the engine counts per worker; the shared counters get the change */

static void
ngx_http_cast_cache_count(void)
{
    uint64_t  hits, misses;

    hits = cast_gql_cache_hits(ngx_http_cast_engine);
    misses = cast_gql_cache_misses(ngx_http_cast_engine);

    ngx_http_cast_metrics_cache(hits - ngx_http_cast_hits,
                                misses - ngx_http_cast_misses);

    ngx_http_cast_hits = hits;
    ngx_http_cast_misses = misses;
}


/*
 * The request's client key (cast_client_key: ngx_http_cast_client.c),
 * for the fields to count against a client's share of a ticket
 * (cast_client_uses).  An empty key stays empty: the resolver refuses a
 * vote without one.
 */

static ngx_int_t
ngx_http_cast_client(ngx_http_request_t *r, ngx_http_cast_main_conf_t *cmcf,
    ngx_http_cast_ctx_t *ctx)
{
    size_t      i;
    ngx_str_t   key;

    if (cmcf->client_uses == 0 || ctx->nfields == 0) {
        return NGX_OK;
    }

    if (ngx_http_cast_client_key(r, cmcf->client_key, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < ctx->nfields; i++) {
        ctx->fields[i].client = key;
    }

    return NGX_OK;
}


/* the first Content-Encoding of the request other than identity */

static void
ngx_http_cast_coding(ngx_http_request_t *r, cast_str_t *coding)
{
    cast_str_t        value;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Content-Encoding") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Encoding",
                               h[i].key.len)
               != 0)
        {
            continue;
        }

        value.data = (char *) h[i].value.data;
        value.len = h[i].value.len;

        if (!cast_gql_identity_coding(value)) {
            *coding = value;
            return;
        }
    }
}


/*
 * A subscription: the stream is the SSE layer's from here.  A refusal
 * (a bound passed, bad input) is answered here, with the error and the
 * HTTP status the layer gave.
 */

static ngx_int_t
ngx_http_cast_subscribe(ngx_http_request_t *r, cast_gql_http_t *in,
    cast_gql_exec_t *exec, ngx_pool_cleanup_t *tmp)
{
    u_char                 *p;
    ngx_int_t               rc;
    ngx_str_t               key;
    ngx_http_cast_ctx_t    *ctx;
    ngx_http_cast_again_t   again;

    /* the request as sent: the same bytes share one view */
    key.len = 1 + (in->method == CAST_GQL_METHOD_POST ? in->body.len
                                                      : in->args.len);
    key.data = ngx_pnalloc(tmp->data, key.len);
    if (key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = key.data;

    if (in->method == CAST_GQL_METHOD_POST) {
        *p++ = 'P';
        ngx_memcpy(p, in->body.data, in->body.len);

    } else {
        *p++ = 'G';
        ngx_memcpy(p, in->args.data, in->args.len);
    }

    again.in = in;

    rc = ngx_http_cast_sse_subscribe(r, exec, &key,
                                     ngx_http_cast_prepare_again, &again);

    if (rc == NGX_DONE) {
        /* streaming: the view has all it needs */
        ngx_http_cast_scratch_free(tmp);
        return NGX_DONE;
    }

    if (rc == NGX_ERROR || rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return rc;
    }

    ctx = ngx_http_cast_request_create(r, ngx_http_cast_finish, exec->slots, 0);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->exec = exec;
    ctx->status = rc;

    return ngx_http_cast_request_wait(r, ctx);
}


/* a pool of the request's own, destroyed with it at the latest */

static ngx_pool_cleanup_t *
ngx_http_cast_scratch(ngx_http_request_t *r)
{
    ngx_pool_t          *pool;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    pool = ngx_create_pool(4096, r->connection->log);
    if (pool == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_cast_scratch_cleanup;
    cln->data = pool;

    return cln;
}


static void
ngx_http_cast_scratch_free(ngx_pool_cleanup_t *cln)
{
    ngx_destroy_pool(cln->data);
    cln->handler = NULL;
    cln->data = NULL;
}


static void
ngx_http_cast_scratch_cleanup(void *data)
{
    ngx_destroy_pool(data);
}


static ngx_int_t
ngx_http_cast_prepare_again(void *data, ngx_pool_t *pool,
    cast_gql_exec_t **exec)
{
    cast_gql_alloc_t       *alloc;
    ngx_http_cast_again_t  *again = data;

    /* a view's plan: in the view's own pool */
    if (ngx_http_cast_alloc(pool, &alloc) != NGX_OK) {
        return NGX_ERROR;
    }

    if (cast_gql_prepare(ngx_http_cast_engine, again->in, alloc, exec)
        != CAST_GQL_RESOLVE)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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

    if (ctx->status) {
        resp.status = ctx->status;
    }

    if (ctx->replay) {
        ngx_http_cast_replay_keep(ctx, &resp);
    }

    return ngx_http_cast_send(r, resp.status, &type, (u_char *) resp.body.data,
                              resp.body.len);
}


/* the engine's allocations in pool, the allocator too */

static ngx_int_t
ngx_http_cast_alloc(ngx_pool_t *pool, cast_gql_alloc_t **alloc)
{
    *alloc = ngx_palloc(pool, sizeof(cast_gql_alloc_t));
    if (*alloc == NULL) {
        return NGX_ERROR;
    }

    (*alloc)->alloc = ngx_http_cast_palloc;
    (*alloc)->ctx = pool;

    return NGX_OK;
}


static void *
ngx_http_cast_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}
