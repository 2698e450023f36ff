
/*
 * Copyright (C) CAST developers
 *
 * A hiredis async context on nginx's event loop: the adapter the transport
 * (ngx_http_cast_redis.c) and the Sentinel asks (ngx_http_cast_sentinel.c)
 * share.
 *
 * The context's fd is wrapped in an nginx connection whose events are
 * registered level-triggered, so a reply hiredis only partly consumed is
 * never stranded.  With "post", a write hiredis asks for on a connected
 * context is posted to the end of the worker's round instead: what the
 * round's commands queued goes out at once, usually without waiting for
 * the socket's write event.  hiredis closes the fd itself after calling
 * the cleanup hook; the hook only gives the nginx connection back.
 *
 * A reply no command asked for (a misbehaving server or proxy) would stop
 * the worker on an assertion in hiredis (only a subscribed context may
 * get one): the context's reader refuses such a reply as it starts,
 * which hiredis takes as a read error and disconnects; the transport
 * then reconnects as after any lost connection.  So is an array of more
 * than NGX_HTTP_CAST_HIREDIS_ELEMENTS: hiredis allocates its slots as
 * it reads the header and walks them all to free it, and "*2000000000"
 * (13 bytes) took 16 GB of the worker's address space.  No reply CAST
 * asks for comes near it: a vote batch's has one element a vote (some
 * 10,000 at most in a batch), a leaderboard's two a name (2,000).
 *
 * It calls only nginx and hiredis.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_HIREDIS_ELEMENTS  (1024 * 1024)


static void ngx_http_cast_hiredis_read(ngx_event_t *ev);
static void ngx_http_cast_hiredis_write(ngx_event_t *ev);
static void ngx_http_cast_hiredis_add_read(void *data);
static void ngx_http_cast_hiredis_del_read(void *data);
static void ngx_http_cast_hiredis_add_write(void *data);
static void ngx_http_cast_hiredis_post_write(void *data);
static void ngx_http_cast_hiredis_del_write(void *data);
static void ngx_http_cast_hiredis_cleanup(void *data);
static ngx_uint_t ngx_http_cast_hiredis_asked(const redisReadTask *task);
static void *ngx_http_cast_hiredis_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_cast_hiredis_array(const redisReadTask *task,
    int elements);
static void *ngx_http_cast_hiredis_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_cast_hiredis_nil(const redisReadTask *task);


/* the connection whose write handler is running, if any */
static ngx_connection_t  *ngx_http_cast_hiredis_writing;

/* hiredis's own reply functions, and ours that check each reply first */
static redisReplyObjectFunctions  *ngx_http_cast_hiredis_reply;
static redisReplyObjectFunctions   ngx_http_cast_hiredis_checked;


/*
 * Gives ac an nginx connection and hooks its events: NGX_OK, or NGX_ERROR
 * when no connection is free (the caller still owns ac then).  The
 * caller sets its connect and disconnect callbacks.
 */

ngx_int_t
ngx_http_cast_hiredis_attach(redisAsyncContext *ac, ngx_log_t *log,
    ngx_uint_t post)
{
    ngx_connection_t           *c;
    redisReplyObjectFunctions  *fn;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_cast_hiredis_read;
    c->write->handler = ngx_http_cast_hiredis_write;
    c->read->log = log;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_cast_hiredis_add_read;
    ac->ev.delRead = ngx_http_cast_hiredis_del_read;
    ac->ev.addWrite = post ? ngx_http_cast_hiredis_post_write
                           : ngx_http_cast_hiredis_add_write;
    ac->ev.delWrite = ngx_http_cast_hiredis_del_write;
    ac->ev.cleanup = ngx_http_cast_hiredis_cleanup;

    fn = &ngx_http_cast_hiredis_checked;

    if (ngx_http_cast_hiredis_reply == NULL) {
        ngx_http_cast_hiredis_reply = ac->c.reader->fn;

        *fn = *ac->c.reader->fn;
        fn->createString = ngx_http_cast_hiredis_string;
        fn->createArray = ngx_http_cast_hiredis_array;
        fn->createInteger = ngx_http_cast_hiredis_integer;
        fn->createNil = ngx_http_cast_hiredis_nil;
    }

    ac->c.reader->fn = fn;
    ac->c.reader->privdata = ac;

    return NGX_OK;
}


/*
 * Whether a reply hiredis starts to read has a command waiting for it: a
 * reply starts (its task has no parent) while the callbacks of the
 * replies before it are already taken, so the head of the queue is its
 * own.  A reply without one is refused: NULL makes a read error.
 */

static ngx_uint_t
ngx_http_cast_hiredis_asked(const redisReadTask *task)
{
    redisAsyncContext  *ac = task->privdata;

    if (task->parent != NULL || ac->replies.head != NULL) {
        return 1;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cast: redis sent a reply no command asked for, "
                  "disconnecting");

    return 0;
}


static void *
ngx_http_cast_hiredis_string(const redisReadTask *task, char *str,
    size_t len)
{
    if (!ngx_http_cast_hiredis_asked(task)) {
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createString(task, str, len);
}


static void *
ngx_http_cast_hiredis_array(const redisReadTask *task, int elements)
{
    if (!ngx_http_cast_hiredis_asked(task)) {
        return NULL;
    }

    if (elements > NGX_HTTP_CAST_HIREDIS_ELEMENTS) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cast: redis sent an array of %d elements, more "
                      "than a reply has, disconnecting", elements);
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createArray(task, elements);
}


static void *
ngx_http_cast_hiredis_integer(const redisReadTask *task, long long value)
{
    if (!ngx_http_cast_hiredis_asked(task)) {
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createInteger(task, value);
}


static void *
ngx_http_cast_hiredis_nil(const redisReadTask *task)
{
    if (!ngx_http_cast_hiredis_asked(task)) {
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createNil(task);
}


/* nginx events <-> hiredis hooks */

static void
ngx_http_cast_hiredis_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    /* may free the context and the connection: touch neither after */
    redisAsyncHandleRead(c->data);
}


static void
ngx_http_cast_hiredis_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;
    ngx_connection_t  *writing;

    writing = ngx_http_cast_hiredis_writing;

    ngx_http_cast_hiredis_writing = c;
    redisAsyncHandleWrite(c->data);
    ngx_http_cast_hiredis_writing = writing;
}


static void
ngx_http_cast_hiredis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_cast_hiredis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_cast_hiredis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


/*
 * The write is posted, once the worker's round of events is over.  Only
 * what the socket did not take (a write from within the write handler),
 * or a connect in progress, waits for the socket's event.
 */

static void
ngx_http_cast_hiredis_post_write(void *data)
{
    ngx_connection_t   *c = data;
    redisAsyncContext  *ac = c->data;

    if (c->write->active || c->write->posted) {
        return;
    }

    if (ngx_http_cast_hiredis_writing == c
        || !(ac->c.flags & REDIS_CONNECTED))
    {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
        return;
    }

    ngx_post_event(c->write, &ngx_posted_events);
}


static void
ngx_http_cast_hiredis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
}


/* hiredis closes the fd after this: give the connection back, keep the fd */

static void
ngx_http_cast_hiredis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}
