
/*
 * Copyright (C) CAST developers
 *
 * Calls coalesced per worker: every vote, query or cas resolved while the
 * worker handles one round of events joins the batch of its kind, and a
 * posted event sends each batch as one FCALL once the round is over.
 * Nothing waits for a timer, so a lone call leaves as soon as it would
 * alone; under load, one call carries many, and Redis runs one function
 * for all of them.  At most NGX_HTTP_CAST_BATCH_DEPTH batches of a kind
 * are in flight: the calls that come meanwhile gather into the next one
 * (a group commit), which Redis would not have run any sooner, and pay
 * the function's fixed cost once.  A batch that has reached
 * NGX_HTTP_CAST_BATCH_FULL bytes of arguments leaves at the end of the
 * round whatever is in flight, so waiting never makes a call much larger
 * than one round's calls.  A call whose request went away while it
 * waited (its client closed, or a timeout: a mutation's later field may
 * join a batch well after its request began) is dropped before the batch
 * leaves, so a client told UNAVAILABLE never has a call that nginx still
 * held applied later.  A call may also be asked, as its batch leaves,
 * whether it still needs Redis (ngx_http_cast_batch_recheck()): a vote
 * that waited while the reply of the batch before it said its ticket was
 * spent is refused without Redis then, and gets no reply.
 *
 *   votes    FCALL cast_votes 0 <vote> <vote> ...        a reply per vote
 *   queries  FCALL_RO cast_query_batch 0 <name> ...      a count per name
 *   cas      FCALL_RO cast_cas 0                         one reply for all
 *            FCALL_RO cast_cas 0 <client share> ...      with a client
 *                                                        share: one each
 *   state    FCALL_RO cast_state 0                       one reply for all
 *   board    FCALL_RO cast_board 0 <limit> ...           one reply for all
 *   watch    FCALL_RO cast_watch 0 <limit> <name> ...    one a tick
 *
 * With cast_redis_min_replicas n, each vote batch's FCALL is followed on
 * the same connection by one WAIT n <a quarter of the Redis timeout>: the
 * FCALL's reply is copied and held until WAIT's is in, and the batch's
 * votes get it only if at least n replicas acknowledged; otherwise each vote
 * answers UNAVAILABLE (its client retries with its idempotency key).
 * Replies come in the order sent, so a lost connection answers the FCALL
 * and then the WAIT with no reply: a held reply is never delivered
 * without WAIT's count.  Redis serves nothing else on a connection while
 * WAIT blocks it, so vote batches then go on the transport's vote
 * connections (1 to NGX_HTTP_CAST_REDIS_VOTE_LINKS), one batch and its
 * WAIT on each at a time: the reads on connection 0 never wait behind a
 * WAIT, one batch runs on the primary while another waits for the
 * replicas, and the votes that come while every vote connection waits
 * gather into the next batch.
 *
 * With cast_redis_replica_reads, the query, cas and board batches go to
 * the transport's replica connection while it is there
 * (ngx_http_cast_redis_reader()), chosen once as the batch leaves: its
 * carrier keeps the connection, and the buffer its command lies in, so
 * that one the replica does not answer can be sent again to the primary
 * (ngx_http_cast_batch_reply.c).  At most NGX_HTTP_CAST_BATCH_DEPTH
 * batches of a kind hold a buffer so; the batch takes a spare one.
 *
 * Arguments are copied into the batch as they come, already in the Redis
 * protocol; each call keeps where its own lie, so a dropped call's are cut
 * out.  A request that goes away once its call is sent has the reply
 * dropped, as for any command in flight.
 *
 * The batch layer knows calls, each with a reply handler and its data,
 * and nothing of requests, fields or slots: a call that cannot join a
 * batch is said so by ngx_http_cast_batch_add()'s return value, one whose
 * caller went away is cancelled (ngx_http_cast_batch_cancel()).  It calls
 * only the replicas' WAIT (ngx_http_cast_wait.c), the transport
 * (ngx_http_cast_redis.c) and the metrics; it is called by the resolvers
 * (ngx_http_cast_field.c) and hears back from the transport through its
 * carrier's reply handler (ngx_http_cast_batch_reply.c).
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_BATCH_SIZE     16384
#define NGX_HTTP_CAST_BATCH_KEEP     (1024 * 1024)
#define NGX_HTTP_CAST_BATCH_FULL     65536
#define NGX_HTTP_CAST_SPARE_CALLS    1024

/*
 * The reads a replica may answer (cast_redis_replica_reads): query, cas,
 * board.  The state stays on the primary (/readyz says whether votes are
 * taken), the watch too (one call a tick per worker).
 */
#define ngx_http_cast_batch_read(kind)                                       \
    ((kind) == NGX_HTTP_CAST_BATCH_QUERY || (kind) == NGX_HTTP_CAST_BATCH_CAS \
     || (kind) == NGX_HTTP_CAST_BATCH_BOARD)


static ngx_uint_t ngx_http_cast_batch_up(ngx_uint_t kind);
static ngx_int_t ngx_http_cast_batch_reserve(ngx_http_cast_batch_t *b,
    size_t need);
static ngx_int_t ngx_http_cast_batch_link(ngx_http_cast_batch_t *b,
    ngx_uint_t wait);
static void ngx_http_cast_batch_flush(ngx_event_t *ev);
static void ngx_http_cast_batch_send(ngx_http_cast_batch_t *b,
    ngx_int_t link, ngx_uint_t wait, ngx_uint_t nargs, ngx_queue_t *calls);
static void ngx_http_cast_batch_hold(ngx_http_cast_batch_t *b,
    ngx_http_cast_carrier_t *carrier);
static ngx_http_cast_call_t *ngx_http_cast_batch_call_get(void);


static ngx_http_cast_batch_t  ngx_http_cast_batches[] = {
    { .command = ngx_string("FCALL"),
      .function = ngx_string("cast_votes") },
    { .command = ngx_string("FCALL_RO"),
      .function = ngx_string("cast_query_batch") },
    { .command = ngx_string("FCALL_RO"),
      .function = ngx_string("cast_cas") },
    { .command = ngx_string("FCALL_RO"),
      .function = ngx_string("cast_state") },
    { .command = ngx_string("FCALL_RO"),
      .function = ngx_string("cast_board") },
    { .command = ngx_string("FCALL_RO"),
      .function = ngx_string("cast_watch") },
};

static ngx_queue_t  ngx_http_cast_batch_spare =
    { &ngx_http_cast_batch_spare, &ngx_http_cast_batch_spare };
static ngx_uint_t   ngx_http_cast_batch_nspare;

/* the batches in flight on each of the transport's connections */
static ngx_uint_t   ngx_http_cast_batch_busy[NGX_HTTP_CAST_REDIS_ALL_LINKS];


/*
 * The call joins the batch of its kind: NGX_OK, and *callp is set until
 * handler(data, reply) is called or the call is cancelled.  NGX_ERROR
 * when out of memory, NGX_DECLINED without a Redis connection: the
 * handler is then never called.
 */

ngx_int_t
ngx_http_cast_batch_add(ngx_uint_t kind, int argc, const char **argv,
    const size_t *argvlen, ngx_http_cast_reply_pt handler, void *data,
    ngx_http_cast_call_t **callp)
{
    int                     i;
    u_char                 *p;
    size_t                  need;
    ngx_http_cast_call_t   *call;
    ngx_http_cast_batch_t  *b = &ngx_http_cast_batches[kind];

    /* "$<len>\r\n<arg>\r\n" for each */
    need = 0;
    for (i = 0; i < argc; i++) {
        need += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    if (ngx_http_cast_batch_reserve(b, need) != NGX_OK) {
        return NGX_ERROR;
    }

    call = ngx_http_cast_batch_up(kind) ? ngx_http_cast_batch_call_get()
                                        : NULL;
    if (call == NULL) {
        return NGX_DECLINED;
    }

    call->handler = handler;
    call->data = data;
    call->recheck = NULL;
    call->off = b->len;
    call->nargs = argc;

    p = b->buf + b->len;

    for (i = 0; i < argc; i++) {
        p = ngx_http_cast_redis_bulk(p, argv[i], argvlen[i]);
    }

    b->len = p - b->buf;
    call->len = b->len - call->off;

    ngx_queue_insert_tail(&b->calls, &call->queue);

    if (!b->flush.posted) {
        ngx_post_event(&b->flush, &ngx_posted_events);
    }

    *callp = call;

    return NGX_OK;
}


/*
 * Whether a call of the kind can be sent: connection 0 is there, or for
 * a vote with vote connections, one of them, or for a read the replica.
 * The state (/readyz) needs both: a worker that cannot take votes is not
 * ready.
 */

static ngx_uint_t
ngx_http_cast_batch_up(ngx_uint_t kind)
{
    ngx_uint_t  n, links;

    links = ngx_http_cast_redis_links();

    if (ngx_http_cast_batch_read(kind) && ngx_http_cast_redis_reader()) {
        return 1;
    }

    if ((kind != NGX_HTTP_CAST_BATCH_VOTE || links == 1)
        && !ngx_http_cast_redis_connected(0))
    {
        return 0;
    }

    if (links == 1
        || (kind != NGX_HTTP_CAST_BATCH_VOTE
            && kind != NGX_HTTP_CAST_BATCH_STATE))
    {
        return 1;
    }

    for (n = 1; n < links; n++) {
        if (ngx_http_cast_redis_connected(n)) {
            return 1;
        }
    }

    return 0;
}


/*
 * As its batch leaves, recheck(data) is asked whether the call still
 * needs Redis; when it answered the call itself (not NGX_OK), the call is
 * not sent, and its handler gets no reply (NULL) once the batch is out.
 */

void
ngx_http_cast_batch_recheck(ngx_http_cast_call_t *call,
    ngx_http_cast_recheck_pt recheck)
{
    call->recheck = recheck;
}


/*
 * Its caller has gone: the call's reply is dropped, and a call still
 * waiting in its batch is never sent.
 */

void
ngx_http_cast_batch_cancel(ngx_http_cast_call_t *call)
{
    call->handler = NULL;
    call->data = NULL;
}


static ngx_int_t
ngx_http_cast_batch_reserve(ngx_http_cast_batch_t *b, size_t need)
{
    u_char  *buf;
    size_t   size;

    if (b->flush.handler == NULL) {
        b->flush.handler = ngx_http_cast_batch_flush;
        b->flush.log = ngx_cycle->log;
        b->flush.data = b;
        b->kind = b - ngx_http_cast_batches;
        ngx_queue_init(&b->calls);
        b->len = NGX_HTTP_CAST_BATCH_HEAD;
    }

    if (b->buf != NULL && b->size - b->len >= need) {
        return NGX_OK;
    }

    size = ngx_max(NGX_HTTP_CAST_BATCH_SIZE, 2 * (b->len + need));

    buf = ngx_alloc(size, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (b->buf) {
        ngx_memcpy(buf, b->buf, b->len);
        ngx_free(b->buf);
    }

    b->buf = buf;
    b->size = size;

    return NGX_OK;
}


/* "<command> <function> 0 <every call's arguments>", sent */

static void
ngx_http_cast_batch_flush(ngx_event_t *ev)
{
    ngx_int_t                   link;
    ngx_uint_t                  nargs, wait;
    ngx_queue_t                 calls, answered;
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_http_cast_batch_t      *b = ev->data;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_cast_module);
    wait = (b->kind == NGX_HTTP_CAST_BATCH_VOTE && cmcf->min_replicas > 0);

    if (ngx_queue_empty(&b->calls)) {
        return;
    }

    link = ngx_http_cast_batch_link(b, wait);

    if (link == NGX_AGAIN) {
        return;
    }

    ngx_queue_init(&answered);

    nargs = ngx_http_cast_batch_pack(&b->calls, b->buf, &answered, &b->len);

    if (ngx_queue_empty(&b->calls)) {
        ngx_http_cast_batch_answered(&answered);
        return;
    }

    /*
     * The batch is emptied before it is sent: hiredis copies the command
     * at once, and a call that fails at once may have its request resolve
     * more, which starts the next batch.
     */

    ngx_queue_init(&calls);
    ngx_queue_add(&calls, &b->calls);
    ngx_queue_init(&b->calls);

    ngx_http_cast_batch_send(b, link, wait, nargs, &calls);

    ngx_http_cast_batch_answered(&answered);

    if (b->size > NGX_HTTP_CAST_BATCH_KEEP && ngx_queue_empty(&b->calls)) {
        ngx_free(b->buf);
        b->buf = NULL;
        b->size = 0;
    }
}


/*
 * The calls leave in one carrier on the link chosen, which it keeps
 * until its reply; one that cannot be sent: each call gets no reply at
 * once.
 */

static void
ngx_http_cast_batch_send(ngx_http_cast_batch_t *b, ngx_int_t link,
    ngx_uint_t wait, ngx_uint_t nargs, ngx_queue_t *calls)
{
    u_char                   *start;
    size_t                    len;
    ngx_http_cast_carrier_t  *carrier;

    start = ngx_http_cast_batch_head(b, b->buf, nargs);
    len = b->buf + b->len - start;

    b->len = NGX_HTTP_CAST_BATCH_HEAD;

    carrier = ngx_alloc(sizeof(ngx_http_cast_carrier_t), ngx_cycle->log);

    if (carrier == NULL || link == NGX_DECLINED) {
        ngx_http_cast_batch_deliver(calls, NULL, 0);
        ngx_free(carrier);
        return;
    }

    carrier->cmd.handler = ngx_http_cast_batch_reply;
    carrier->cmd.data = carrier;
    carrier->batch = b;
    carrier->nargs = nargs;
    carrier->held.data = NULL;

    if (wait) {
        ngx_http_cast_wait_hold(&carrier->wait, &carrier->cmd);
    }

    ngx_queue_init(&carrier->calls);
    ngx_queue_add(&carrier->calls, calls);

    if (ngx_http_cast_redis_send(link, &carrier->cmd, (char *) start, len)
        != NGX_OK)
    {
        ngx_http_cast_batch_deliver(&carrier->calls, NULL, 0);
        ngx_free(carrier);
        return;
    }

    ngx_http_cast_batch_out(carrier, link);

    if (link == NGX_HTTP_CAST_REDIS_REPLICA) {
        ngx_http_cast_batch_hold(b, carrier);
        ngx_http_cast_metrics_replica_read(0);
    }

    if (wait) {
        ngx_http_cast_wait_send(&carrier->wait, link);
    }
}


/*
 * A batch on the replica: its carrier takes the batch's buffer, where
 * its command lies, and the batch a spare one or none (the next call
 * makes one).  At most NGX_HTTP_CAST_BATCH_DEPTH of a kind are held so.
 */

static void
ngx_http_cast_batch_hold(ngx_http_cast_batch_t *b,
    ngx_http_cast_carrier_t *carrier)
{
    carrier->held.data = b->buf;
    carrier->held.size = b->size;
    b->replica++;

    b->buf = NULL;
    b->size = 0;

    if (b->nspare) {
        b->nspare--;
        b->buf = b->spare[b->nspare].data;
        b->size = b->spare[b->nspare].size;
    }
}


/* a carrier's buffer, held for the replica, back to its batch's spares */

void
ngx_http_cast_batch_release(ngx_http_cast_carrier_t *carrier)
{
    ngx_http_cast_batch_t  *b = carrier->batch;

    if (carrier->held.data == NULL) {
        return;
    }

    b->replica--;

    if (b->nspare < NGX_HTTP_CAST_BATCH_DEPTH
        && carrier->held.size <= NGX_HTTP_CAST_BATCH_KEEP)
    {
        b->spare[b->nspare++] = carrier->held;

    } else {
        ngx_free(carrier->held.data);
    }

    carrier->held.data = NULL;
}


/* the carrier is on link until its reply: counted in flight there */

void
ngx_http_cast_batch_out(ngx_http_cast_carrier_t *carrier, ngx_uint_t link)
{
    carrier->link = link;
    carrier->batch->inflight++;
    ngx_http_cast_batch_busy[link]++;
}


/* its reply is in: the next batch of its kind may leave */

void
ngx_http_cast_batch_in(ngx_http_cast_carrier_t *carrier)
{
    ngx_http_cast_batch_t  *b = carrier->batch;

    b->inflight--;
    ngx_http_cast_batch_busy[carrier->link]--;

    if (!ngx_queue_empty(&b->calls) && !b->flush.posted) {
        ngx_post_event(&b->flush, &ngx_posted_events);
    }
}


/*
 * The connection a batch leaves on, chosen once: the carrier keeps it.
 * At most NGX_HTTP_CAST_BATCH_DEPTH batches of a kind in flight, on
 * connection 0, or for a read on the replica's while it is there (a
 * full batch that leaves past the depth goes to connection 0).
 * With WAIT, the vote connection with the fewest batches in flight, and
 * only if it has none: a second batch behind a WAIT would wait for it in
 * Redis's socket.  A full batch leaves all the same.  Each WAIT waits a
 * quarter of the timeout at most: a batch behind another's never waits
 * the whole timeout, which would drop the connection as stuck.
 * NGX_AGAIN: the batch waits for one in flight; NGX_DECLINED: no vote
 * connection is there.
 */

static ngx_int_t
ngx_http_cast_batch_link(ngx_http_cast_batch_t *b, ngx_uint_t wait)
{
    ngx_int_t   best;
    ngx_uint_t  n, full;

    full = (b->len - NGX_HTTP_CAST_BATCH_HEAD >= NGX_HTTP_CAST_BATCH_FULL);

    if (!wait) {
        if (b->inflight >= NGX_HTTP_CAST_BATCH_DEPTH && !full) {
            return NGX_AGAIN;
        }

        return (ngx_http_cast_batch_read(b->kind)
                && b->replica < NGX_HTTP_CAST_BATCH_DEPTH)
               ? (ngx_int_t) ngx_http_cast_redis_reader() : 0;
    }

    best = NGX_DECLINED;

    for (n = 1; n < ngx_http_cast_redis_links(); n++) {
        if (ngx_http_cast_redis_connected(n)
            && (best == NGX_DECLINED
                || ngx_http_cast_batch_busy[n]
                   < ngx_http_cast_batch_busy[best]))
        {
            best = n;
        }
    }

    if (best != NGX_DECLINED && ngx_http_cast_batch_busy[best] && !full) {
        return NGX_AGAIN;
    }

    return best;
}


/*
 * The calls' arguments closed up in buf, from the head room on, the
 * calls cancelled (their request is gone) dropped; *len is where they
 * end.  With answered, the calls are leaving for the first time: those
 * that answer themselves on a recheck move there, the others' time in
 * Redis starts.  Returns how many arguments are left.
 */

ngx_uint_t
ngx_http_cast_batch_pack(ngx_queue_t *calls, u_char *buf,
    ngx_queue_t *answered, size_t *len)
{
    size_t                 end;
    ngx_uint_t             nargs;
    ngx_queue_t           *q, *next;
    ngx_http_cast_call_t  *call;

    end = NGX_HTTP_CAST_BATCH_HEAD;
    nargs = 0;

    for (q = ngx_queue_head(calls); q != ngx_queue_sentinel(calls); q = next) {
        next = ngx_queue_next(q);
        call = ngx_queue_data(q, ngx_http_cast_call_t, queue);

        if (call->handler == NULL) {
            ngx_queue_remove(q);
            ngx_http_cast_batch_call_put(call);
            continue;
        }

        if (answered) {
            if (call->recheck && call->recheck(call->data) != NGX_OK) {
                ngx_queue_remove(q);
                ngx_queue_insert_tail(answered, q);
                continue;
            }

            call->sent = ngx_current_msec;
        }

        if (call->off != end) {
            ngx_memmove(buf + end, buf + call->off, call->len);
            call->off = end;
        }

        end += call->len;
        nargs += call->nargs;
    }

    *len = end;

    return nargs;
}


/* the command's header written in buf's head room: where it starts */

u_char *
ngx_http_cast_batch_head(ngx_http_cast_batch_t *b, u_char *buf,
    ngx_uint_t nargs)
{
    u_char  head[NGX_HTTP_CAST_BATCH_HEAD], *p, *start;

    p = head;
    *p++ = '*';
    p = (u_char *) cast_dec((char *) p, nargs + 3);
    *p++ = '\r';
    *p++ = '\n';

    p = ngx_http_cast_redis_bulk(p, b->command.data, b->command.len);
    p = ngx_http_cast_redis_bulk(p, b->function.data, b->function.len);
    p = ngx_http_cast_redis_bulk(p, "0", 1);            /* numkeys */

    start = buf + NGX_HTTP_CAST_BATCH_HEAD - (p - head);
    ngx_memcpy(start, head, p - head);

    return start;
}


static ngx_http_cast_call_t *
ngx_http_cast_batch_call_get(void)
{
    ngx_queue_t  *q;

    if (ngx_queue_empty(&ngx_http_cast_batch_spare)) {
        return ngx_alloc(sizeof(ngx_http_cast_call_t), ngx_cycle->log);
    }

    q = ngx_queue_head(&ngx_http_cast_batch_spare);
    ngx_queue_remove(q);
    ngx_http_cast_batch_nspare--;

    return ngx_queue_data(q, ngx_http_cast_call_t, queue);
}


void
ngx_http_cast_batch_call_put(ngx_http_cast_call_t *call)
{
    if (ngx_http_cast_batch_nspare >= NGX_HTTP_CAST_SPARE_CALLS) {
        ngx_free(call);
        return;
    }

    ngx_queue_insert_head(&ngx_http_cast_batch_spare, &call->queue);
    ngx_http_cast_batch_nspare++;
}


void
ngx_http_cast_batch_exit(void)
{
    ngx_uint_t              i;
    ngx_queue_t            *q;
    ngx_http_cast_batch_t  *b;

    for (i = 0; i < NGX_HTTP_CAST_BATCH_KINDS; i++) {
        b = &ngx_http_cast_batches[i];

        if (b->flush.posted) {
            ngx_delete_posted_event(&b->flush);
        }

        if (b->buf) {
            ngx_free(b->buf);
            b->buf = NULL;
        }

        while (b->nspare) {
            ngx_free(b->spare[--b->nspare].data);
        }
    }

    while (!ngx_queue_empty(&ngx_http_cast_batch_spare)) {
        q = ngx_queue_head(&ngx_http_cast_batch_spare);
        ngx_queue_remove(q);
        ngx_http_cast_batch_nspare--;
        ngx_free(ngx_queue_data(q, ngx_http_cast_call_t, queue));
    }
}
