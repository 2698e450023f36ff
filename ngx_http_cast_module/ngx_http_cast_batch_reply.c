
/*
 * Copyright (C) CAST developers
 *
 * A sent batch's reply, its carrier's: the next batch of its kind may
 * leave, and each call gets its part.
 *
 * A read batch the replica did not answer (its connection lost, or
 * dropped as stuck; LOADING, MASTERDOWN, no function library yet) is
 * sent again to the primary, rebuilt from its calls: they lie in the
 * carrier's buffer (the batch's, handed over as it left, so no read is
 * copied), and those cancelled meanwhile (their client gone, their
 * request timed out) are cut out.  A carrier none of whose calls waits
 * any more is not sent again.  The calls keep the time they were first
 * sent (the latency counted); their requests' timers run from their
 * start, so a read never waits more than cast_redis_timeout.
 *
 * It calls only the transport (ngx_http_cast_redis.c), the metrics and
 * the batches' own (ngx_http_cast_batch.c); the transport calls it.
 */


#include "ngx_http_cast_module.h"


/*
 * A vote or query batch's reply has one element per call; a board or
 * watch batch's, one for all (the largest limit, every name asked); a cas
 * or state batch's, one for all, unless its calls carry arguments (a cas
 * with a client share): one element per call again.
 */
#define ngx_http_cast_batch_shared(kind, nargs)                              \
    ((kind) >= NGX_HTTP_CAST_BATCH_BOARD                                     \
     || ((kind) >= NGX_HTTP_CAST_BATCH_CAS && (nargs) == 0))


static ngx_int_t ngx_http_cast_batch_again(ngx_http_cast_carrier_t *carrier,
    redisReply *reply);
static void ngx_http_cast_batch_answer(ngx_http_cast_call_t *call,
    redisReply *reply);


/*
 * The calls that answered themselves on a recheck get no reply, once
 * their batch is out (their handlers may add calls to it again), unless
 * their caller went away meanwhile; none of them spent time in Redis.
 */

void
ngx_http_cast_batch_answered(ngx_queue_t *answered)
{
    void                   *data;
    ngx_queue_t            *q;
    ngx_http_cast_call_t   *call;
    ngx_http_cast_reply_pt  handler;

    while (!ngx_queue_empty(answered)) {
        q = ngx_queue_head(answered);
        ngx_queue_remove(q);
        call = ngx_queue_data(q, ngx_http_cast_call_t, queue);

        handler = call->handler;
        data = call->data;
        ngx_http_cast_batch_call_put(call);

        /* cancelled meanwhile: a sent call's reply ended its request */
        if (handler) {
            handler(data, NULL);
        }
    }
}


/*
 * A carrier's reply is in (or never will be): the next batch of its kind
 * may leave, and each call gets its part, unless it goes to the primary
 * yet.
 */

void
ngx_http_cast_batch_reply(void *data, redisReply *reply)
{
    ngx_http_cast_carrier_t  *carrier = data;

    ngx_http_cast_batch_in(carrier);

    if (carrier->held.data
        && ngx_http_cast_batch_again(carrier, reply) == NGX_OK)
    {
        return;
    }

    ngx_http_cast_batch_release(carrier);

    ngx_http_cast_batch_deliver(&carrier->calls, reply,
                                ngx_http_cast_batch_shared(
                                    carrier->batch->kind, carrier->nargs));
    ngx_free(carrier);
}


/*
 * A read the replica did not answer, or answered as a replica that cannot
 * serve it (still loading, cut off with replica-serve-stale-data no, not
 * yet given the function library): NGX_OK, sent to the primary instead,
 * rebuilt from the calls still waiting for it.  One no call waits for any
 * more (each cancelled: its client gone, its request timed out) is not.
 */

static ngx_int_t
ngx_http_cast_batch_again(ngx_http_cast_carrier_t *carrier,
    redisReply *reply)
{
    u_char      *start, *buf;
    size_t       len;
    ngx_uint_t   nargs;

    if (reply
        && (reply->type != REDIS_REPLY_ERROR
            || (ngx_strncmp(reply->str, "LOADING", 7) != 0
                && ngx_strncmp(reply->str, "MASTERDOWN", 10) != 0
                && ngx_strncmp(reply->str, "ERR Function not found", 22)
                   != 0)))
    {
        return NGX_DECLINED;
    }

    buf = carrier->held.data;

    nargs = ngx_http_cast_batch_pack(&carrier->calls, buf, NULL, &len);

    if (ngx_queue_empty(&carrier->calls)) {
        return NGX_DECLINED;
    }

    start = ngx_http_cast_batch_head(carrier->batch, buf, nargs);
    carrier->nargs = nargs;

    if (ngx_http_cast_redis_send(0, &carrier->cmd, (char *) start,
                                 buf + len - start)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_http_cast_batch_out(carrier, 0);
    ngx_http_cast_batch_release(carrier);
    ngx_http_cast_metrics_replica_read(1);

    return NGX_OK;
}


/*
 * A batch's reply: the n-th element to the n-th call, or the whole reply
 * to every call when they share it.  An error or no reply at all goes to
 * every call; a call the array lacks, or every call of a reply that is no
 * array, gets an error (a vote's reply may be an integer: not the
 * batch's).
 */

void
ngx_http_cast_batch_deliver(ngx_queue_t *calls, redisReply *reply,
    ngx_uint_t shared)
{
    size_t                i;
    redisReply           *e;
    ngx_queue_t          *q;
    ngx_http_cast_call_t  *call;

    static redisReply     missing = {
        .type = REDIS_REPLY_ERROR,
        .str = "ERR cast: the batch reply lacks this call",
        .len = sizeof("ERR cast: the batch reply lacks this call") - 1
    };

    for (i = 0; !ngx_queue_empty(calls); i++) {
        q = ngx_queue_head(calls);
        ngx_queue_remove(q);
        call = ngx_queue_data(q, ngx_http_cast_call_t, queue);

        e = reply;

        if (!shared && reply && reply->type != REDIS_REPLY_ERROR) {
            e = (reply->type == REDIS_REPLY_ARRAY && i < reply->elements)
                ? reply->element[i] : &missing;
        }

        ngx_http_cast_batch_answer(call, e);
    }
}


/* the reply to its caller, unless cancelled; the call is spare after */

static void
ngx_http_cast_batch_answer(ngx_http_cast_call_t *call, redisReply *reply)
{
    if (call->handler) {
        ngx_http_cast_metrics_redis(ngx_current_msec - call->sent);
        call->handler(call->data, reply);
    }

    ngx_http_cast_batch_call_put(call);
}
