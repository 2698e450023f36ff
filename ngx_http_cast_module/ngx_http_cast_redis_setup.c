
/*
 * Copyright (C) CAST developers
 *
 * A new Redis connection's set-up, queued ahead of every command sent on
 * it (hiredis keeps the order): AUTH and SELECT when configured; with
 * cast_redis_sentinel, ROLE, which must say the Redis is a primary; with
 * cast_redis_primary_fsync, CONFIG SET appendfsync always and CONFIG GET
 * appendonly, which must be yes; last, FUNCTION LOAD REPLACE of the
 * library.
 *
 * A replica's connection (cast_redis_replica_reads) writes nothing: AUTH
 * and SELECT, then ROLE, which must say it is a replica whose link to its
 * primary is connected, that primary being the one the Sentinels name;
 * the transport asks ROLE again once a second
 * (ngx_http_cast_redis_setup_role()) while reads go there.
 *
 * Its verdict goes to the link's done handler: NGX_OK once FUNCTION LOAD
 * is answered without an error on a connection that stays (a replica's:
 * each time ROLE says it is one, linked), NGX_DECLINED
 * when the Redis is not what it must be (the connection is left, the
 * commands in flight get their replies), NGX_ERROR when no vote may be
 * answered on it (the connection is dropped at once, from within the
 * reply).
 *
 * It calls only hiredis and nginx's log; it is called by the transport
 * (ngx_http_cast_redis.c), which hears back through the link's handler.
 */


#include "ngx_http_cast_module.h"


static void ngx_http_cast_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_cast_redis_role_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_cast_redis_replica_reply(
    ngx_http_cast_redis_link_t *link, redisReply *reply);
static ngx_uint_t ngx_http_cast_redis_same_primary(
    ngx_http_cast_redis_link_t *link, redisReply *host, redisReply *port);
static void ngx_http_cast_redis_fsync_reply(redisAsyncContext *ac, void *r,
    void *data);


void
ngx_http_cast_redis_setup(ngx_http_cast_redis_link_t *link,
    ngx_http_cast_main_conf_t *cmcf)
{
    char                db[CAST_DEC_LEN];
    const char         *argv[4];
    size_t              argvlen[4];
    redisAsyncContext  *ac = link->ac;

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
        argv[1] = db;
        argvlen[1] = cast_dec(db, cmcf->redis_db) - db;
        redisAsyncCommandArgv(ac, ngx_http_cast_redis_setup_reply, "SELECT",
                              2, argv, argvlen);
    }

    if (link->replica) {
        ngx_http_cast_redis_setup_role(link);
        return;
    }

    if (cmcf->sentinels) {
        argv[0] = "ROLE";
        argvlen[0] = 4;
        redisAsyncCommandArgv(ac, ngx_http_cast_redis_role_reply, NULL,
                              1, argv, argvlen);
    }

    if (cmcf->primary_fsync) {
        redisAsyncCommand(ac, ngx_http_cast_redis_fsync_reply, "SET",
                          "CONFIG SET appendfsync always");
        redisAsyncCommand(ac, ngx_http_cast_redis_fsync_reply, "GET",
                          "CONFIG GET appendonly");
    }

    argv[0] = "FUNCTION";
    argvlen[0] = 8;
    argv[1] = "LOAD";
    argvlen[1] = 4;
    argv[2] = "REPLACE";
    argvlen[2] = 7;
    argv[3] = (const char *) cmcf->functions.data;
    argvlen[3] = cmcf->functions.len;

    link->loading = 1;

    redisAsyncCommandArgv(ac, ngx_http_cast_redis_setup_reply,
                          "FUNCTION LOAD", 4, argv, argvlen);
}


/* a replica's role asked, once at a time */

void
ngx_http_cast_redis_setup_role(ngx_http_cast_redis_link_t *link)
{
    if (link->checking) {
        return;
    }

    if (redisAsyncCommand(link->ac, ngx_http_cast_redis_role_reply, NULL,
                          "ROLE")
        == REDIS_OK)
    {
        link->checking = 1;
        link->checked = ngx_current_msec;
    }
}


static void
ngx_http_cast_redis_setup_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                  *reply = r;
    ngx_http_cast_redis_link_t  *link = ac->data;

    if (ngx_strcmp(data, "FUNCTION LOAD") == 0) {
        link->loading = 0;

        /*
         * the last of the setup: the connection is usable, unless it is
         * being left (ROLE said replica, its load answered READONLY)
         */
        if (reply && reply->type != REDIS_REPLY_ERROR && ac == link->ac
            && !(ac->c.flags & REDIS_DISCONNECTING))
        {
            link->done(link, NGX_OK, NULL);
        }
    }

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "cast: redis %s failed: %s", (char *) data, reply->str);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, link->log, 0,
                   "cast: redis %s done", (char *) data);
}


/*
 * What the Sentinels named must be a primary, or for reads a replica
 * whose link to its primary is up ("connected": not "connect",
 * "connecting", "sync" nor "handshake", when it may serve old data)
 */

static void
ngx_http_cast_redis_role_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                  *reply = r;
    ngx_http_cast_redis_link_t  *link = ac->data;

    if (reply == NULL || ac != link->ac) {
        return;
    }

    if (link->replica) {
        ngx_http_cast_redis_replica_reply(link, reply);
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
        && reply->element[0]->type == REDIS_REPLY_STRING
        && ngx_strcmp(reply->element[0]->str, "master") == 0)
    {
        ngx_log_error(NGX_LOG_INFO, link->log, 0,
                      "cast: redis %V is the primary", &link->address);
        return;
    }

    link->done(link, NGX_DECLINED, "it is not a primary");
}


static void
ngx_http_cast_redis_replica_reply(ngx_http_cast_redis_link_t *link,
    redisReply *reply)
{
    link->checking = 0;

    /* being left (the primary moved): a ROLE asked before does not undo it */
    if (link->ac->c.flags & REDIS_DISCONNECTING) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 4
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[3]->type == REDIS_REPLY_STRING
        && ngx_strcmp(reply->element[0]->str, "slave") == 0
        && ngx_strcmp(reply->element[3]->str, "connected") == 0)
    {
        if (!ngx_http_cast_redis_same_primary(link, reply->element[1],
                                              reply->element[2]))
        {
            link->done(link, NGX_DECLINED, "it replicates another primary "
                       "than the one the sentinels name");
            return;
        }

        if (!link->ready) {
            ngx_log_error(NGX_LOG_INFO, link->log, 0, "cast: redis %V is a "
                          "replica linked to its primary, reads go there",
                          &link->address);
        }

        link->done(link, NGX_OK, NULL);
        return;
    }

    link->done(link, NGX_DECLINED, "it is not a replica linked to its "
               "primary");
}


/*
 * Whether the primary a replica's ROLE names is the one the Sentinels
 * name: otherwise it belongs to another set-up, or to the other side of a
 * split.  The port must be the same, and the host too when ROLE gives an
 * address (a name, as "replicaof <name>" gives, is not resolved here).
 * Before the Sentinels have named one, the next ROLE (a second later)
 * judges.
 */

static ngx_uint_t
ngx_http_cast_redis_same_primary(ngx_http_cast_redis_link_t *link,
    redisReply *host, redisReply *port)
{
    u_char      tail[NGX_INT64_LEN + 1];
    size_t      n;
    ngx_str_t  *primary = link->primary;
#if (NGX_HAVE_INET6)
    u_char      addr6[16];
#endif

    if (primary == NULL || primary->len == 0) {
        return 1;
    }

    if (host->type != REDIS_REPLY_STRING
        || port->type != REDIS_REPLY_INTEGER)
    {
        return 0;
    }

    n = ngx_sprintf(tail, ":%L", (int64_t) port->integer) - tail;

    if (primary->len <= n
        || ngx_memcmp(primary->data + primary->len - n, tail, n) != 0)
    {
        return 0;
    }

    if (ngx_inet_addr((u_char *) host->str, host->len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr((u_char *) host->str, host->len, addr6) != NGX_OK
#endif
       )
    {
        return 1;
    }

    return primary->len - n == host->len
           && ngx_memcmp(primary->data, host->str, host->len) == 0;
}


/*
 * A Redis that does not fsync before each reply must acknowledge no vote:
 * one that refuses appendfsync always ("SET"), or whose AOF is off
 * ("GET" appendonly), where it means nothing.  Freed from within this
 * reply, the connection answers every command pipelined behind it
 * (votes, /readyz's state) with no reply.
 */

static void
ngx_http_cast_redis_fsync_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                  *reply = r;
    ngx_http_cast_redis_link_t  *link = ac->data;

    if (reply == NULL || ac != link->ac) {
        return;
    }

    if (ngx_strcmp(data, "SET") == 0) {
        if (reply->type == REDIS_REPLY_STATUS) {
            return;
        }

        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "cast: redis %V refused \"CONFIG SET appendfsync "
                      "always\" (cast_redis_primary_fsync), no vote is "
                      "answered on it: %s", &link->address,
                      reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");

    } else {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
            && reply->element[1]->type == REDIS_REPLY_STRING
            && ngx_strcmp(reply->element[1]->str, "yes") == 0)
        {
            return;
        }

        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "cast: redis %V does not show appendonly yes, so "
                      "appendfsync always may fsync nothing "
                      "(cast_redis_primary_fsync), no vote is answered on "
                      "it: %s", &link->address,
                      reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "appendonly off");
    }

    link->done(link, NGX_ERROR, NULL);
}
