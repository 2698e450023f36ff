
/*
 * Copyright (C) CAST developers
 *
 * A request's fields run and waited for.  The request is the one place
 * that owns its progress: which field is resolved next (a query's all at
 * once; a mutation's one after another, stopping at the first that
 * fails), the timeout, the client going away, and when it is answered
 * (by the complete handler its creator gave: the GraphQL endpoint's,
 * ngx_http_cast_handler.c, or the readiness probe's,
 * ngx_http_cast_probe.c).  It calls the resolvers
 * (ngx_http_cast_resolve.c, and ngx_http_cast_field.c to cancel a call or
 * fail a field that timed out), the transport's stuck-connection check
 * after a timeout, and the metrics; it hears back from the resolvers
 * through its fields' done handler.
 */


#include "ngx_http_cast_module.h"


static void ngx_http_cast_ctx_cleanup(void *data);
static void ngx_http_cast_field_done(ngx_http_cast_field_t *field);
static void ngx_http_cast_continue(ngx_http_cast_ctx_t *ctx);
static void ngx_http_cast_detach(ngx_http_cast_ctx_t *ctx);
static void ngx_http_cast_timeout(ngx_event_t *ev);


/*
 * Resolves the fields that may run now.  Query fields are resolved at
 * once, their calls batched together.  Mutation fields run one after
 * another, as the spec says, and stop at the first that fails: the next
 * one starts once this one's reply is in (ngx_http_cast_continue()).
 */

void
ngx_http_cast_request_start(ngx_http_cast_ctx_t *ctx)
{
    cast_gql_slot_t            *slot;
    ngx_http_cast_field_t      *field;
    ngx_http_cast_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(ctx->request, ngx_http_cast_module);

    while (ctx->next < ctx->nfields) {
        field = &ctx->fields[ctx->next++];
        slot = field->slot;

        if (ngx_http_cast_resolve(field, cmcf) == NGX_AGAIN) {
            ctx->pending++;
        }

        if (ctx->exec->op == CAST_GQL_OP_MUTATION
            && (ctx->pending || slot->status == CAST_RES_ERROR))
        {
            return;
        }
    }
}


/* a field's reply is in its slot */

static void
ngx_http_cast_field_done(ngx_http_cast_field_t *field)
{
    ngx_http_cast_ctx_t  *ctx = field->data;

    if (--ctx->pending == 0) {
        ngx_http_cast_continue(ctx);
    }
}


/* answers at once when nothing is pending, or waits for Redis */

ngx_int_t
ngx_http_cast_request_wait(ngx_http_request_t *r, ngx_http_cast_ctx_t *ctx)
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
        ngx_http_cast_detach(ctx);
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    r->read_event_handler = ngx_http_test_reading;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    ngx_add_timer(&ctx->timer, cmcf->redis_timeout);

    r->main->count++;

    return NGX_DONE;
}


/*
 * No field waits for Redis any more: a mutation goes on with its next
 * field if this one succeeded; otherwise the request is answered.
 */

static void
ngx_http_cast_continue(ngx_http_cast_ctx_t *ctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    cast_gql_exec_t     *exec = ctx->exec;

    if (ctx->done) {
        return;
    }

    if (exec != NULL && exec->op == CAST_GQL_OP_MUTATION
        && ctx->next != 0 && ctx->next < ctx->nfields
        && exec->slots[ctx->next - 1].status == CAST_RES_OK)
    {
        ngx_http_cast_request_start(ctx);

        if (ctx->pending) {
            return;
        }
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


/* the request is finished or gone: the replies still due are dropped */

static void
ngx_http_cast_detach(ngx_http_cast_ctx_t *ctx)
{
    size_t  i;

    for (i = 0; i < ctx->nfields; i++) {
        ngx_http_cast_field_cancel(&ctx->fields[i]);
    }

    ctx->pending = 0;
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
                ngx_http_cast_field_unavailable(&ctx->exec->slots[i],
                                                "redis timed out");
            }
        }
    }

    ngx_http_cast_detach(ctx);
    ngx_http_cast_continue(ctx);
    ngx_http_cast_redis_check_stuck();
}


/* a request's context, with a field for each slot to resolve */

ngx_http_cast_ctx_t *
ngx_http_cast_request_create(ngx_http_request_t *r,
    ngx_http_cast_complete_pt complete, cast_gql_slot_t *slots,
    size_t nslots)
{
    size_t                  i;
    ngx_pool_cleanup_t     *cln;
    ngx_http_cast_ctx_t    *ctx;
    ngx_http_cast_field_t  *field;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_cast_ctx_t)
                               + nslots * sizeof(ngx_http_cast_field_t));
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
     *     field->call = NULL;
     */

    ctx->request = r;
    ctx->complete = complete;
    ctx->fields = (ngx_http_cast_field_t *) &ctx[1];
    ctx->nfields = nslots;

    for (i = 0; i < nslots; i++) {
        field = &ctx->fields[i];
        field->slot = &slots[i];
        field->pool = r->pool;
        field->done = ngx_http_cast_field_done;
        field->data = ctx;
    }

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

    ngx_http_cast_detach(ctx);
}
