
/*
 * Copyright (C) CAST developers
 *
 * A vote batch's reply held until the replicas have its votes
 * (cast_redis_min_replicas n).  The batch layer hands over its FCALL's
 * reply handler (ngx_http_cast_wait_hold()) and, once the FCALL is sent,
 * sends one WAIT n <a quarter of the Redis timeout> right behind it on the
 * same connection (ngx_http_cast_wait_send()).  The FCALL's reply is
 * copied (hiredis frees it after its callback) and held until WAIT's is
 * in; the handler then gets it only if at least n replicas acknowledged,
 * a refusal of the whole batch (an error) as it is, and otherwise an
 * UNAVAILABLE error for every vote.  Replies come in the order sent, so a
 * lost connection answers the FCALL and then the WAIT with no reply: a
 * held reply never reaches the handler without WAIT's count.
 *
 * It calls only the transport (ngx_http_cast_redis.c) and the metrics; it
 * is called by the batch layer (ngx_http_cast_batch.c).
 */


#include "ngx_http_cast_module.h"


static void ngx_http_cast_wait_held(void *data, redisReply *reply);
static void ngx_http_cast_wait_waited(void *data, redisReply *reply);
static void ngx_http_cast_wait_release(ngx_http_cast_wait_t *w,
    redisReply *reply);
static redisReply *ngx_http_cast_wait_copy(redisReply *r);
static ngx_int_t ngx_http_cast_wait_size(redisReply *r, ngx_uint_t depth,
    size_t *nodes, size_t *strs);
static redisReply *ngx_http_cast_wait_place(redisReply *r, u_char **node,
    u_char **str);


/* cmd's reply goes through w first; cmd is not sent yet */

void
ngx_http_cast_wait_hold(ngx_http_cast_wait_t *w,
    ngx_http_cast_redis_cmd_t *cmd)
{
    w->handler = cmd->handler;
    w->data = cmd->data;
    w->held = NULL;
    w->pending = 1;

    cmd->handler = ngx_http_cast_wait_held;
    cmd->data = w;
}


/*
 * WAIT <min replicas> <a quarter of the timeout>, right behind the held
 * command, on the connection it was sent on.  Not sent: the command's
 * reply, when it comes, is not enough.
 */

void
ngx_http_cast_wait_send(ngx_http_cast_wait_t *w, ngx_uint_t link)
{
    char                        n[CAST_DEC_LEN], t[CAST_DEC_LEN];
    u_char                      buf[128], *p;
    size_t                      nlen, tlen;
    ngx_http_cast_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_cast_module);

    nlen = cast_dec(n, cmcf->min_replicas) - n;
    tlen = cast_dec(t, cmcf->redis_timeout / 4) - t;

    p = ngx_cpymem(buf, "*3\r\n", 4);
    p = ngx_http_cast_redis_bulk(p, "WAIT", 4);
    p = ngx_http_cast_redis_bulk(p, n, nlen);
    p = ngx_http_cast_redis_bulk(p, t, tlen);

    w->cmd.handler = ngx_http_cast_wait_waited;
    w->cmd.data = w;

    if (ngx_http_cast_redis_send(link, &w->cmd, (char *) buf, p - buf)
        == NGX_OK)
    {
        w->pending++;
    }
}


/* the FCALL's reply: kept (hiredis frees it) until WAIT's is in */

static void
ngx_http_cast_wait_held(void *data, redisReply *reply)
{
    ngx_http_cast_wait_t  *w = data;

    if (reply) {
        w->held = ngx_http_cast_wait_copy(reply);
    }

    if (--w->pending == 0) {
        /* WAIT was never sent: nothing says the replicas have the votes */
        ngx_http_cast_wait_release(w, NULL);
    }
}


static void
ngx_http_cast_wait_waited(void *data, redisReply *reply)
{
    ngx_http_cast_wait_t  *w = data;

    w->pending--;

    ngx_http_cast_wait_release(w, reply);
}


/*
 * The held reply goes to the calls when WAIT counted enough replicas; a
 * refusal of the whole batch (an error) goes as it is; otherwise every
 * call is told UNAVAILABLE, or gets no reply if the FCALL's never came.
 */

static void
ngx_http_cast_wait_release(ngx_http_cast_wait_t *w, redisReply *wait)
{
    redisReply                 *held;
    ngx_http_cast_main_conf_t  *cmcf;

    static redisReply           unacked = {
        .type = REDIS_REPLY_ERROR,
        .str = "UNAVAILABLE the replicas did not acknowledge the votes",
        .len = sizeof("UNAVAILABLE the replicas did not acknowledge "
                      "the votes") - 1
    };

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_cast_module);

    held = w->held;
    w->held = NULL;

    if (held && held->type == REDIS_REPLY_ARRAY
        && (wait == NULL || wait->type != REDIS_REPLY_INTEGER
            || wait->integer < (long long) cmcf->min_replicas))
    {
        if (wait) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "cast: WAIT: %s of %uz replicas acknowledged a "
                          "vote batch: its votes answer UNAVAILABLE",
                          wait->type == REDIS_REPLY_INTEGER ? "too few"
                                                            : "none known",
                          cmcf->min_replicas);
        }

        ngx_http_cast_metrics_unacked();
        w->handler(w->data, &unacked);

    } else {
        w->handler(w->data, held);
    }

    if (held) {
        ngx_free(held);
    }
}


/*
 * A deep copy of a reply in one malloc()ed block, freed with one
 * ngx_free(): the replies and their element arrays first (each a multiple
 * of a pointer's size, so all aligned), their strings after them.  A
 * batch of n votes is about 6n replies: one allocation instead of 11n.
 * NULL when out of memory or nested deeper than a vote batch's reply.
 */

static redisReply *
ngx_http_cast_wait_copy(redisReply *r)
{
    size_t   nodes, strs;
    u_char  *block, *node, *str;

    nodes = 0;
    strs = 0;

    if (ngx_http_cast_wait_size(r, 0, &nodes, &strs) != NGX_OK) {
        return NULL;
    }

    block = ngx_alloc(nodes + strs, ngx_cycle->log);
    if (block == NULL) {
        return NULL;
    }

    node = block;
    str = block + nodes;

    return ngx_http_cast_wait_place(r, &node, &str);
}


static ngx_int_t
ngx_http_cast_wait_size(redisReply *r, ngx_uint_t depth, size_t *nodes,
    size_t *strs)
{
    size_t  i;

    if (depth > 8) {
        return NGX_ERROR;
    }

    *nodes += sizeof(redisReply) + r->elements * sizeof(redisReply *);

    if (r->str) {
        *strs += r->len + 1;
    }

    for (i = 0; i < r->elements; i++) {
        if (ngx_http_cast_wait_size(r->element[i], depth + 1, nodes, strs)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* r laid out at *node, its strings at *str; both moved past them */

static redisReply *
ngx_http_cast_wait_place(redisReply *r, u_char **node, u_char **str)
{
    size_t       i;
    redisReply  *c;

    c = (redisReply *) *node;
    *node += sizeof(redisReply);

    *c = *r;
    c->str = NULL;
    c->element = NULL;

    if (r->str) {
        c->str = (char *) *str;
        *str = ngx_cpymem(*str, r->str, r->len);
        *(*str)++ = '\0';
    }

    if (r->elements) {
        c->element = (redisReply **) *node;
        *node += r->elements * sizeof(redisReply *);

        for (i = 0; i < r->elements; i++) {
            c->element[i] = ngx_http_cast_wait_place(r->element[i], node,
                                                      str);
        }
    }

    return c;
}
