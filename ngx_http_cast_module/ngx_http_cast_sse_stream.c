
/*
 * Copyright (C) CAST developers
 *
 * One subscriber's stream: its view's latest event sent to its socket,
 * unless its previous one is still going out.  Then it is sent the latest
 * once that drains: a client that does not read holds one event at most,
 * and is closed when nothing moved for send_timeout.  An event is
 * counted, so that it lives while a subscriber's output holds it.
 *
 * Once its headers and first bytes are out, a stream lets its request go
 * and is served by a raw reader and writer on its connection
 * (ngx_http_cast_sse_detach).  The subscribers are closed from posted
 * events, never from inside a view's loop.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_SSE_COMPLETE   "event: complete\ndata:\n\n"
#define NGX_HTTP_CAST_SSE_COMMENT    ":\n\n"
#define NGX_HTTP_CAST_SSE_LAST       "0\r\n\r\n"


static ngx_int_t ngx_http_cast_sse_direct(ngx_http_cast_sub_t *sub,
    ngx_http_cast_event_t *ev);
static ngx_int_t ngx_http_cast_sse_flush(ngx_http_cast_sub_t *sub);
static void ngx_http_cast_sse_write(ngx_http_cast_sub_t *sub, u_char *p,
    size_t len, ngx_http_cast_event_t *ev);
static ngx_int_t ngx_http_cast_sse_output(ngx_http_cast_sub_t *sub,
    ngx_chain_t *in);
static void ngx_http_cast_sse_detach(ngx_http_cast_sub_t *sub);
static void ngx_http_cast_sse_raw_reader(ngx_event_t *rev);
static void ngx_http_cast_sse_raw_writer(ngx_event_t *wev);
static void ngx_http_cast_sse_reset(ngx_connection_t *c,
    ngx_http_core_loc_conf_t *clcf);
static void ngx_http_cast_sse_sent(ngx_http_cast_sub_t *sub,
    ngx_event_t *wev);


/* the texts of the module's own, bare and in their HTTP/1.1 chunks */
ngx_str_t  ngx_http_cast_sse_comment[2] = {
    ngx_string(NGX_HTTP_CAST_SSE_COMMENT),
    ngx_string("3\r\n" NGX_HTTP_CAST_SSE_COMMENT "\r\n")
};
static ngx_str_t  ngx_http_cast_sse_complete[2] = {
    ngx_string(NGX_HTTP_CAST_SSE_COMPLETE),
    ngx_string("17\r\n" NGX_HTTP_CAST_SSE_COMPLETE "\r\n"
               NGX_HTTP_CAST_SSE_LAST)
};


/* the view's latest event, unless sent or the last one is still going */

void
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


/*
 * What the socket takes of a direct event; the rest waits for it, and
 * send_timeout runs from the last time the socket took something: a
 * stream is dropped when its client stops taking data, not because an
 * event takes long to drain while the client reads.
 */

static ngx_int_t
ngx_http_cast_sse_flush(ngx_http_cast_sub_t *sub)
{
    u_char            *start;
    ssize_t            n;
    ngx_event_t       *wev;
    ngx_connection_t  *c = sub->connection;

    wev = c->write;
    start = sub->pos;

    while (sub->pos < sub->last_byte) {
        n = c->send(c, sub->pos, sub->last_byte - sub->pos);

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN || n == 0) {
            if (!wev->timer_set || sub->pos != start) {
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

void
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
 * is let go.  Otherwise waits for the socket, send_timeout from the last
 * time it took something (as in ngx_http_cast_sse_flush).
 */

static ngx_int_t
ngx_http_cast_sse_output(ngx_http_cast_sub_t *sub, ngx_chain_t *in)
{
    off_t                      sent;
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_http_request_t        *r = sub->request;
    ngx_http_core_loc_conf_t  *clcf;

    sent = r->connection->sent;

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

    if (!wev->timer_set || r->connection->sent != sent) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the socket took more, or send_timeout passed with nothing taken */

void
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
                      "cast: a subscriber took nothing for send_timeout, "
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

void
ngx_http_cast_sse_close(ngx_http_cast_sub_t *sub, ngx_int_t rc)
{
    if (sub->closing) {
        return;
    }

    sub->closing = 1;
    sub->rc = rc;

    ngx_post_event(&sub->closer, &ngx_posted_events);
}


void
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

    cln->handler = sub->cln->handler;
    sub->cln->handler = NULL;
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

    /* each event out at once, as nginx has a keepalive connection's */
    if (ds->clcf->tcp_nodelay) {
        (void) ngx_tcp_nodelay(c);
    }

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
                          "cast: a subscriber took nothing for "
                          "send_timeout, closing");
            ngx_http_cast_metrics_dropped();
        }

        ngx_http_cast_sse_reset(c, sub->clcf);
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
 * reset_timedout_connection, as nginx applies it to a timed out request
 * it frees (a detached stream has none): the close sends an RST, and the
 * bytes the socket still holds go at once, not when the client reads.
 */

static void
ngx_http_cast_sse_reset(ngx_connection_t *c, ngx_http_core_loc_conf_t *clcf)
{
    struct linger  linger;

    if (!clcf->reset_timedout_connection) {
        return;
    }

    linger.l_onoff = 1;
    linger.l_linger = 0;

    if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, (const void *) &linger,
                   sizeof(struct linger))
        == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, ngx_socket_errno,
                      "setsockopt(SO_LINGER) failed");
    }
}


void
ngx_http_cast_sse_event_put(ngx_http_cast_event_t *ev)
{
    if (--ev->refs == 0) {
        ngx_free(ev);
    }
}
