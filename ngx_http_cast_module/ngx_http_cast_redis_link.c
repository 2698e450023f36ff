
/*
 * Copyright (C) CAST developers
 *
 * One Redis connection of the transport's: its hiredis context put on
 * nginx's events, its set-up queued first (ngx_http_cast_redis_setup.c),
 * and its life: left (no command goes to it any more, those in flight
 * get their replies), dropped (freed at once, those in flight answer
 * with no reply), lost, and made again after a backoff that doubles up
 * to NGX_HTTP_CAST_BACKOFF_MAX.  The backoff is reset only by the
 * set-up's verdict NGX_OK: a Redis that refuses the set-up, or that ROLE
 * finds in the wrong role, is not retried in a loop.
 *
 * It calls only nginx, hiredis, the set-up, the adapter and the metrics;
 * it is called by the transport (ngx_http_cast_redis.c), which hears back
 * through the link's connect handler when it is time to connect again.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_BACKOFF_MIN    50
#define NGX_HTTP_CAST_BACKOFF_MAX    500


static void ngx_http_cast_redis_link_done(ngx_http_cast_redis_link_t *link,
    ngx_int_t rc, const char *why);
static void ngx_http_cast_redis_link_free_old(
    ngx_http_cast_redis_link_t *link);
static void ngx_http_cast_redis_link_retry(ngx_event_t *ev);
static void ngx_http_cast_redis_link_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_cast_redis_link_on_disconnect(
    const redisAsyncContext *ac, int status);


void
ngx_http_cast_redis_link_init(ngx_http_cast_redis_link_t *link,
    ngx_http_cast_main_conf_t *cmcf, ngx_log_t *log,
    ngx_http_cast_redis_connect_pt connect)
{
    link->cmcf = cmcf;
    link->log = log;
    link->connect = connect;
    link->done = ngx_http_cast_redis_link_done;
    link->backoff = NGX_HTTP_CAST_BACKOFF_MIN;
    link->address.data = link->addr;

    ngx_queue_init(&link->inflight);
    ngx_queue_init(&link->old_inflight);

    link->retry.handler = ngx_http_cast_redis_link_retry;
    link->retry.log = log;
    link->retry.data = link;
    link->retry.cancelable = 1;
}


/*
 * A context just made for link->address (NULL when out of memory): put on
 * nginx's events, its set-up queued ahead of every other command
 */

void
ngx_http_cast_redis_link_open(ngx_http_cast_redis_link_t *link,
    redisAsyncContext *ac)
{
    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, link->log, 0, "cast: redis connect to "
                      "\"%V\" failed: %s", &link->address,
                      ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }
        ngx_http_cast_redis_link_schedule(link);
        return;
    }

    /* the round's commands are written at its end, as a posted event */
    if (ngx_http_cast_hiredis_attach(ac, link->log, 1, "redis",
                                     NGX_HTTP_CAST_REDIS_REPLY_BASE)
        != NGX_OK)
    {
        redisAsyncFree(ac);
        ngx_http_cast_redis_link_schedule(link);
        return;
    }

    ac->data = link;

    redisAsyncSetConnectCallback(ac, ngx_http_cast_redis_link_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                                    ngx_http_cast_redis_link_on_disconnect);

    link->ac = ac;
    link->ready = 0;
    link->checking = 0;

    /* queued ahead of every request's command: hiredis keeps the order */
    ngx_http_cast_redis_setup(link, link->cmcf);
}


/* the worker exits: no reconnect, the context freed */

void
ngx_http_cast_redis_link_close(ngx_http_cast_redis_link_t *link)
{
    redisAsyncContext  *ac;

    link->closed = 1;

    if (link->retry.timer_set) {
        ngx_del_timer(&link->retry);
    }

    /* a call the freed context's replies start finds no connection */
    ac = link->ac;
    link->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_http_cast_redis_link_free_old(link);
}


/* the set-up's verdict (ngx_http_cast_redis_setup.c) */

static void
ngx_http_cast_redis_link_done(ngx_http_cast_redis_link_t *link, ngx_int_t rc,
    const char *why)
{
    switch (rc) {

    case NGX_OK:
        link->backoff = NGX_HTTP_CAST_BACKOFF_MIN;
        link->ready = link->replica;
        return;

    case NGX_DECLINED:
        ngx_http_cast_redis_link_leave(link, why);
        return;

    default:
        ngx_http_cast_redis_link_drop(link);
    }
}


/*
 * The connection is to a Redis that is not what it must be (no longer the
 * primary, no longer a linked replica): no command goes to it any more,
 * and those in flight get their replies (a demoted primary refuses
 * writes) or none; then it closes and is made again.
 */

void
ngx_http_cast_redis_link_leave(ngx_http_cast_redis_link_t *link,
    const char *why)
{
    link->ready = 0;

    if (link->ac == NULL || (link->ac->c.flags & REDIS_DISCONNECTING)) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, link->log, 0,
                  "cast: leaving redis %V: %s", &link->address, why);

    redisAsyncDisconnect(link->ac);
}


/*
 * Freed at once: the commands in flight answer with no reply.  A link
 * with no context (lost, being made again, already dropped from within
 * one of those replies) is left as it is.
 */

void
ngx_http_cast_redis_link_drop(ngx_http_cast_redis_link_t *link)
{
    redisAsyncContext  *ac;

    if (link->ac == NULL) {
        return;
    }

    /* a context still connecting gets no disconnect callback: forget it */
    ac = link->ac;
    link->ac = NULL;
    link->ready = 0;

    redisAsyncFree(ac);
    ngx_http_cast_metrics_reconnect();
    ngx_http_cast_redis_link_schedule(link);
}


/*
 * The Sentinels name another primary: the connection is left as above,
 * its commands in flight get their replies, and the link is free at once
 * for a connection to the new one, so the calls made meanwhile wait for
 * that instead of failing.  One left before that is still closing is
 * freed: its commands answer with no reply.
 */

void
ngx_http_cast_redis_link_move(ngx_http_cast_redis_link_t *link,
    const char *why)
{
    redisAsyncContext  *ac;

    ac = link->ac;

    if (ac == NULL) {
        return;
    }

    ngx_http_cast_redis_link_free_old(link);

    ngx_log_error(NGX_LOG_WARN, link->log, 0,
                  "cast: leaving redis %V: %s", &link->address, why);

    link->ac = NULL;
    link->ready = 0;

    /*
     * one still connecting has written nothing, and gets no disconnect
     * callback: freed at once, its commands answer with no reply (none
     * goes to a Redis no longer the primary when it connects)
     */
    if (!(ac->c.flags & REDIS_CONNECTED)) {
        redisAsyncFree(ac);
        return;
    }

    /* apart first: a context with no reply due is freed at once */
    link->old = ac;
    link->old_since = ngx_current_msec;

    ngx_queue_add(&link->old_inflight, &link->inflight);
    ngx_queue_init(&link->inflight);

    if (!(ac->c.flags & REDIS_DISCONNECTING)) {
        redisAsyncDisconnect(ac);
    }
}


static void
ngx_http_cast_redis_link_free_old(ngx_http_cast_redis_link_t *link)
{
    redisAsyncContext  *old;

    old = link->old;
    link->old = NULL;

    if (old) {
        redisAsyncFree(old);
    }
}


/* whether Redis has kept a command longer than the timeout on the link */

ngx_uint_t
ngx_http_cast_redis_link_stuck(ngx_http_cast_redis_link_t *link)
{
    ngx_http_cast_redis_cmd_t  *cmd;

    if (link->ac == NULL || ngx_queue_empty(&link->inflight)) {
        return 0;
    }

    cmd = ngx_queue_data(ngx_queue_head(&link->inflight),
                         ngx_http_cast_redis_cmd_t, queue);

    return ngx_current_msec - cmd->sent >= link->cmcf->redis_timeout;
}


/*
 * A moved primary's closing connection that hangs is freed, not kept:
 * every command on it, its set-up's too, was sent before it was left,
 * so one still there a timeout later has kept a command that long.
 */

void
ngx_http_cast_redis_link_expire(ngx_http_cast_redis_link_t *link)
{
    if (link->old
        && ngx_current_msec - link->old_since >= link->cmcf->redis_timeout)
    {
        ngx_log_error(NGX_LOG_ERR, link->log, 0, "cast: the redis primary "
                      "that moved did not answer within %M ms, closed",
                      link->cmcf->redis_timeout);
        ngx_http_cast_redis_link_free_old(link);
    }
}


void
ngx_http_cast_redis_link_schedule(ngx_http_cast_redis_link_t *link)
{
    if (link->closed || link->retry.timer_set) {
        return;
    }

    ngx_add_timer(&link->retry, link->backoff);

    link->backoff = ngx_min(link->backoff * 2, NGX_HTTP_CAST_BACKOFF_MAX);
}


static void
ngx_http_cast_redis_link_retry(ngx_event_t *ev)
{
    ngx_http_cast_redis_link_t  *link = ev->data;

    if (link->ac == NULL && !link->closed) {
        link->connect(link);
    }
}


static void
ngx_http_cast_redis_link_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_redis_link_t  *link = ac->data;

    if (status == REDIS_OK) {
        ngx_log_error(NGX_LOG_INFO, link->log, 0, "cast: redis connected");
        return;
    }

    /* hiredis frees the context right after this callback */

    ngx_log_error(NGX_LOG_ERR, link->log, 0,
                  "cast: redis connect failed: %s", ac->errstr);

    /*
     * one freed meanwhile (a move frees a context still connecting: only
     * a connected one is set apart): the link's own is another
     */
    if (link->ac != ac) {
        return;
    }

    link->ac = NULL;
    link->ready = 0;
    ngx_http_cast_redis_link_schedule(link);
}


static void
ngx_http_cast_redis_link_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_cast_redis_link_t  *link = ac->data;

    if (link->old == ac) {
        link->old = NULL;
        return;
    }

    if (link->closed || link->ac != ac) {
        return;
    }

    link->ac = NULL;
    link->ready = 0;

    ngx_log_error(NGX_LOG_ERR, link->log, 0,
                  "cast: redis connection lost: %s",
                  status == REDIS_OK ? "closed" : ac->errstr);

    ngx_http_cast_metrics_reconnect();
    ngx_http_cast_redis_link_schedule(link);
}
