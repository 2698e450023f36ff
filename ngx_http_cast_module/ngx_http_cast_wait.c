
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
static redisReply *ngx_http_cast_wait_copy(redisReply *r, ngx_uint_t depth);
static void ngx_http_cast_wait_free(redisReply *r);


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
    u_char                      buf[128], n[NGX_SIZE_T_LEN],
                                t[NGX_TIME_T_LEN], *p;
    size_t                      nlen, tlen;
    ngx_http_cast_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_cast_module);

    nlen = ngx_sprintf(n, "%uz", cmcf->min_replicas) - n;
    tlen = ngx_sprintf(t, "%M", cmcf->redis_timeout / 4) - t;

    p = ngx_sprintf(buf, "*3\r\n$4\r\nWAIT\r\n$%uz\r\n%*s\r\n"
                    "$%uz\r\n%*s\r\n", nlen, nlen, n, tlen, tlen, t);

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
        w->held = ngx_http_cast_wait_copy(reply, 0);
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
        ngx_http_cast_wait_free(held);
    }
}


/* a deep copy of a reply, malloc()ed; NULL when out of memory */

static redisReply *
ngx_http_cast_wait_copy(redisReply *r, ngx_uint_t depth)
{
    size_t       i;
    redisReply  *c;

    if (depth > 8) {
        return NULL;
    }

    c = ngx_calloc(sizeof(redisReply), ngx_cycle->log);
    if (c == NULL) {
        return NULL;
    }

    c->type = r->type;
    c->integer = r->integer;

    if (r->str) {
        c->str = ngx_alloc(r->len + 1, ngx_cycle->log);
        if (c->str == NULL) {
            ngx_free(c);
            return NULL;
        }

        ngx_memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }

    if (r->elements) {
        c->element = ngx_calloc(r->elements * sizeof(redisReply *),
                                ngx_cycle->log);
        if (c->element == NULL) {
            ngx_http_cast_wait_free(c);
            return NULL;
        }

        c->elements = r->elements;

        for (i = 0; i < r->elements; i++) {
            c->element[i] = ngx_http_cast_wait_copy(r->element[i],
                                                     depth + 1);
            if (c->element[i] == NULL) {
                ngx_http_cast_wait_free(c);
                return NULL;
            }
        }
    }

    return c;
}


static void
ngx_http_cast_wait_free(redisReply *r)
{
    size_t  i;

    if (r->element) {
        for (i = 0; i < r->elements; i++) {
            if (r->element[i]) {
                ngx_http_cast_wait_free(r->element[i]);
            }
        }

        ngx_free(r->element);
    }

    if (r->str) {
        ngx_free(r->str);
    }

    ngx_free(r);
}
