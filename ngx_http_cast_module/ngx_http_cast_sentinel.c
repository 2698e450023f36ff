
/*
 * Copyright (C) CAST developers
 *
 * The Sentinels asked for the primary's address, or for a replica's (with
 * cast_redis_replica_reads), on nginx's event loop.
 *
 * An ask tries the Sentinels in turn, starting with the one that answered
 * last: a connection, one SENTINEL GET-MASTER-ADDR-BY-NAME, and the
 * connection closed.  A Sentinel that refuses, does not know the name or
 * does not answer within cast_redis_timeout is passed over; the handler
 * hears the first address, or NULL once every Sentinel has been tried.
 * One ask at a time per worker: the transport asks before each connect
 * and once a second while connected (to leave a demoted primary).
 *
 * A replica is asked with SENTINEL REPLICAS: of those the Sentinel sees
 * up (none of s_down, o_down, disconnected in its flags) and linked to
 * the primary (master-link-status ok), the pick-th, counted from the
 * worker's number so that the workers spread over the replicas.  A
 * Sentinel that sees none is passed over like one that does not know the
 * name.  So is one that names a host name instead of an address
 * (announce-hostnames yes): hiredis would resolve it, blocking the worker.
 *
 * An answer is bounded as every reply of a link is, by the adapter: one
 * that holds more than NGX_HTTP_CAST_SENTINEL_BYTES as hiredis holds it
 * (its objects, and the bytes read but not yet made into one: "*2000000000"
 * took 16 GB of address space, "$2000000000" then streamed grew the
 * worker by what the Sentinel sent within cast_redis_timeout, at every
 * ask) is a read error, and the Sentinel is passed over.  An answer of
 * SENTINEL REPLICAS is some 3 KB a replica as hiredis holds it;
 * get-master-addr-by-name's some 200 bytes.
 *
 * It calls only nginx, hiredis and the adapter (ngx_http_cast_hiredis.c);
 * it is called by the transport (ngx_http_cast_redis.c) and the module's
 * exit.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_SENTINEL_BYTES  (1024 * 1024)


typedef struct {
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_log_t                  *log;
    redisAsyncContext          *ac;           /* the Sentinel being asked */
    ngx_event_t                 timeout;
    ngx_http_cast_sentinel_pt   handler;      /* NULL: no ask going on */
    void                       *data;
    ngx_uint_t                  next;         /* the Sentinel to try next */
    ngx_uint_t                  replica;      /* asking for a replica */
    ngx_uint_t                  pick;         /*   which of those up */
    ngx_uint_t                  tried;
    ngx_uint_t                  exiting;
} ngx_http_cast_sentinel_t;


static ngx_int_t ngx_http_cast_sentinel_start(ngx_http_cast_main_conf_t *cmcf,
    ngx_log_t *log, ngx_http_cast_sentinel_pt handler, void *data);
static void ngx_http_cast_sentinel_try(void);
static ngx_int_t ngx_http_cast_sentinel_command(redisAsyncContext *ac);
static ngx_uint_t ngx_http_cast_sentinel_numeric(u_char *ip);
static ngx_int_t ngx_http_cast_sentinel_primary(redisReply *reply, u_char *ip,
    size_t size);
static ngx_int_t ngx_http_cast_sentinel_replica(redisReply *reply, u_char *ip,
    size_t size);
static ngx_uint_t ngx_http_cast_sentinel_up(redisReply *entry);
static redisReply *ngx_http_cast_sentinel_field(redisReply *entry,
    const char *name);
static void ngx_http_cast_sentinel_drop(void);
static void ngx_http_cast_sentinel_done(const char *ip, int port);
static void ngx_http_cast_sentinel_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_cast_sentinel_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_cast_sentinel_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_cast_sentinel_gone(ngx_http_cast_sentinel_t *s);
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

    s->replica = 0;

    return ngx_http_cast_sentinel_start(cmcf, log, handler, data);
}


/* the same for a replica of the primary, the pick-th of those up */

ngx_int_t
ngx_http_cast_sentinel_ask_replica(ngx_http_cast_main_conf_t *cmcf,
    ngx_log_t *log, ngx_uint_t pick, ngx_http_cast_sentinel_pt handler,
    void *data)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (s->handler || s->exiting) {
        return NGX_BUSY;
    }

    s->replica = 1;
    s->pick = pick;

    return ngx_http_cast_sentinel_start(cmcf, log, handler, data);
}


static ngx_int_t
ngx_http_cast_sentinel_start(ngx_http_cast_main_conf_t *cmcf, ngx_log_t *log,
    ngx_http_cast_sentinel_pt handler, void *data)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

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
        if (ngx_http_cast_hiredis_attach(ac, s->log, 0, "sentinel",
                                         NGX_HTTP_CAST_SENTINEL_BYTES)
            != NGX_OK)
        {
            redisAsyncFree(ac);
            s->next++;
            continue;
        }

        redisAsyncSetConnectCallback(ac, ngx_http_cast_sentinel_on_connect);
        redisAsyncSetDisconnectCallback(ac,
                                        ngx_http_cast_sentinel_on_disconnect);

        s->ac = ac;

        if (ngx_http_cast_sentinel_command(ac) != NGX_OK) {
            ngx_http_cast_sentinel_drop();
            s->next++;
            continue;
        }

        ngx_add_timer(&s->timeout, s->cmcf->redis_timeout);
        return;
    }

    if (s->replica) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0, "cast: no sentinel names a "
                      "replica of \"%V\" that is up",
                      &s->cmcf->master_name);

    } else {
        ngx_log_error(NGX_LOG_ERR, s->log, 0, "cast: no sentinel knows the "
                      "primary \"%V\"", &s->cmcf->master_name);
    }

    ngx_http_cast_sentinel_done(NULL, 0);
}


static ngx_int_t
ngx_http_cast_sentinel_command(redisAsyncContext *ac)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (redisAsyncCommand(ac, ngx_http_cast_sentinel_reply, NULL,
                          s->replica ? "SENTINEL REPLICAS %b"
                                     : "SENTINEL get-master-addr-by-name %b",
                          s->cmcf->master_name.data,
                          s->cmcf->master_name.len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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
    ngx_uint_t                 level;
    redisReply                *reply = r;
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (ac != s->ac) {
        return;
    }

    port = NGX_ERROR;

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        port = s->replica
               ? ngx_http_cast_sentinel_replica(reply, ip, sizeof(ip))
               : ngx_http_cast_sentinel_primary(reply, ip, sizeof(ip));
    }

    /* freed once this callback returns */
    s->ac = NULL;
    redisAsyncDisconnect(ac);

    if (port >= 1 && port <= 65535 && !ngx_http_cast_sentinel_numeric(ip)) {
        /* hiredis would resolve a host name, blocking the worker */
        ngx_log_error(NGX_LOG_ERR, s->log, 0, "cast: a sentinel names "
                      "\"%s\" for \"%V\", not an IP address: CAST "
                      "connects to addresses only (announce-hostnames no)",
                      ip, &s->cmcf->master_name);
        s->next++;
        ngx_http_cast_sentinel_try();
        return;
    }

    if (port < 1 || port > 65535) {
        level = s->replica ? NGX_LOG_INFO : NGX_LOG_WARN;

        /* no replica is not an error: the reads stay on the primary */
        ngx_log_error(level, s->log, 0, "cast: a sentinel %s \"%V\"",
                      s->replica ? "names no replica up of"
                                 : "does not know the primary",
                      &s->cmcf->master_name);
        s->next++;
        ngx_http_cast_sentinel_try();
        return;
    }

    ngx_http_cast_sentinel_done((char *) ip, (int) port);
}


/* whether ip, a C string, is an IPv4 or IPv6 address, not a host name */

static ngx_uint_t
ngx_http_cast_sentinel_numeric(u_char *ip)
{
    size_t  len;
#if (NGX_HAVE_INET6)
    u_char  buf[16];
#endif

    len = ngx_strlen(ip);

    if (ngx_inet_addr(ip, len) != INADDR_NONE) {
        return 1;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(ip, len, buf) == NGX_OK) {
        return 1;
    }
#endif

    return 0;
}


/* get-master-addr-by-name's answer: the port, and ip as a C string */

static ngx_int_t
ngx_http_cast_sentinel_primary(redisReply *reply, u_char *ip, size_t size)
{
    if (reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[0]->len == 0
        || reply->element[0]->len >= size)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(ip, reply->element[0]->str, reply->element[0]->len);
    ip[reply->element[0]->len] = '\0';

    return ngx_atoi((u_char *) reply->element[1]->str,
                    reply->element[1]->len);
}


/* SENTINEL REPLICAS' answer: the pick-th of the replicas up, or none */

static ngx_int_t
ngx_http_cast_sentinel_replica(redisReply *reply, u_char *ip, size_t size)
{
    size_t                     i, n, up;
    redisReply                *e, *addr, *port;
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    up = 0;

    for (i = 0; i < reply->elements; i++) {
        up += ngx_http_cast_sentinel_up(reply->element[i]);
    }

    if (up == 0) {
        return NGX_ERROR;
    }

    n = (ngx_worker + s->pick) % up;
    e = NULL;

    for (i = 0; e == NULL; i++) {
        if (ngx_http_cast_sentinel_up(reply->element[i]) && n-- == 0) {
            e = reply->element[i];
        }
    }

    addr = ngx_http_cast_sentinel_field(e, "ip");
    port = ngx_http_cast_sentinel_field(e, "port");

    if (addr == NULL || port == NULL || addr->len == 0 || addr->len >= size) {
        return NGX_ERROR;
    }

    ngx_memcpy(ip, addr->str, addr->len);
    ip[addr->len] = '\0';

    return ngx_atoi((u_char *) port->str, port->len);
}


/* a replica the Sentinel sees up, and linked to its primary */

static ngx_uint_t
ngx_http_cast_sentinel_up(redisReply *entry)
{
    redisReply  *flags, *link;

    flags = ngx_http_cast_sentinel_field(entry, "flags");
    link = ngx_http_cast_sentinel_field(entry, "master-link-status");

    return flags && link && ngx_strcmp(link->str, "ok") == 0
           && ngx_strstr(flags->str, "s_down") == NULL
           && ngx_strstr(flags->str, "o_down") == NULL
           && ngx_strstr(flags->str, "disconnected") == NULL;
}


/* a field's value in one of SENTINEL REPLICAS' flat lists, or NULL */

static redisReply *
ngx_http_cast_sentinel_field(redisReply *entry, const char *name)
{
    size_t  i;

    if (entry->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    for (i = 0; i + 1 < entry->elements; i += 2) {
        if (entry->element[i]->type == REDIS_REPLY_STRING
            && entry->element[i + 1]->type == REDIS_REPLY_STRING
            && ngx_strcmp(entry->element[i]->str, name) == 0)
        {
            return entry->element[i + 1];
        }
    }

    return NULL;
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

    ngx_http_cast_sentinel_gone(s);
}


static void
ngx_http_cast_sentinel_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_cast_sentinel_t  *s = &ngx_http_cast_sentinel;

    if (ac != s->ac) {
        return;
    }

    ngx_http_cast_sentinel_gone(s);
}


/*
 * The connection hiredis is about to free: the next Sentinel is asked,
 * from the event loop, not within hiredis.
 */

static void
ngx_http_cast_sentinel_gone(ngx_http_cast_sentinel_t *s)
{
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

