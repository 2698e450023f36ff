
/*
 * Copyright (C) CAST developers
 *
 * hiredis on nginx's event loop: one pipelined connection per worker.
 *
 * The hiredis context is put on nginx's events by the adapter
 * (ngx_http_cast_hiredis.c): its read event is level-triggered, so a reply
 * hiredis only partly consumed is never stranded.  Commands are written
 * from a posted event at the end of the worker's round; only what the
 * socket did not take waits for a level-triggered write event.
 *
 * With cast_redis_sentinel, the address comes from the Sentinels
 * (ngx_http_cast_sentinel.c) before each connect, and is checked with
 * ROLE right after it: a Redis that is not a primary is left at once.
 * While connected, the Sentinels are asked again every second, and a
 * READONLY error also means the primary is no longer one: either way the
 * connection is dropped (its commands in flight answer with no reply) and
 * made again to the primary the Sentinels name.
 *
 * The transport knows formatted commands, each with a reply handler and
 * its data, and nothing of what they carry: the handler is called once
 * with the reply, or with NULL when the connection is lost or freed.  It
 * calls only nginx, hiredis, the adapter and the metrics; it is called by
 * the batch layer (ngx_http_cast_batch.c), the request's timeout (the
 * stuck connection check) and the module's init and exit.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_BACKOFF_MIN    50
#define NGX_HTTP_CAST_BACKOFF_MAX    500
#define NGX_HTTP_CAST_WATCH          1000


typedef struct {
    redisAsyncContext          *ac;
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_log_t                  *log;
    ngx_event_t                 retry;
    ngx_msec_t                  backoff;
    ngx_queue_t                 inflight;     /* oldest first */
    ngx_event_t                 watch;        /* re-ask the Sentinels */
    ngx_str_t                   address;      /* "ip:port" written to */
    u_char                      addr[NGX_SOCKADDR_STRLEN + 8];
    ngx_uint_t                  asking;       /* a Sentinel ask going on */
    unsigned                    loading:1;    /* FUNCTION LOAD in flight */
    unsigned                    exiting:1;
} ngx_http_cast_redis_t;


static void ngx_http_cast_redis_connect(void);
static void ngx_http_cast_redis_attach(redisAsyncContext *ac);
static void ngx_http_cast_redis_connect_to(const char *ip, int port);
static void ngx_http_cast_redis_found(void *data, const char *ip, int port);
static void ngx_http_cast_redis_watch(ngx_event_t *ev);
static void ngx_http_cast_redis_watched(void *data, const char *ip,
    int port);
static void ngx_http_cast_redis_leave(const char *why);
static void ngx_http_cast_redis_role_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_cast_redis_retry(ngx_event_t *ev);
static void ngx_http_cast_redis_schedule(void);
static void ngx_http_cast_redis_setup(redisAsyncContext *ac);
static void ngx_http_cast_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *data);
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
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    rd->cmcf = cmcf;
    rd->log = cycle->log;
    rd->backoff = NGX_HTTP_CAST_BACKOFF_MIN;

    ngx_queue_init(&rd->inflight);

    rd->retry.handler = ngx_http_cast_redis_retry;
    rd->retry.log = cycle->log;
    rd->retry.data = rd;
    rd->retry.cancelable = 1;

    rd->watch.handler = ngx_http_cast_redis_watch;
    rd->watch.log = cycle->log;
    rd->watch.data = rd;
    rd->watch.cancelable = 1;

    rd->address.data = rd->addr;

    ngx_http_cast_redis_connect();

    return NGX_OK;
}


void
ngx_http_cast_redis_exit(void)
{
    redisAsyncContext      *ac;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->cmcf == NULL) {
        return;
    }

    rd->exiting = 1;

    if (rd->retry.timer_set) {
        ngx_del_timer(&rd->retry);
    }

    if (rd->watch.timer_set) {
        ngx_del_timer(&rd->watch);
    }

    /* a call the freed context's replies would start finds no connection */
    ac = rd->ac;
    rd->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }
}


static void
ngx_http_cast_redis_connect(void)
{
    u_char                  ip[NGX_SOCKADDR_STRLEN];
    size_t                  len;
    ngx_url_t              *u;
    redisAsyncContext      *ac;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->cmcf->sentinels) {
        if (!rd->asking
            && ngx_http_cast_sentinel_ask(rd->cmcf, rd->log,
                                          ngx_http_cast_redis_found, rd)
               == NGX_OK)
        {
            rd->asking = 1;
        }

        return;
    }

    u = &rd->cmcf->redis;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u->family == AF_UNIX) {
        ac = redisAsyncConnectUnix(
                   ((struct sockaddr_un *) u->addrs[0].sockaddr)->sun_path);
        rd->address = u->url;

        if (ac == NULL || ac->err) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connect to "
                          "\"%V\" failed: %s", &u->url,
                          ac ? ac->errstr : "out of memory");
            if (ac) {
                redisAsyncFree(ac);
            }
            ngx_http_cast_redis_schedule();
            return;
        }

        ngx_http_cast_redis_attach(ac);
        return;
    }
#endif

    len = ngx_sock_ntop(u->addrs[0].sockaddr, u->addrs[0].socklen,
                        ip, sizeof(ip) - 1, 0);
    ip[len] = '\0';

    ngx_http_cast_redis_connect_to((char *) ip,
                                   ngx_inet_get_port(u->addrs[0].sockaddr));
}


/* the Sentinels' answer: the primary's address, or NULL */

static void
ngx_http_cast_redis_found(void *data, const char *ip, int port)
{
    ngx_http_cast_redis_t  *rd = data;

    rd->asking = 0;

    if (rd->exiting || rd->ac) {
        return;
    }

    if (ip == NULL) {
        ngx_http_cast_redis_schedule();
        return;
    }

    ngx_http_cast_redis_connect_to(ip, port);
}


static void
ngx_http_cast_redis_connect_to(const char *ip, int port)
{
    u_char                  addr[NGX_SOCKADDR_STRLEN + 8];
    size_t                  len;
    redisAsyncContext      *ac;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    len = ngx_snprintf(addr, sizeof(addr), "%s:%d", ip, port) - addr;

    if (rd->address.len
        && (rd->address.len != len
            || ngx_memcmp(rd->address.data, addr, len) != 0))
    {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0, "cast: redis primary moved "
                      "from %V to %*s", &rd->address, len, addr);
        ngx_http_cast_metrics_failover();
    }

    rd->address.data = rd->addr;
    rd->address.len = len;
    ngx_memcpy(rd->addr, addr, len);

    ac = redisAsyncConnect(ip, port);

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connect to "
                      "\"%V\" failed: %s", &rd->address,
                      ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }
        ngx_http_cast_redis_schedule();
        return;
    }

    ngx_http_cast_redis_attach(ac);
}


static void
ngx_http_cast_redis_attach(redisAsyncContext *ac)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    /* the round's commands are written at its end, as a posted event */
    if (ngx_http_cast_hiredis_attach(ac, rd->log, 1) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_cast_redis_schedule();
        return;
    }

    redisAsyncSetConnectCallback(ac, ngx_http_cast_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_cast_redis_on_disconnect);

    rd->ac = ac;

    /* queued ahead of every request's command: hiredis keeps the order */
    ngx_http_cast_redis_setup(ac);

    if (rd->cmcf->sentinels && !rd->watch.timer_set) {
        ngx_add_timer(&rd->watch, NGX_HTTP_CAST_WATCH);
    }
}


static void
ngx_http_cast_redis_setup(redisAsyncContext *ac)
{
    u_char                     db[NGX_INT_T_LEN];
    const char                *argv[4];
    size_t                     argvlen[4];
    ngx_http_cast_main_conf_t *cmcf = ngx_http_cast_redis.cmcf;

    if (cmcf->redis_password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) cmcf->redis_password.data;
        argvlen[1] = cmcf->redis_password.len;
        redisAsyncCommandArgv(ac, ngx_http_cast_redis_setup_reply, "AUTH",
                              2, argv, argvlen);
    }

    if (cmcf->redis_db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", cmcf->redis_db) - db;
        redisAsyncCommandArgv(ac, ngx_http_cast_redis_setup_reply, "SELECT",
                              2, argv, argvlen);
    }

    if (cmcf->sentinels) {
        argv[0] = "ROLE";
        argvlen[0] = 4;
        redisAsyncCommandArgv(ac, ngx_http_cast_redis_role_reply, NULL,
                              1, argv, argvlen);
    }

    argv[0] = "FUNCTION";
    argvlen[0] = 8;
    argv[1] = "LOAD";
    argvlen[1] = 4;
    argv[2] = "REPLACE";
    argvlen[2] = 7;
    argv[3] = (const char *) cmcf->functions.data;
    argvlen[3] = cmcf->functions.len;

    ngx_http_cast_redis.loading = 1;

    redisAsyncCommandArgv(ac, ngx_http_cast_redis_setup_reply,
                          "FUNCTION LOAD", 4, argv, argvlen);
}


static void
ngx_http_cast_redis_setup_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply  *reply = r;

    if (ngx_strcmp(data, "FUNCTION LOAD") == 0) {
        ngx_http_cast_redis.loading = 0;
    }

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_cast_redis.log, 0,
                      "cast: redis %s failed: %s", (char *) data, reply->str);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_http_cast_redis.log, 0,
                   "cast: redis %s done", (char *) data);
}


/* what the Sentinels named must be a primary */

static void
ngx_http_cast_redis_role_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply  *reply = r;

    if (reply == NULL || ac != ngx_http_cast_redis.ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
        && reply->element[0]->type == REDIS_REPLY_STRING
        && ngx_strcmp(reply->element[0]->str, "master") == 0)
    {
        ngx_log_error(NGX_LOG_INFO, ngx_http_cast_redis.log, 0,
                      "cast: redis %V is the primary",
                      &ngx_http_cast_redis.address);
        return;
    }

    ngx_http_cast_redis_leave("it is not a primary");
}


/*
 * The connection is to a Redis that is no longer the primary: no command
 * goes to it any more, and those in flight get their replies (a demoted
 * primary refuses writes) or none; then it closes and the Sentinels are
 * asked again.
 */

static void
ngx_http_cast_redis_leave(const char *why)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->ac == NULL || (rd->ac->c.flags & REDIS_DISCONNECTING)) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, rd->log, 0, "cast: leaving redis %V: %s",
                  &rd->address, why);

    redisAsyncDisconnect(rd->ac);
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

    if (rd->ac == NULL || rd->asking) {
        return;
    }

    if (ngx_http_cast_sentinel_ask(rd->cmcf, rd->log,
                                   ngx_http_cast_redis_watched, rd)
        == NGX_OK)
    {
        rd->asking = 1;
    }
}


static void
ngx_http_cast_redis_watched(void *data, const char *ip, int port)
{
    u_char                  addr[NGX_SOCKADDR_STRLEN + 8];
    size_t                  len;
    ngx_http_cast_redis_t  *rd = data;

    rd->asking = 0;

    if (rd->exiting) {
        return;
    }

    if (rd->ac == NULL) {
        /* lost meanwhile: its reconnect may have waited for this ask */
        if (!rd->retry.timer_set) {
            ngx_http_cast_redis_schedule();
        }
        return;
    }

    if (ip == NULL) {
        return;
    }

    len = ngx_snprintf(addr, sizeof(addr), "%s:%d", ip, port) - addr;

    if (len != rd->address.len
        || ngx_memcmp(addr, rd->address.data, len) != 0)
    {
        ngx_http_cast_redis_leave("the sentinels name another primary");
    }
}


static void
ngx_http_cast_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (status == REDIS_OK) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0, "cast: redis connected");
        rd->backoff = NGX_HTTP_CAST_BACKOFF_MIN;
        return;
    }

    /* hiredis frees the context right after this callback */

    ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connect failed: %s",
                  ac->errstr);

    rd->ac = NULL;
    ngx_http_cast_redis_schedule();
}


static void
ngx_http_cast_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->exiting || rd->ac != ac) {
        return;
    }

    rd->ac = NULL;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis connection lost: %s",
                  status == REDIS_OK ? "closed" : ac->errstr);

    ngx_http_cast_metrics_reconnect();
    ngx_http_cast_redis_schedule();
}


static void
ngx_http_cast_redis_schedule(void)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->exiting || rd->retry.timer_set) {
        return;
    }

    ngx_add_timer(&rd->retry, rd->backoff);

    rd->backoff = ngx_min(rd->backoff * 2, NGX_HTTP_CAST_BACKOFF_MAX);
}


static void
ngx_http_cast_redis_retry(ngx_event_t *ev)
{
    if (ngx_http_cast_redis.ac == NULL && !ngx_http_cast_redis.exiting) {
        ngx_http_cast_redis_connect();
    }
}


/* the Redis this worker writes to, "ip:port" (empty before the first) */

ngx_str_t *
ngx_http_cast_redis_address(void)
{
    return &ngx_http_cast_redis.address;
}


/* whether a command may be sent: a connection is there or on its way */

ngx_uint_t
ngx_http_cast_redis_connected(void)
{
    return ngx_http_cast_redis.ac != NULL;
}


/*
 * Sends a formatted command: NGX_OK, and cmd->handler is called once its
 * reply is in, or with NULL if it never will be; the caller keeps cmd
 * until then.  Otherwise NGX_ERROR, and the handler is never called.
 */

ngx_int_t
ngx_http_cast_redis_send(ngx_http_cast_redis_cmd_t *cmd, const char *buf,
    size_t len)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->ac == NULL
        || redisAsyncFormattedCommand(rd->ac, ngx_http_cast_redis_reply,
                                      cmd, buf, len)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    cmd->sent = ngx_current_msec;

    ngx_queue_insert_tail(&rd->inflight, &cmd->queue);

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
    redisAsyncContext          *ac;
    ngx_http_cast_redis_cmd_t  *cmd;
    ngx_http_cast_redis_t      *rd = &ngx_http_cast_redis;

    if (rd->ac == NULL || ngx_queue_empty(&rd->inflight)) {
        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&rd->inflight),
                         ngx_http_cast_redis_cmd_t, queue);

    if (ngx_current_msec - cmd->sent < rd->cmcf->redis_timeout) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "cast: redis did not answer within %M ms, reconnecting",
                  rd->cmcf->redis_timeout);

    /* a context still connecting gets no disconnect callback: forget it */
    ac = rd->ac;
    rd->ac = NULL;

    redisAsyncFree(ac);
    ngx_http_cast_metrics_reconnect();
    ngx_http_cast_redis_schedule();
}


static void
ngx_http_cast_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                 *reply = r;
    ngx_http_cast_redis_cmd_t  *cmd = data;

    ngx_queue_remove(&cmd->queue);

    if (reply && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "READONLY ", 9) == 0
        && ngx_http_cast_redis.cmcf->sentinels
        && ac == ngx_http_cast_redis.ac)
    {
        ngx_http_cast_redis_leave("it is a replica now");
    }

    if (reply && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "ERR Function not found", 22) == 0
        && ngx_http_cast_redis.ac && !ngx_http_cast_redis.loading)
    {
        /* Redis lost its functions (restart without data): load again */
        ngx_http_cast_redis_setup(ngx_http_cast_redis.ac);
    }

    cmd->handler(cmd->data, reply);
}

