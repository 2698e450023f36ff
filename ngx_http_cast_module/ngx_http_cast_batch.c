
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
 *   votes    FCALL cast_vote_batch 0 <vote> <vote> ...   a reply per vote
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
 * (ngx_http_cast_redis_reader()); the transport sends one the replica
 * does not answer to the primary.
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
 * only the transport (ngx_http_cast_redis.c) and the metrics; it is
 * called by the resolvers (ngx_http_cast_field.c) and hears back from
 * the transport through its carrier's reply handler.
 */


#include "ngx_http_cast_module.h"


/* room kept in front of the arguments for the command's header */
#define NGX_HTTP_CAST_BATCH_HEAD     64
#define NGX_HTTP_CAST_BATCH_SIZE     16384
#define NGX_HTTP_CAST_BATCH_KEEP     (1024 * 1024)
#define NGX_HTTP_CAST_BATCH_DEPTH    2
#define NGX_HTTP_CAST_BATCH_FULL     65536
#define NGX_HTTP_CAST_SPARE_CALLS    1024

/*
 * A vote or query batch's reply has one element per call; a board or
 * watch batch's, one for all (the largest limit, every name asked); a cas
 * or state batch's, one for all, unless its calls carry arguments (a cas
 * with a client share): one element per call again.
 */
#define ngx_http_cast_batch_shared(kind, nargs)                              \
    ((kind) >= NGX_HTTP_CAST_BATCH_BOARD                                     \
     || ((kind) >= NGX_HTTP_CAST_BATCH_CAS && (nargs) == 0))

/*
 * The reads a replica may answer (cast_redis_replica_reads): query, cas,
 * board.  The state stays on the primary (/readyz says whether votes are
 * taken), the watch too (one call a tick per worker).
 */
#define ngx_http_cast_batch_read(kind)                                       \
    ((kind) == NGX_HTTP_CAST_BATCH_QUERY || (kind) == NGX_HTTP_CAST_BATCH_CAS \
     || (kind) == NGX_HTTP_CAST_BATCH_BOARD)


typedef struct {
    ngx_str_t                   command;
    ngx_str_t                   function;

    ngx_event_t                 flush;        /* posted while calls wait */
    ngx_queue_t                 calls;        /* waiting */
    u_char                     *buf;
    size_t                      len;          /* including the head room */
    size_t                      size;
    ngx_uint_t                  inflight;     /* sent, reply not in */
} ngx_http_cast_batch_t;


/*
 * A call: its reply goes to handler(data, reply), once, unless the caller
 * cancels it first.  The batch layer owns it until then and after.
 */
struct ngx_http_cast_call_s {
    ngx_queue_t                 queue;        /* batched, carried, spare */
    ngx_http_cast_reply_pt      handler;      /* NULL once cancelled */
    void                       *data;
    ngx_http_cast_recheck_pt    recheck;      /* NULL: sent as it is */
    ngx_msec_t                  sent;
    size_t                      off;          /* its arguments in its */
    size_t                      len;          /*   batch's buffer */
    ngx_uint_t                  nargs;
};


/* a sent batch: the command that carries its calls (and its WAIT) */
typedef struct {
    ngx_http_cast_redis_cmd_t   cmd;
    ngx_http_cast_wait_t        wait;
    ngx_queue_t                 calls;
    ngx_http_cast_batch_t      *batch;
    ngx_uint_t                  nargs;        /* its calls' arguments */
    ngx_uint_t                  link;         /* the connection it is on */
} ngx_http_cast_carrier_t;


static ngx_uint_t ngx_http_cast_batch_up(ngx_uint_t kind);
static ngx_int_t ngx_http_cast_batch_reserve(ngx_http_cast_batch_t *b,
    size_t need);
static ngx_int_t ngx_http_cast_batch_link(ngx_http_cast_batch_t *b,
    ngx_uint_t wait);
static void ngx_http_cast_batch_flush(ngx_event_t *ev);
static ngx_uint_t ngx_http_cast_batch_prune(ngx_http_cast_batch_t *b,
    ngx_queue_t *answered);
static void ngx_http_cast_batch_answered(ngx_queue_t *answered);
static void ngx_http_cast_batch_reply(void *data, redisReply *reply);
static void ngx_http_cast_batch_deliver(ngx_queue_t *calls,
    redisReply *reply, ngx_uint_t shared);
static void ngx_http_cast_batch_answer(ngx_http_cast_call_t *call,
    redisReply *reply);
static ngx_http_cast_call_t *ngx_http_cast_batch_call_get(void);
static void ngx_http_cast_batch_call_put(ngx_http_cast_call_t *call);


static ngx_http_cast_batch_t  ngx_http_cast_batches[] = {
    { ngx_string("FCALL"), ngx_string("cast_vote_batch"),
      { 0 }, { NULL, NULL }, NULL, 0, 0, 0 },
    { ngx_string("FCALL_RO"), ngx_string("cast_query_batch"),
      { 0 }, { NULL, NULL }, NULL, 0, 0, 0 },
    { ngx_string("FCALL_RO"), ngx_string("cast_cas"),
      { 0 }, { NULL, NULL }, NULL, 0, 0, 0 },
    { ngx_string("FCALL_RO"), ngx_string("cast_state"),
      { 0 }, { NULL, NULL }, NULL, 0, 0, 0 },
    { ngx_string("FCALL_RO"), ngx_string("cast_board"),
      { 0 }, { NULL, NULL }, NULL, 0, 0, 0 },
    { ngx_string("FCALL_RO"), ngx_string("cast_watch"),
      { 0 }, { NULL, NULL }, NULL, 0, 0, 0 },
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
        *p++ = '$';
        p = ngx_http_cast_digits(p, argvlen[i]);
        *p++ = '\r';
        *p++ = '\n';
        p = ngx_cpymem(p, argv[i], argvlen[i]);
        *p++ = '\r';
        *p++ = '\n';
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

    if (b->buf == NULL) {
        b->flush.handler = ngx_http_cast_batch_flush;
        b->flush.log = ngx_cycle->log;
        b->flush.data = b;
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
    u_char                    head[NGX_HTTP_CAST_BATCH_HEAD], *p, *start;
    size_t                    len;
    ngx_int_t                 link;
    ngx_uint_t                nargs;
    ngx_queue_t               calls, answered;
    ngx_uint_t                wait;
    ngx_http_cast_carrier_t  *carrier;
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_http_cast_batch_t    *b = ev->data;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_cast_module);
    wait = (b == &ngx_http_cast_batches[NGX_HTTP_CAST_BATCH_VOTE]
            && cmcf->min_replicas > 0);

    if (ngx_queue_empty(&b->calls)) {
        return;
    }

    link = ngx_http_cast_batch_link(b, wait);

    if (link == NGX_AGAIN) {
        return;
    }

    ngx_queue_init(&answered);

    nargs = ngx_http_cast_batch_prune(b, &answered);

    if (ngx_queue_empty(&b->calls)) {
        ngx_http_cast_batch_answered(&answered);
        return;
    }

    p = ngx_sprintf(head, "*%ui\r\n$%uz\r\n%V\r\n$%uz\r\n%V\r\n$1\r\n0\r\n",
                    nargs + 3, b->command.len, &b->command,
                    b->function.len, &b->function);

    start = b->buf + NGX_HTTP_CAST_BATCH_HEAD - (p - head);
    ngx_memcpy(start, head, p - head);
    len = b->buf + b->len - start;

    /*
     * The batch is emptied before it is sent: hiredis copies the command
     * at once, and a call that fails at once may have its request resolve
     * more, which starts the next batch.
     */

    ngx_queue_init(&calls);
    ngx_queue_add(&calls, &b->calls);
    ngx_queue_init(&b->calls);

    b->len = NGX_HTTP_CAST_BATCH_HEAD;

    /* a carrier that cannot be sent: each call gets no reply at once */
    carrier = ngx_alloc(sizeof(ngx_http_cast_carrier_t), ngx_cycle->log);

    if (carrier == NULL) {
        ngx_http_cast_batch_deliver(&calls, NULL, 0);

    } else {
        carrier->cmd.handler = ngx_http_cast_batch_reply;
        carrier->cmd.data = carrier;
        carrier->batch = b;
        carrier->nargs = nargs;
        carrier->link = (link == NGX_DECLINED) ? 0 : link;

        if (wait) {
            ngx_http_cast_wait_hold(&carrier->wait, &carrier->cmd);
        }

        ngx_queue_init(&carrier->calls);
        ngx_queue_add(&carrier->calls, &calls);

        if (link != NGX_DECLINED
            && ngx_http_cast_redis_send(link, &carrier->cmd, (char *) start,
                                        len)
               == NGX_OK)
        {
            b->inflight++;
            ngx_http_cast_batch_busy[link]++;

            if (wait) {
                ngx_http_cast_wait_send(&carrier->wait, carrier->link);
            }

        } else {
            ngx_http_cast_batch_deliver(&carrier->calls, NULL, 0);
            ngx_free(carrier);
        }
    }

    ngx_http_cast_batch_answered(&answered);

    if (b->size > NGX_HTTP_CAST_BATCH_KEEP && ngx_queue_empty(&b->calls)) {
        ngx_free(b->buf);
        b->buf = NULL;
        b->size = 0;
    }
}


/*
 * The connection a batch leaves on: 0 (a read: the replica's while it is
 * there), at most NGX_HTTP_CAST_BATCH_DEPTH batches of a kind in flight.
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

        return ngx_http_cast_batch_read(b - ngx_http_cast_batches)
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
 * Drops the calls cancelled (their request is gone), moves those that
 * answered themselves on a recheck to answered, and closes up the
 * arguments of the others; what is left leaves now, and its time in
 * Redis starts.  Returns how many arguments are left.
 */

static ngx_uint_t
ngx_http_cast_batch_prune(ngx_http_cast_batch_t *b, ngx_queue_t *answered)
{
    size_t                len;
    ngx_uint_t            nargs;
    ngx_queue_t          *q, *next;
    ngx_http_cast_call_t  *call;

    len = NGX_HTTP_CAST_BATCH_HEAD;
    nargs = 0;

    for (q = ngx_queue_head(&b->calls);
         q != ngx_queue_sentinel(&b->calls);
         q = next)
    {
        next = ngx_queue_next(q);
        call = ngx_queue_data(q, ngx_http_cast_call_t, queue);

        if (call->handler == NULL) {
            ngx_queue_remove(q);
            ngx_http_cast_batch_call_put(call);
            continue;
        }

        if (call->recheck && call->recheck(call->data) != NGX_OK) {
            ngx_queue_remove(q);
            ngx_queue_insert_tail(answered, q);
            continue;
        }

        if (call->off != len) {
            ngx_memmove(b->buf + len, b->buf + call->off, call->len);
            call->off = len;
        }

        len += call->len;
        nargs += call->nargs;
        call->sent = ngx_current_msec;
    }

    b->len = len;

    return nargs;
}


/*
 * The calls that answered themselves on a recheck get no reply, once
 * their batch is out (their handlers may add calls to it again), unless
 * their caller went away meanwhile; none of them spent time in Redis.
 */

static void
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
 * may leave, and each call gets its part.
 */

static void
ngx_http_cast_batch_reply(void *data, redisReply *reply)
{
    ngx_uint_t                kind;
    ngx_http_cast_carrier_t  *carrier = data;
    ngx_http_cast_batch_t    *b = carrier->batch;

    b->inflight--;
    ngx_http_cast_batch_busy[carrier->link]--;

    if (!ngx_queue_empty(&b->calls) && !b->flush.posted) {
        ngx_post_event(&b->flush, &ngx_posted_events);
    }

    kind = b - ngx_http_cast_batches;

    ngx_http_cast_batch_deliver(&carrier->calls, reply,
                                ngx_http_cast_batch_shared(kind,
                                                           carrier->nargs));
    ngx_free(carrier);
}


/*
 * A batch's reply: the n-th element to the n-th call, or the whole reply
 * to every call when they share it.  An error or no reply at all goes to
 * every call; a call the array lacks gets an error.
 */

static void
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

        if (!shared && reply && reply->type == REDIS_REPLY_ARRAY) {
            e = (i < reply->elements) ? reply->element[i] : &missing;
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


static void
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
    }

    while (!ngx_queue_empty(&ngx_http_cast_batch_spare)) {
        q = ngx_queue_head(&ngx_http_cast_batch_spare);
        ngx_queue_remove(q);
        ngx_http_cast_batch_nspare--;
        ngx_free(ngx_queue_data(q, ngx_http_cast_call_t, queue));
    }
}


/*
 * n in decimal, at most NGX_INT64_LEN bytes: a vote's arguments and their
 * RESP lengths are a dozen numbers, and ngx_sprintf() parses its format
 * for each (some 230 instructions a number against 20 here).
 */

u_char *
ngx_http_cast_digits(u_char *p, uint64_t n)
{
    u_char   tmp[NGX_INT64_LEN], *t;

    t = tmp + NGX_INT64_LEN;

    do {
        *--t = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, t, tmp + NGX_INT64_LEN - t);
}
