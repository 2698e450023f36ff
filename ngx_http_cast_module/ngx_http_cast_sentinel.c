
/*
 * Copyright (C) CAST developers
 *
 * The Sentinels asked for the primary's address, on nginx's event loop.
 *
 * An ask tries the Sentinels in turn, starting with the one that answered
 * last: a connection, one SENTINEL GET-MASTER-ADDR-BY-NAME, and the
 * connection closed.  A Sentinel that refuses, does not know the name or
 * does not answer within cast_redis_timeout is passed over; the handler
 * hears the first address, or NULL once every Sentinel has been tried.
 * One ask at a time per worker: the transport asks before each connect
 * and once a second while connected (to leave a demoted primary).
 *
 * It calls only nginx, hiredis and the adapter (ngx_http_cast_hiredis.c);
 * it is called by the transport (ngx_http_cast_redis.c) and the module's
 * exit.
 */


#include "ngx_http_cast_module.h"


typedef struct {
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_log_t                  *log;
    redisAsyncContext          *ac;           /* the Sentinel being asked */
    ngx_event_t                 timeout;
    ngx_http_cast_sentinel_pt   handler;      /* NULL: no ask going on */
    void                       *data;
    ngx_uint_t                  next;         /* the Sentinel to try next */
    ngx_uint_t                  tried;
    ngx_uint_t                  exiting;
} ngx_http_cast_sentinel_t;


static void ngx_http_cast_sentinel_try(void);
static void ngx_http_cast_sentinel_drop(void);
static void ngx_http_cast_sentinel_done(const char *ip, int port);
static void ngx_http_cast_sentinel_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_cast_sentinel_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_cast_sentinel_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_cast_sentinel_timeout(ngx_event_t *ev);


static ngx_http_cast_sentinel_t  ngx_http_cast_sentinel;

/* what nginx's debug log reads of a timer's data: a connection's fd */
static ngx_connection_t          ngx_http_cast_sentinel_ident = {
    .fd = (ngx_socket_t) -1
};


/*
 * NGX_OK: handler(data, ip, port) will be called once, never from within
 * this call.  NGX_BUSY: an ask is going on already.
 */

ngx_int_t
ngx_http_cast_sentinel_ask(ngx_http_cast_main_conf_t *cmcf, ngx_log_t *log,
    ngx_http_cast_sentinel_pt handler, void *data)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (s->handler || s->exiting) {
        return NGX_BUSY;
    }

    s->cmcf = cmcf;
    s->log = log;
    s->handler = handler;
    s->data = data;
    s->tried = 0;

    s->timeout.handler = ngx_http_cast_sentinel_timeout;
    s->timeout.log = log;
    s->timeout.data = &ngx_http_cast_sentinel_ident;
    s->timeout.cancelable = 1;

    /* the first try starts from the event loop: never within the caller */
    ngx_add_timer(&s->timeout, 1);

    return NGX_OK;
}


void
ngx_http_cast_sentinel_exit(void)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    s->exiting = 1;
    s->handler = NULL;

    if (s->timeout.timer_set) {
        ngx_del_timer(&s->timeout);
    }

    ngx_http_cast_sentinel_drop();
}


static void
ngx_http_cast_sentinel_try(void)
{
    u_char                     ip[NGX_SOCKADDR_STRLEN];
    size_t                     len;
    ngx_url_t                 *u;
    redisAsyncContext         *ac;
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    while (s->tried < s->cmcf->sentinels->nelts) {

        u = (ngx_url_t *) s->cmcf->sentinels->elts
            + s->next % s->cmcf->sentinels->nelts;

        s->tried++;

        len = ngx_sock_ntop(u->addrs[0].sockaddr, u->addrs[0].socklen,
                            ip, sizeof(ip) - 1, 0);
        ip[len] = '\0';

        ac = redisAsyncConnect((char *) ip,
                               ngx_inet_get_port(u->addrs[0].sockaddr));

        if (ac == NULL || ac->err) {
            ngx_log_error(NGX_LOG_WARN, s->log, 0, "cast: sentinel \"%V\": "
                          "%s", &u->url, ac ? ac->errstr : "out of memory");
            if (ac) {
                redisAsyncFree(ac);
            }
            s->next++;
            continue;
        }

        /* one command: written when the socket is ready, never posted */
        if (ngx_http_cast_hiredis_attach(ac, s->log, 0) != NGX_OK) {
            redisAsyncFree(ac);
            s->next++;
            continue;
        }

        redisAsyncSetConnectCallback(ac, ngx_http_cast_sentinel_on_connect);
        redisAsyncSetDisconnectCallback(ac,
                                        ngx_http_cast_sentinel_on_disconnect);

        s->ac = ac;

        if (redisAsyncCommand(ac, ngx_http_cast_sentinel_reply, NULL,
                              "SENTINEL get-master-addr-by-name %b",
                              s->cmcf->master_name.data,
                              s->cmcf->master_name.len)
            != REDIS_OK)
        {
            ngx_http_cast_sentinel_drop();
            s->next++;
            continue;
        }

        ngx_add_timer(&s->timeout, s->cmcf->redis_timeout);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, s->log, 0, "cast: no sentinel knows the "
                  "primary \"%V\"", &s->cmcf->master_name);

    ngx_http_cast_sentinel_done(NULL, 0);
}


/* the Sentinel's connection goes; its callbacks see it is not s->ac */

static void
ngx_http_cast_sentinel_drop(void)
{
    redisAsyncContext         *ac;
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    ac = s->ac;
    s->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }
}


static void
ngx_http_cast_sentinel_done(const char *ip, int port)
{
    void                       *data;
    ngx_http_cast_sentinel_pt   handler;
    ngx_http_cast_sentinel_t   *s = &ngx_http_cast_sentinel;

    if (s->timeout.timer_set) {
        ngx_del_timer(&s->timeout);
    }

    handler = s->handler;
    data = s->data;
    s->handler = NULL;

    if (handler) {
        handler(data, ip, port);
    }
}


static void
ngx_http_cast_sentinel_reply(redisAsyncContext *ac, void *r, void *data)
{
    u_char                     ip[NGX_SOCKADDR_STRLEN];
    ngx_int_t                  port;
    redisReply                *reply = r;
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (ac != s->ac) {
        return;
    }

    port = NGX_ERROR;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[0]->len > 0
        && reply->element[0]->len < sizeof(ip))
    {
        port = ngx_atoi((u_char *) reply->element[1]->str,
                        reply->element[1]->len);
        ngx_memcpy(ip, reply->element[0]->str, reply->element[0]->len);
        ip[reply->element[0]->len] = '\0';
    }

    /* freed once this callback returns */
    s->ac = NULL;
    redisAsyncDisconnect(ac);

    if (port < 1 || port > 65535) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0, "cast: a sentinel does not "
                      "know the primary \"%V\"", &s->cmcf->master_name);
        s->next++;
        ngx_http_cast_sentinel_try();
        return;
    }

    ngx_http_cast_sentinel_done((char *) ip, (int) port);
}


static void
ngx_http_cast_sentinel_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (status == REDIS_OK || ac != s->ac) {
        return;
    }

    /* hiredis frees the context after this callback */

    ngx_log_error(NGX_LOG_WARN, s->log, 0, "cast: sentinel connect failed: "
                  "%s", ac->errstr);

    s->ac = NULL;
    s->next++;

    if (s->timeout.timer_set) {
        ngx_del_timer(&s->timeout);
    }

    /* the next one from the event loop, not within hiredis */
    ngx_add_timer(&s->timeout, 1);
}


static void
ngx_http_cast_sentinel_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (ac != s->ac) {
        return;
    }

    s->ac = NULL;
    s->next++;

    if (s->timeout.timer_set) {
        ngx_del_timer(&s->timeout);
    }

    ngx_add_timer(&s->timeout, 1);
}


/* the first try, the next after a failure, or a Sentinel too slow */

static void
ngx_http_cast_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (s->handler == NULL) {
        return;
    }

    if (s->ac) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0, "cast: a sentinel did not "
                      "answer within %M ms", s->cmcf->redis_timeout);
        ngx_http_cast_sentinel_drop();
        s->next++;
    }

    ngx_http_cast_sentinel_try();
}

