
/*
 * Copyright (C) CAST developers
 *
 * hiredis on nginx's event loop: pipelined connections to Redis, one per
 * worker for every command, and with cast_redis_min_replicas
 * NGX_HTTP_CAST_REDIS_VOTE_LINKS more for the vote batches alone.  A vote
 * batch's WAIT blocks its connection until the replicas acknowledge:
 * on connections of their own, the reads never wait behind it, and a vote
 * batch runs on the primary while another waits for the replicas.
 *
 * Each context is put on nginx's events by the adapter
 * (ngx_http_cast_hiredis.c): its read event is level-triggered, so a reply
 * hiredis only partly consumed is never stranded.  Commands are written
 * from a posted event at the end of the worker's round; only what the
 * socket did not take waits for a level-triggered write event.
 *
 * With cast_redis_sentinel, the address comes from the Sentinels
 * (ngx_http_cast_sentinel.c) before each connect, one ask for every
 * connection waiting for it, and is checked with ROLE right after it: a
 * Redis that is not a primary is left at once.  While connected, the
 * Sentinels are asked again every second: a connection to another Redis
 * than the one they name is dropped; and a READONLY error means the
 * primary is no longer one: every connection is dropped.  Commands in
 * flight on a dropped connection answer with no reply, and it is made
 * again to the primary the Sentinels name.
 *
 * Each new connection is set up first (ngx_http_cast_redis_setup.c:
 * ROLE, cast_redis_primary_fsync's checks, the function library), and
 * the backoff is reset once the setup is answered without an error on a
 * connection that stays: a Redis that refuses it, or that ROLE finds a
 * replica, is not retried in a loop.
 *
 * The transport knows formatted commands, each with a reply handler and
 * its data, and nothing of what they carry: the handler is called once
 * with the reply, or with NULL when the connection is lost or freed.  It
 * calls only nginx, hiredis, the set-up, the Sentinels, the adapter and
 * the metrics; it is called by the batch layer (ngx_http_cast_batch.c),
 * the request's timeout (the stuck connection check) and the module's
 * init and exit.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_BACKOFF_MIN    50
#define NGX_HTTP_CAST_BACKOFF_MAX    500
#define NGX_HTTP_CAST_WATCH          1000


typedef struct {
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_log_t                  *log;
    ngx_http_cast_redis_link_t  links[NGX_HTTP_CAST_REDIS_LINKS];
    ngx_uint_t                  nlinks;
    ngx_event_t                 watch;        /* re-ask the Sentinels */
    ngx_str_t                   address;      /* the primary written to */
    u_char                      addr[NGX_HTTP_CAST_REDIS_ADDR_LEN];
    ngx_uint_t                  asking;       /* a Sentinel ask going on */
    unsigned                    exiting:1;
} ngx_http_cast_redis_t;


static void ngx_http_cast_redis_connect(ngx_http_cast_redis_link_t *link);
static void ngx_http_cast_redis_ask(void);
static void ngx_http_cast_redis_attach(ngx_http_cast_redis_link_t *link,
    redisAsyncContext *ac);
static void ngx_http_cast_redis_connect_to(ngx_http_cast_redis_link_t *link,
    const char *ip, int port);
static void ngx_http_cast_redis_found(void *data, const char *ip, int port);
static void ngx_http_cast_redis_primary(u_char *addr, size_t len);
static void ngx_http_cast_redis_watch(ngx_event_t *ev);
static void ngx_http_cast_redis_leave(ngx_http_cast_redis_link_t *link,
    const char *why);
static void ngx_http_cast_redis_retry(ngx_event_t *ev);
static void ngx_http_cast_redis_schedule(ngx_http_cast_redis_link_t *link);
static void ngx_http_cast_redis_drop(ngx_http_cast_redis_link_t *link);
static void ngx_http_cast_redis_setup_done(ngx_http_cast_redis_link_t *link,
    ngx_int_t rc, const char *why);
static void ngx_http_cast_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_cast_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_cast_redis_reply(redisAsyncContext *ac, void *r,
    void *data);


static ngx_http_cast_redis_t  ngx_http_cast_redis;


ngx_int_t
ngx_http_cast_redis_init(ngx_cycle_t *cycle, ngx_http_cast_main_conf_t *cmcf)
{
    ngx_uint_t                   i;
    ngx_http_cast_redis_link_t  *link;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    rd->cmcf = cmcf;
    rd->log = cycle->log;
    rd->nlinks = cmcf->min_replicas ? NGX_HTTP_CAST_REDIS_LINKS : 1;

    rd->watch.handler = ngx_http_cast_redis_watch;
    rd->watch.log = cycle->log;
    rd->watch.data = rd;
    rd->watch.cancelable = 1;

    rd->address.data = rd->addr;

    for (i = 0; i < rd->nlinks; i++) {
        link = &rd->links[i];

        link->backoff = NGX_HTTP_CAST_BACKOFF_MIN;
        link->address.data = link->addr;
        link->log = cycle->log;
        link->done = ngx_http_cast_redis_setup_done;

        ngx_queue_init(&link->inflight);

        link->retry.handler = ngx_http_cast_redis_retry;
        link->retry.log = cycle->log;
        link->retry.data = link;
        link->retry.cancelable = 1;
    }

    for (i = 0; i < rd->nlinks; i++) {
        ngx_http_cast_redis_connect(&rd->links[i]);
    }

    return NGX_OK;
}


void
ngx_http_cast_redis_exit(void)
{
    ngx_uint_t                   i;
    redisAsyncContext           *ac;
    ngx_http_cast_redis_link_t  *link;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    if (rd->cmcf == NULL) {
        return;
    }

    rd->exiting = 1;

    if (rd->watch.timer_set) {
        ngx_del_timer(&rd->watch);
    }

    for (i = 0; i < rd->nlinks; i++) {
        link = &rd->links[i];

        if (link->retry.timer_set) {
            ngx_del_timer(&link->retry);
        }

        /* a call the freed context's replies start finds no connection */
        ac = link->ac;
        link->ac = NULL;

        if (ac) {
            redisAsyncFree(ac);
        }
    }
}


static void
ngx_http_cast_redis_connect(ngx_http_cast_redis_link_t *link)
{
    u_char                  ip[NGX_SOCKADDR_STRLEN];
    size_t                  len;
    ngx_url_t              *u;
    redisAsyncContext      *ac;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->cmcf->sentinels) {
        link->waiting = 1;
        ngx_http_cast_redis_ask();
        return;
    }

    u = &rd->cmcf->redis;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u->family == AF_UNIX) {
        ac = redisAsyncConnectUnix(
                   ((struct sockaddr_un *) u->addrs[0].sockaddr)->sun_path);
        rd->address = u->url;
        link->address = u->url;

        if (ac == NULL || ac->err) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connect to "
                          "\"%V\" failed: %s", &u->url,
                          ac ? ac->errstr : "out of memory");
            if (ac) {
                redisAsyncFree(ac);
            }
            ngx_http_cast_redis_schedule(link);
            return;
        }

        ngx_http_cast_redis_attach(link, ac);
        return;
    }
#endif

    len = ngx_sock_ntop(u->addrs[0].sockaddr, u->addrs[0].socklen,
                        ip, sizeof(ip) - 1, 0);
    ip[len] = '\0';

    ngx_http_cast_redis_connect_to(link, (char *) ip,
                                   ngx_inet_get_port(u->addrs[0].sockaddr));
}


/* the Sentinels asked, unless they are being asked already */

static void
ngx_http_cast_redis_ask(void)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (!rd->asking
        && ngx_http_cast_sentinel_ask(rd->cmcf, rd->log,
                                      ngx_http_cast_redis_found, rd)
           == NGX_OK)
    {
        rd->asking = 1;
    }
}


/*
 * The Sentinels' answer, the primary's address or NULL: the connections
 * waiting for it connect (or try again later), those to another Redis
 * leave.
 */

static void
ngx_http_cast_redis_found(void *data, const char *ip, int port)
{
    u_char                       addr[NGX_HTTP_CAST_REDIS_ADDR_LEN];
    size_t                       len;
    ngx_uint_t                   i;
    ngx_http_cast_redis_link_t  *link;
    ngx_http_cast_redis_t       *rd = data;

    rd->asking = 0;

    if (rd->exiting) {
        return;
    }

    len = 0;

    if (ip) {
        len = ngx_snprintf(addr, sizeof(addr), "%s:%d", ip, port) - addr;
        ngx_http_cast_redis_primary(addr, len);
    }

    for (i = 0; i < rd->nlinks; i++) {
        link = &rd->links[i];

        if (link->ac) {
            if (ip && (len != link->address.len
                       || ngx_memcmp(addr, link->address.data, len) != 0))
            {
                ngx_http_cast_redis_leave(link, "the sentinels name "
                                          "another primary");
            }

            continue;
        }

        if (!link->waiting) {
            continue;
        }

        link->waiting = 0;

        if (ip == NULL) {
            ngx_http_cast_redis_schedule(link);
            continue;
        }

        ngx_http_cast_redis_connect_to(link, ip, port);
    }
}


/* the primary this worker writes to; a move is a failover, counted once */

static void
ngx_http_cast_redis_primary(u_char *addr, size_t len)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (len == rd->address.len
        && ngx_memcmp(rd->address.data, addr, len) == 0)
    {
        return;
    }

    if (rd->address.len) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0, "cast: redis primary moved "
                      "from %V to %*s", &rd->address, len, addr);
        ngx_http_cast_metrics_failover();
    }

    rd->address.data = rd->addr;
    rd->address.len = len;
    ngx_memcpy(rd->addr, addr, len);
}


static void
ngx_http_cast_redis_connect_to(ngx_http_cast_redis_link_t *link,
    const char *ip, int port)
{
    redisAsyncContext      *ac;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    link->address.data = link->addr;
    link->address.len = ngx_snprintf(link->addr, sizeof(link->addr), "%s:%d",
                                     ip, port)
                        - link->addr;

    if (rd->cmcf->sentinels == NULL) {
        ngx_http_cast_redis_primary(link->addr, link->address.len);
    }

    ac = redisAsyncConnect(ip, port);

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connect to "
                      "\"%V\" failed: %s", &link->address,
                      ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }
        ngx_http_cast_redis_schedule(link);
        return;
    }

    ngx_http_cast_redis_attach(link, ac);
}


static void
ngx_http_cast_redis_attach(ngx_http_cast_redis_link_t *link,
    redisAsyncContext *ac)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    /* the round's commands are written at its end, as a posted event */
    if (ngx_http_cast_hiredis_attach(ac, rd->log, 1) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_cast_redis_schedule(link);
        return;
    }

    ac->data = link;

    redisAsyncSetConnectCallback(ac, ngx_http_cast_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_cast_redis_on_disconnect);

    link->ac = ac;

    /* queued ahead of every request's command: hiredis keeps the order */
    ngx_http_cast_redis_setup(link, rd->cmcf);

    if (rd->cmcf->sentinels && !rd->watch.timer_set) {
        ngx_add_timer(&rd->watch, NGX_HTTP_CAST_WATCH);
    }
}


/*
 * The set-up's verdict (ngx_http_cast_redis_setup.c): the backoff is
 * reset only on a connection that answered it all and stays, so a Redis
 * that refuses it, or that ROLE finds a replica, is not retried in a loop.
 */

static void
ngx_http_cast_redis_setup_done(ngx_http_cast_redis_link_t *link,
    ngx_int_t rc, const char *why)
{
    switch (rc) {

    case NGX_OK:
        link->backoff = NGX_HTTP_CAST_BACKOFF_MIN;
        return;

    case NGX_DECLINED:
        ngx_http_cast_redis_leave(link, why);
        return;

    default:
        ngx_http_cast_redis_drop(link);
    }
}


/*
 * The connection is to a Redis that is no longer the primary: no command
 * goes to it any more, and those in flight get their replies (a demoted
 * primary refuses writes) or none; then it closes and the Sentinels are
 * asked again.
 */

static void
ngx_http_cast_redis_leave(ngx_http_cast_redis_link_t *link, const char *why)
{
    if (link->ac == NULL || (link->ac->c.flags & REDIS_DISCONNECTING)) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_http_cast_redis.log, 0,
                  "cast: leaving redis %V: %s", &link->address, why);

    redisAsyncDisconnect(link->ac);
}


/* once a second while connected: the primary may have moved */

static void
ngx_http_cast_redis_watch(ngx_event_t *ev)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->exiting) {
        return;
    }

    ngx_add_timer(&rd->watch, NGX_HTTP_CAST_WATCH);

    ngx_http_cast_redis_ask();
}


static void
ngx_http_cast_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_redis_link_t  *link = ac->data;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    if (status == REDIS_OK) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0, "cast: redis connected");
        return;
    }

    /* hiredis frees the context right after this callback */

    ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connect failed: %s",
                  ac->errstr);

    link->ac = NULL;
    ngx_http_cast_redis_schedule(link);
}


static void
ngx_http_cast_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_redis_link_t  *link = ac->data;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    if (rd->exiting || link->ac != ac) {
        return;
    }

    link->ac = NULL;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connection lost: %s",
                  status == REDIS_OK ? "closed" : ac->errstr);

    ngx_http_cast_metrics_reconnect();
    ngx_http_cast_redis_schedule(link);
}


static void
ngx_http_cast_redis_schedule(ngx_http_cast_redis_link_t *link)
{
    if (ngx_http_cast_redis.exiting || link->retry.timer_set) {
        return;
    }

    ngx_add_timer(&link->retry, link->backoff);

    link->backoff = ngx_min(link->backoff * 2, NGX_HTTP_CAST_BACKOFF_MAX);
}


static void
ngx_http_cast_redis_retry(ngx_event_t *ev)
{
    ngx_http_cast_redis_link_t  *link = ev->data;

    if (link->ac == NULL && !ngx_http_cast_redis.exiting) {
        ngx_http_cast_redis_connect(link);
    }
}


/* the Redis this worker writes to, "ip:port" (empty before the first) */

ngx_str_t *
ngx_http_cast_redis_address(void)
{
    return &ngx_http_cast_redis.address;
}


/*
 * How many connections the worker has: 1, or 1 +
 * NGX_HTTP_CAST_REDIS_VOTE_LINKS with cast_redis_min_replicas (the vote
 * batches' own, numbered from 1).
 */

ngx_uint_t
ngx_http_cast_redis_links(void)
{
    return ngx_http_cast_redis.nlinks;
}


/* whether a command may be sent on link n: it is there or on its way */

ngx_uint_t
ngx_http_cast_redis_connected(ngx_uint_t n)
{
    return n < ngx_http_cast_redis.nlinks
           && ngx_http_cast_redis.links[n].ac != NULL;
}


/*
 * Sends a formatted command on link n: NGX_OK, and cmd->handler is called
 * once its reply is in, or with NULL if it never will be; the caller
 * keeps cmd until then.  Otherwise NGX_ERROR, and the handler is never
 * called.
 */

ngx_int_t
ngx_http_cast_redis_send(ngx_uint_t n, ngx_http_cast_redis_cmd_t *cmd,
    const char *buf, size_t len)
{
    ngx_http_cast_redis_link_t  *link;

    if (!ngx_http_cast_redis_connected(n)) {
        return NGX_ERROR;
    }

    link = &ngx_http_cast_redis.links[n];

    if (redisAsyncFormattedCommand(link->ac, ngx_http_cast_redis_reply, cmd,
                                   buf, len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    cmd->sent = ngx_current_msec;

    ngx_queue_insert_tail(&link->inflight, &cmd->queue);

    return NGX_OK;
}


/*
 * A request timed out.  If Redis has kept a command longer than the
 * timeout, the connection is stuck: drop it, which answers every waiting
 * command with no reply, and connect again.
 */

void
ngx_http_cast_redis_check_stuck(void)
{
    ngx_uint_t                   i;
    ngx_http_cast_redis_cmd_t   *cmd;
    ngx_http_cast_redis_link_t  *link;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    for (i = 0; i < rd->nlinks; i++) {
        link = &rd->links[i];

        if (link->ac == NULL || ngx_queue_empty(&link->inflight)) {
            continue;
        }

        cmd = ngx_queue_data(ngx_queue_head(&link->inflight),
                             ngx_http_cast_redis_cmd_t, queue);

        if (ngx_current_msec - cmd->sent >= rd->cmcf->redis_timeout) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis did not "
                          "answer within %M ms, reconnecting",
                          rd->cmcf->redis_timeout);
            ngx_http_cast_redis_drop(link);
        }
    }
}


static void
ngx_http_cast_redis_drop(ngx_http_cast_redis_link_t *link)
{
    redisAsyncContext  *ac;

    /* a context still connecting gets no disconnect callback: forget it */
    ac = link->ac;
    link->ac = NULL;

    redisAsyncFree(ac);
    ngx_http_cast_metrics_reconnect();
    ngx_http_cast_redis_schedule(link);
}


static void
ngx_http_cast_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    ngx_uint_t                   i;
    redisReply                  *reply = r;
    ngx_http_cast_redis_cmd_t   *cmd = data;
    ngx_http_cast_redis_link_t  *link = ac->data;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    ngx_queue_remove(&cmd->queue);

    if (reply && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "READONLY ", 9) == 0
        && rd->cmcf->sentinels && ac == link->ac)
    {
        /* every connection to that Redis leaves it */
        for (i = 0; i < rd->nlinks; i++) {
            if (rd->links[i].address.len == link->address.len
                && ngx_memcmp(rd->links[i].address.data, link->address.data,
                              link->address.len)
                   == 0)
            {
                ngx_http_cast_redis_leave(&rd->links[i],
                                          "it is a replica now");
            }
        }
    }

    if (reply && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "ERR Function not found", 22) == 0
        && ac == link->ac && !link->loading)
    {
        /* Redis lost its functions (restart without data): load again */
        ngx_http_cast_redis_setup(link, rd->cmcf);
    }

    cmd->handler(cmd->data, reply);
}
