
/*
 * Copyright (C) CAST developers
 *
 * The subscriptions' tick.  Every tick (ngx_http_cast_watch.c: one Redis
 * call for the worker) a view fills its slot from the watch's state and
 * renders it; an event that differs from the last one becomes the view's
 * current event, and its subscribers are sent it
 * (ngx_http_cast_sse_stream.c).  A subscriber that has been sent nothing
 * for cast_subscription_keepalive gets a comment line.  While Redis is
 * down the views' events are UNAVAILABLE errors, sent once, until it
 * answers again.  A worker shutting down completes every stream.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_SSE_NEXT       "event: next\ndata: "
#define NGX_HTTP_CAST_SSE_SWEEP      1000


static ngx_int_t ngx_http_cast_sse_render(ngx_http_cast_sse_t *sse,
    ngx_http_cast_view_t *v, ngx_http_cast_watch_state_t *st);
static void ngx_http_cast_sse_fill(ngx_http_cast_view_t *v,
    ngx_http_cast_watch_state_t *st);
static void *ngx_http_cast_sse_palloc(void *pool, size_t size);


/* the largest top limit of the views is what a tick reads */

void
ngx_http_cast_sse_limit(ngx_http_cast_sse_t *sse)
{
    size_t                 limit;
    ngx_queue_t           *q;
    ngx_http_cast_view_t  *v;

    limit = 0;

    for (q = ngx_queue_head(&sse->views);
         q != ngx_queue_sentinel(&sse->views);
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

void
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

        if (ngx_http_cast_sse_render(sse, v, st) != NGX_OK && !sweep) {
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
ngx_http_cast_sse_render(ngx_http_cast_sse_t *sse,
    ngx_http_cast_view_t *v, ngx_http_cast_watch_state_t *st)
{
    u_char                 *p;
    size_t                  len;
    cast_str_t              json;
    cast_gql_alloc_t        a;
    ngx_http_cast_event_t  *ev;

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


static void *
ngx_http_cast_sse_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}
