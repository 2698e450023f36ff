
/*
 * Copyright (C) CAST developers
 *
 * The endpoints beside GraphQL: the schema (SDL), the health probe and
 * the readiness probe.  Readiness is one field resolved as a request's
 * (ngx_http_cast_request.c): Redis's state, with the address this worker
 * writes to.  The module (ngx_http_cast_module.c) calls them.
 */


#include "ngx_http_cast_module.h"


static ngx_int_t ngx_http_cast_readyz_send(ngx_http_request_t *r,
    ngx_uint_t status, const char *text);
static ngx_int_t ngx_http_cast_readyz_complete(ngx_http_request_t *r,
    ngx_http_cast_ctx_t *ctx);
static ngx_int_t ngx_http_cast_send_text(ngx_http_request_t *r,
    ngx_uint_t status, const char *text);


static ngx_str_t  ngx_http_cast_text = ngx_string("text/plain");


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


/* a probe is a GET or HEAD, as the schema and the metrics are */

ngx_int_t
ngx_http_cast_healthz_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

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

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    slot = ngx_pcalloc(r->pool, sizeof(cast_gql_slot_t));
    if (slot == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_cast_request_create(r, ngx_http_cast_readyz_complete,
                                       slot, 1);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = 1;

    if (ngx_http_cast_resolve_state(&ctx->fields[0]) == NGX_AGAIN) {
        ctx->pending++;
    }

    return ngx_http_cast_request_wait(r, ctx);
}


static ngx_int_t
ngx_http_cast_readyz_complete(ngx_http_request_t *r, ngx_http_cast_ctx_t *ctx)
{
    cast_gql_slot_t  *slot = ctx->fields[0].slot;

    if (slot->status != CAST_RES_OK) {
        return ngx_http_cast_readyz_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "redis unavailable:");
    }

    if (!slot->success) {
        return ngx_http_cast_readyz_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "no current ticket or counts "
                                         "not restored:");
    }

    return ngx_http_cast_readyz_send(r, NGX_HTTP_OK, "ready");
}


/*
 * The state, the Redis this worker writes to, "ready redis ip:port", and
 * with cast_redis_replica_reads the one it reads from, " reads ip:port"
 * (the primary's unless a replica answers the reads now)
 */

static ngx_int_t
ngx_http_cast_readyz_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    u_char     *body, *p;
    size_t      len;
    ngx_str_t  *addr, *reads;

    addr = ngx_http_cast_redis_address();
    reads = ngx_http_cast_redis_reads_address();

    len = ngx_strlen(text) + sizeof(" redis  reads \n") - 1 + addr->len
          + (reads ? reads->len : 0);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "%s redis %V", text, addr);

    if (reads) {
        p = ngx_sprintf(p, " reads %V", reads);
    }

    *p++ = '\n';

    return ngx_http_cast_send(r, status, &ngx_http_cast_text, body, p - body);
}


static ngx_int_t
ngx_http_cast_send_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    return ngx_http_cast_send(r, status, &ngx_http_cast_text, (u_char *) text,
                              ngx_strlen(text));
}
