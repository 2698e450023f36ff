
/*
 * Copyright (C) CAST developers
 *
 * The resolvers of the root fields, query, cas and vote, and of the
 * readiness probe's state.  Input is checked here, before anything
 * reaches Redis, so a malformed call consumes nothing; Redis
 * (lib/redis/cast.lua) stays the only authority that accepts a ticket.
 *
 * A resolver resolves one field: it builds the field's call, parses its
 * reply into the field's slot, and tells its caller the field is finished
 * by its return value (NGX_DONE) or later through field->done (after
 * NGX_AGAIN).  Which field runs when is the caller's (the request,
 * ngx_http_cast_handler.c).  It calls only the batch layer
 * (ngx_http_cast_batch.c) and the metrics, and hears back from the batch
 * through its calls' reply handler.
 *
 * A spent ticket is refused here too.  With 100 uses per ticket and
 * thousands of clients racing for them, almost every vote of a period is
 * refused as "Ticket usage limit exceeded" once the uses are gone: the
 * thundering herd.  A ticket's uses only grow (cast_mint writes a ticket
 * once, with used = 0, under bytes holding a fresh random nonce, and
 * nothing ever lowers used), so once Redis has said EXHAUSTED for a
 * ticket it says so for every later vote carrying those bytes, until the
 * ticket stops being usable: its period ends (or, as the previous
 * ticket, its grace).  Redis tells how long that is at least, in ms, with
 * its refusal, and the worker keeps the last two such tickets and their
 * deadlines, counted from when the refused call was made (no later than
 * Redis read its clock).  Until then a vote carrying one is refused
 * here, the same answer and the same metrics outcome as Redis's, and
 * Redis sees a handful of calls per worker per spent ticket (the ones in
 * flight when the first refusal came back) instead of the whole herd.
 * Like the other refusals here, it needs no Redis: a worker cut off from
 * Redis still refuses a ticket it knows is spent.
 * The deadline, not a newer sequence, ends the memory: a spent ticket
 * answers EXHAUSTED through its grace, then "Ticket expired", which is
 * Redis's to say again.  A vote refused because its client's share of
 * the ticket is used up (cast_client_uses) says nothing of the ticket,
 * which other clients may still use: it is learnt for that client and
 * ticket only, with the same deadline, and refused here the same way.
 * What is remembered, and how much: ngx_http_cast_memo.c.
 * Only refusals are made here, so the exact
 * limit is Redis's as before; a vote with an idempotencyKey always
 * reaches Redis, which may hold its first result.  What could make
 * Redis answer otherwise before the deadline is outside the rules: a
 * Redis that lost acknowledged writes (a restart without them, a
 * failover to a lagging replica) or a minter whose clock or period
 * changed by a period or more; the worker then refuses as spent, for at
 * most the rest of that one period, a ticket Redis would refuse
 * otherwise (or accept again, after losing its uses).
 */


#include "ngx_http_cast_module.h"
#include "cast_name.h"
#include "cast_ticket.h"


#define NGX_HTTP_CAST_VOTE_FIXED_ARGS  7


static ngx_int_t ngx_http_cast_resolve_query(ngx_http_cast_field_t *field);
static ngx_int_t ngx_http_cast_resolve_cas(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_resolve_vote(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_resolve_board(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_resolve_call(ngx_http_cast_field_t *field,
    ngx_uint_t kind, ngx_http_cast_parse_pt parse, int argc,
    const char **argv, const size_t *argvlen);
static void ngx_http_cast_resolve_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_cast_vote_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_ticket_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf, uint64_t *seq);
static ngx_uint_t ngx_http_cast_ticket_authentic(cast_ticket_t *t,
    ngx_http_cast_main_conf_t *cmcf);
static void ngx_http_cast_query_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_cas_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_vote_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_state_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_board_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static ngx_int_t ngx_http_cast_reply_error(cast_gql_slot_t *slot,
    ngx_pool_t *pool, redisReply *reply);
static void ngx_http_cast_reject(cast_gql_slot_t *slot, ngx_uint_t outcome,
    const char *message);
static void ngx_http_cast_bad_input(cast_gql_slot_t *slot,
    const char *message);
static void ngx_http_cast_fail(cast_gql_slot_t *slot, const char *code,
    const char *message, ngx_uint_t outcome);
static ngx_int_t ngx_http_cast_copy(ngx_pool_t *pool, cast_str_t *dst,
    redisReply *src);
static void ngx_http_cast_learn_seq(uint64_t seq);
static void ngx_http_cast_learn_from_id(redisReply *id);


/* the newest ticket sequence this worker has seen accepted or served */
static uint64_t  ngx_http_cast_known_seq;

/* the last ticket whose MAC checked out: the next votes carry it too */
static u_char    ngx_http_cast_verified[CAST_TICKET_RAW_LEN];
static unsigned  ngx_http_cast_verified_set;


/*
 * Resolves one field: NGX_DONE when it is finished at once (refused
 * input, or a call that could not be made: the slot says which), or
 * NGX_AGAIN when its call waits for Redis, and field->done is called once
 * the reply is in the slot.
 */

ngx_int_t
ngx_http_cast_resolve(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf)
{
    switch (field->slot->kind) {

    case CAST_FIELD_QUERY:
        return ngx_http_cast_resolve_query(field);

    case CAST_FIELD_CAS:
        return ngx_http_cast_resolve_cas(field, cmcf);

    case CAST_FIELD_VOTE:
        return ngx_http_cast_resolve_vote(field, cmcf);

    case CAST_FIELD_TOP:
    case CAST_FIELD_TOTAL:
        return ngx_http_cast_resolve_board(field, cmcf);

    case CAST_FIELD_SCORES:
        /* a subscription's only: ngx_http_cast_sse.c */
        ngx_http_cast_resolve_unavailable(field->slot, "not a query field");
        return NGX_DONE;
    }

    return NGX_DONE;
}


/*
 * Whether top(limit:) is within cast_max_top_limit: NGX_OK, or the slot
 * holds the error (a subscription's is checked with this too).
 */

ngx_int_t
ngx_http_cast_resolve_limit(cast_gql_slot_t *slot, ngx_pool_t *pool,
    ngx_http_cast_main_conf_t *cmcf)
{
    u_char  *p, *last;
    size_t   len;

    if (slot->kind != CAST_FIELD_TOP
        || (slot->limit >= 0 && slot->limit <= (int64_t) cmcf->max_top_limit))
    {
        return NGX_OK;
    }

    len = sizeof("limit must be between 0 and  (cast_max_top_limit)")
          + NGX_SIZE_T_LEN;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        ngx_http_cast_resolve_unavailable(slot, "out of memory");
        return NGX_ERROR;
    }

    last = ngx_slprintf(p, p + len - 1, "limit must be between 0 and %uz "
                        "(cast_max_top_limit)", cmcf->max_top_limit);
    *last = '\0';

    ngx_http_cast_bad_input(slot, (char *) p);

    return NGX_ERROR;
}


/* top and totalVotes: the round's calls share one cast_board */

static ngx_int_t
ngx_http_cast_resolve_board(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf)
{
    u_char           *p;
    size_t            len;
    const char       *arg;
    cast_gql_slot_t  *slot = field->slot;

    if (ngx_http_cast_resolve_limit(slot, field->pool, cmcf) != NGX_OK) {
        return NGX_DONE;
    }

    p = ngx_pnalloc(field->pool, NGX_INT64_LEN);
    if (p == NULL) {
        ngx_http_cast_resolve_unavailable(slot, "out of memory");
        return NGX_DONE;
    }

    len = ngx_sprintf(p, "%L", slot->kind == CAST_FIELD_TOP ? slot->limit : 0)
          - p;
    arg = (const char *) p;

    return ngx_http_cast_resolve_call(field, NGX_HTTP_CAST_BATCH_BOARD,
                                      ngx_http_cast_board_reply, 1, &arg,
                                      &len);
}


/* the readiness probe's state, as ngx_http_cast_resolve() resolves */

ngx_int_t
ngx_http_cast_resolve_state(ngx_http_cast_field_t *field)
{
    return ngx_http_cast_resolve_call(field, NGX_HTTP_CAST_BATCH_STATE,
                                      ngx_http_cast_state_reply, 0, NULL,
                                      NULL);
}


/* the field's caller goes away: a reply still due is dropped */

void
ngx_http_cast_resolve_cancel(ngx_http_cast_field_t *field)
{
    if (field->call) {
        ngx_http_cast_batch_cancel(field->call);
        field->call = NULL;
    }
}


static ngx_int_t
ngx_http_cast_resolve_query(ngx_http_cast_field_t *field)
{
    cast_gql_slot_t  *slot = field->slot;

    if (!cast_name_valid(slot->username.data, slot->username.len,
                         NGX_HTTP_CAST_NAME_MAX))
    {
        ngx_http_cast_bad_input(slot, "username must be 1 to 64 bytes of "
                                "UTF-8 without control characters");
        return NGX_DONE;
    }

    return ngx_http_cast_resolve_call(field, NGX_HTTP_CAST_BATCH_QUERY,
                                      ngx_http_cast_query_reply, 1,
                                      &slot->username.data,
                                      &slot->username.len);
}


/*
 * With a client share, each cas call carries "client share" and gets its
 * own reply, with the uses left to that client; a request without a
 * client key carries share 0 and is told null.  Without a share the calls
 * carry nothing and share one reply.
 */

static ngx_int_t
ngx_http_cast_resolve_cas(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf)
{
    u_char       *p;
    size_t       *argvlen;
    const char  **argv;

    if (cmcf->client_uses == 0) {
        return ngx_http_cast_resolve_call(field, NGX_HTTP_CAST_BATCH_CAS,
                                          ngx_http_cast_cas_reply, 0, NULL,
                                          NULL);
    }

    argv = ngx_palloc(field->pool, 2 * sizeof(char *));
    argvlen = ngx_palloc(field->pool, 2 * sizeof(size_t));
    p = ngx_pnalloc(field->pool, NGX_INT_T_LEN);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        ngx_http_cast_resolve_unavailable(field->slot, "out of memory");
        return NGX_DONE;
    }

    argv[0] = field->client.len ? (char *) field->client.data : "";
    argvlen[0] = field->client.len;
    argv[1] = (char *) p;
    argvlen[1] = ngx_sprintf(p, "%ui", field->client.len ? cmcf->client_uses
                                                         : 0)
                 - p;

    return ngx_http_cast_resolve_call(field, NGX_HTTP_CAST_BATCH_CAS,
                                      ngx_http_cast_cas_reply, 2, argv,
                                      argvlen);
}


static ngx_int_t
ngx_http_cast_resolve_vote(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf)
{
    int               argc;
    u_char           *p, *last, *buf;
    size_t            i, *argvlen;
    uint64_t          seq;
    const char      **argv;
    ngx_pool_t       *pool = field->pool;
    cast_gql_slot_t  *slot = field->slot;

    if (ngx_http_cast_vote_check(slot, cmcf) != NGX_OK) {
        return NGX_DONE;
    }

    /*
     * A share needs a client to count against: a request without a key
     * (a header the proxy should have set, say) is refused, never put in
     * one bucket that every keyless client would share.
     */
    if (cmcf->client_uses && field->client.len == 0) {
        ngx_http_cast_fail(slot, "BAD_REQUEST", "the request has no client "
                           "key (cast_client_key is empty), so its vote "
                           "cannot count against a client's share",
                           NGX_HTTP_CAST_VOTE_BAD_INPUT);
        return NGX_DONE;
    }

    if (ngx_http_cast_ticket_check(slot, cmcf, &seq) != NGX_OK) {
        return NGX_DONE;
    }

    /* a share Redis said this client used up, as a spent ticket above */
    if (cmcf->client_uses && slot->idempotency_key.data == NULL
        && ngx_http_cast_memo_share((const u_char *) slot->ticket.data,
                                    &field->client))
    {
        ngx_http_cast_reject(slot, NGX_HTTP_CAST_VOTE_SHARE,
                             "Client share of this ticket used up");
        return NGX_DONE;
    }

    argc = NGX_HTTP_CAST_VOTE_FIXED_ARGS + 2 * slot->nusernames;

    argv = ngx_palloc(pool, argc * sizeof(char *));
    argvlen = ngx_palloc(pool, argc * sizeof(size_t));

    /* room for the seq, the share, n and every count as decimal text */
    buf = ngx_pnalloc(pool, (3 + slot->nusernames) * NGX_INT64_LEN);

    if (argv == NULL || argvlen == NULL || buf == NULL) {
        ngx_http_cast_resolve_unavailable(slot, "out of memory");
        return NGX_DONE;
    }

    argv[0] = slot->ticket.data;
    argvlen[0] = slot->ticket.len;
    argv[1] = slot->voter.data ? slot->voter.data : "";
    argvlen[1] = slot->voter.len;
    argv[2] = slot->idempotency_key.data ? slot->idempotency_key.data : "";
    argvlen[2] = slot->idempotency_key.len;

    p = buf;

    last = ngx_sprintf(p, "%uL", seq);
    argv[3] = (char *) p;
    argvlen[3] = last - p;
    p = last;

    /* the client and its share of the ticket: "" and 0 when none */
    argv[4] = cmcf->client_uses ? (char *) field->client.data : "";
    argvlen[4] = cmcf->client_uses ? field->client.len : 0;

    last = ngx_sprintf(p, "%ui", cmcf->client_uses);
    argv[5] = (char *) p;
    argvlen[5] = last - p;
    p = last;

    last = ngx_sprintf(p, "%uz", slot->nusernames);
    argv[6] = (char *) p;
    argvlen[6] = last - p;
    p = last;

    for (i = 0; i < slot->nusernames; i++) {
        argv[7 + 2 * i] = slot->usernames[i].data;
        argvlen[7 + 2 * i] = slot->usernames[i].len;

        last = ngx_sprintf(p, "%L", slot->counts ? slot->counts[i] : 1);
        argv[8 + 2 * i] = (char *) p;
        argvlen[8 + 2 * i] = last - p;
        p = last;
    }

    field->asked = ngx_current_msec;

    return ngx_http_cast_resolve_call(field, NGX_HTTP_CAST_BATCH_VOTE,
                                      ngx_http_cast_vote_reply, argc, argv,
                                      argvlen);
}


/* the field's call joins its batch; one that cannot is UNAVAILABLE */

static ngx_int_t
ngx_http_cast_resolve_call(ngx_http_cast_field_t *field, ngx_uint_t kind,
    ngx_http_cast_parse_pt parse, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_int_t  rc;

    rc = ngx_http_cast_batch_add(kind, argc, argv, argvlen,
                                 ngx_http_cast_resolve_reply, field,
                                 &field->call);

    if (rc != NGX_OK) {
        ngx_http_cast_resolve_unavailable(field->slot,
                                          rc == NGX_ERROR
                                          ? "out of memory"
                                          : "redis not connected");
        return NGX_DONE;
    }

    field->parse = parse;

    return NGX_AGAIN;
}


/* the field's reply (or none): into its slot, and the field is finished */

static void
ngx_http_cast_resolve_reply(void *data, redisReply *reply)
{
    ngx_http_cast_field_t  *field = data;

    field->call = NULL;

    field->parse(field, reply);
    field->done(field);
}


/*
 * Every vote field is a function call with its own ticket use: a request
 * holding more than cast_max_vote_fields of them is refused whole, before
 * any is sent (its first vote field carries the error): NGX_DECLINED,
 * and no field of the request is to be resolved.
 */

ngx_int_t
ngx_http_cast_resolve_check(cast_gql_exec_t *exec, ngx_pool_t *pool,
    ngx_http_cast_main_conf_t *cmcf)
{
    u_char           *p, *last;
    size_t            i, n, len;
    cast_gql_slot_t  *first;

    n = 0;
    first = NULL;

    for (i = 0; i < exec->nslots; i++) {
        if (exec->slots[i].kind == CAST_FIELD_VOTE) {
            first = first ? first : &exec->slots[i];
            n++;
        }
    }

    if (n <= cmcf->max_vote_fields) {
        return NGX_OK;
    }

    len = sizeof("a request may hold at most  vote fields "
                 "(cast_max_vote_fields)") + NGX_SIZE_T_LEN;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        ngx_http_cast_resolve_unavailable(first, "out of memory");
        return NGX_DECLINED;
    }

    last = ngx_slprintf(p, p + len - 1, "a request may hold at most %uz "
                        "vote fields (cast_max_vote_fields)",
                        cmcf->max_vote_fields);
    *last = '\0';

    ngx_http_cast_fail(first, "BAD_REQUEST", (char *) p,
                       NGX_HTTP_CAST_VOTE_BAD_INPUT);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_cast_vote_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf)
{
    size_t  i;

    if (slot->nusernames == 0 || slot->nusernames > cmcf->max_usernames) {
        ngx_http_cast_bad_input(slot, "usernames must hold 1 to "
                                "cast_max_usernames names");
        return NGX_DECLINED;
    }

    for (i = 0; i < slot->nusernames; i++) {
        if (!cast_name_valid(slot->usernames[i].data,
                             slot->usernames[i].len, NGX_HTTP_CAST_NAME_MAX))
        {
            ngx_http_cast_bad_input(slot, "each username must be 1 to 64 "
                                    "bytes of UTF-8 without control "
                                    "characters");
            return NGX_DECLINED;
        }
    }

    if (slot->counts) {
        if (slot->ncounts != slot->nusernames) {
            ngx_http_cast_bad_input(slot, "voteCount must have one entry "
                                    "per username");
            return NGX_DECLINED;
        }

        for (i = 0; i < slot->ncounts; i++) {
            if (slot->counts[i] < 1
                || slot->counts[i] > (int64_t) cmcf->max_vote_count)
            {
                ngx_http_cast_bad_input(slot, "each voteCount must be "
                                        "between 1 and cast_max_vote_count");
                return NGX_DECLINED;
            }
        }
    }

    if (slot->voter.data
        && !cast_name_valid(slot->voter.data, slot->voter.len,
                            NGX_HTTP_CAST_NAME_MAX))
    {
        ngx_http_cast_bad_input(slot, "voterUsername must be 1 to 64 bytes "
                                "of UTF-8 without control characters");
        return NGX_DECLINED;
    }

    if (slot->idempotency_key.data
        && (slot->idempotency_key.len == 0
            || slot->idempotency_key.len > NGX_HTTP_CAST_IDEM_MAX))
    {
        ngx_http_cast_bad_input(slot, "idempotencyKey must be 1 to 128 "
                                "bytes");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Tickets that cannot be valid are refused here, without Redis: malformed
 * ones, ones with a bad MAC when the secret is known, and ones older than
 * the previous ticket this worker already knows of (the grace window may
 * still accept that one), and a ticket Redis has just refused as spent
 * (see the top of this file).  An old or spent but authentic ticket with
 * an idempotency key still goes to Redis: a retry there gets the first
 * call's result, whatever the ticket's age or uses, and any other call is
 * refused by Redis itself.
 */

static ngx_int_t
ngx_http_cast_ticket_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf, uint64_t *seq)
{
    cast_ticket_t  t;

    if (cast_ticket_decode(slot->ticket.data, slot->ticket.len, &t) != 0) {
        ngx_http_cast_reject(slot, NGX_HTTP_CAST_VOTE_INVALID,
                             "Invalid ticket");
        return NGX_DECLINED;
    }

    if (!ngx_http_cast_ticket_authentic(&t, cmcf)) {
        ngx_http_cast_reject(slot, NGX_HTTP_CAST_VOTE_INVALID,
                             "Invalid ticket");
        return NGX_DECLINED;
    }

    if (t.seq + 1 < ngx_http_cast_known_seq
        && slot->idempotency_key.data == NULL)
    {
        ngx_http_cast_reject(slot, NGX_HTTP_CAST_VOTE_EXPIRED,
                             "Ticket expired");
        return NGX_DECLINED;
    }

    if (slot->idempotency_key.data == NULL
        && ngx_http_cast_memo_spent((const u_char *) slot->ticket.data))
    {
        ngx_http_cast_reject(slot, NGX_HTTP_CAST_VOTE_EXHAUSTED,
                             "Ticket usage limit exceeded");
        return NGX_DECLINED;
    }

    *seq = t.seq;

    return NGX_OK;
}


/*
 * Whether the ticket's MAC checks out (always, without a secret).  The
 * last ticket that did is remembered: the votes that follow carry it too.
 */

static ngx_uint_t
ngx_http_cast_ticket_authentic(cast_ticket_t *t,
    ngx_http_cast_main_conf_t *cmcf)
{
    if (cmcf->ticket_secret.len == 0
        || (ngx_http_cast_verified_set
            && ngx_memcmp(t->raw, ngx_http_cast_verified,
                          CAST_TICKET_RAW_LEN) == 0))
    {
        return 1;
    }

    if (!cast_ticket_verify(t, cmcf->ticket_secret.data,
                            cmcf->ticket_secret.len))
    {
        return 0;
    }

    ngx_memcpy(ngx_http_cast_verified, t->raw, CAST_TICKET_RAW_LEN);
    ngx_http_cast_verified_set = 1;

    return 1;
}


static void
ngx_http_cast_query_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    cast_gql_slot_t  *slot = field->slot;

    if (ngx_http_cast_reply_error(slot, field->pool, reply) != NGX_OK)
    {
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_cast_resolve_unavailable(slot, "unexpected redis reply");
        return;
    }

    slot->status = CAST_RES_OK;
    slot->count = reply->integer;
}


static void
ngx_http_cast_cas_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    ngx_int_t         rc;
    cast_gql_slot_t  *slot = field->slot;

    if (ngx_http_cast_reply_error(slot, field->pool, reply) != NGX_OK) {
        return;
    }

    rc = ngx_http_cast_resolve_ticket(slot, field->pool, reply);

    if (rc != NGX_OK) {
        ngx_http_cast_resolve_unavailable(slot, rc == NGX_DECLINED
                                                ? "unexpected redis reply"
                                                : "out of memory");
    }
}


/*
 * cast_cas's {id, expires_ms, remaining, seq} into the slot, copied into
 * pool, with a fifth element when the call carried a client share (the
 * client's uses left, -1 for none): NGX_OK, NGX_DECLINED on a malformed
 * reply, NGX_ERROR out of memory.  The slot's status is the caller's.
 */

ngx_int_t
ngx_http_cast_resolve_ticket(cast_gql_slot_t *slot, ngx_pool_t *pool,
    redisReply *reply)
{
    u_char    *p;
    size_t     len;
    int64_t    ms;
    ngx_tm_t   tm;

    if (reply->type != REDIS_REPLY_ARRAY
        || (reply->elements != 4 && reply->elements != 5)
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_INTEGER
        || reply->element[3]->type != REDIS_REPLY_INTEGER
        || (reply->elements == 5
            && reply->element[4]->type != REDIS_REPLY_INTEGER)
        || reply->element[1]->integer < 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_cast_copy(pool, &slot->ticket_out, reply->element[0])
        != NGX_OK)
    {
        return reply->element[0]->type == REDIS_REPLY_STRING ? NGX_ERROR
                                                             : NGX_DECLINED;
    }

    len = sizeof("+275760-09-13T00:00:00.000Z") - 1;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ms = reply->element[1]->integer;
    ngx_gmtime(ms / 1000, &tm);

    slot->valid_until.data = (char *) p;
    slot->valid_until.len =
        ngx_slprintf(p, p + len, "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                     tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                     (int) (ms % 1000))
        - p;

    slot->remaining = reply->element[2]->integer;
    slot->status = CAST_RES_OK;

    if (reply->elements == 5 && reply->element[4]->integer >= 0) {
        slot->client_remaining = reply->element[4]->integer;
        slot->has_client_remaining = 1;
    }

    ngx_http_cast_learn_seq(reply->element[3]->integer);

    return NGX_OK;
}


static void
ngx_http_cast_vote_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    size_t            i, n;
    redisReply      **e;
    cast_gql_slot_t  *slot = field->slot;
    ngx_pool_t       *pool = field->pool;

    if (ngx_http_cast_reply_error(slot, pool, reply) != NGX_OK) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->elements % 2 == 0
        || reply->element[0]->type != REDIS_REPLY_STRING
        || ngx_http_cast_copy(pool, &slot->message, reply->element[1])
           != NGX_OK)
    {
        ngx_http_cast_resolve_unavailable(slot, "unexpected redis reply");
        return;
    }

    e = reply->element;

    if (ngx_strcmp(e[0]->str, "OK") != 0) {
        slot->status = CAST_RES_OK;
        slot->success = 0;

        if (ngx_strcmp(e[0]->str, "EXHAUSTED") == 0) {
            ngx_http_cast_metrics_vote(NGX_HTTP_CAST_VOTE_EXHAUSTED);

            if (e[2]->type == REDIS_REPLY_INTEGER
                && slot->ticket.len == CAST_TICKET_LEN)
            {
                ngx_http_cast_memo_learn_spent(
                    (const u_char *) slot->ticket.data, field->asked,
                    e[2]->integer);
            }

            return;
        }

        /*
         * This client's share is used up, not the ticket: learnt for the
         * client only.  (An older library says nothing of how long.)
         */
        if (ngx_strcmp(e[0]->str, "SHARE") == 0) {
            ngx_http_cast_metrics_vote(NGX_HTTP_CAST_VOTE_SHARE);

            if (e[2]->type == REDIS_REPLY_INTEGER
                && slot->ticket.len == CAST_TICKET_LEN)
            {
                ngx_http_cast_memo_learn_share(
                    (const u_char *) slot->ticket.data, &field->client,
                    field->asked, e[2]->integer);
            }

            return;
        }

        ngx_http_cast_metrics_vote(ngx_strcmp(e[0]->str, "EXPIRED") == 0
                                   ? NGX_HTTP_CAST_VOTE_EXPIRED
                                   : NGX_HTTP_CAST_VOTE_INVALID);
        return;
    }

    n = (reply->elements - 3) / 2;

    slot->out_usernames = ngx_palloc(pool, n * sizeof(cast_str_t));
    slot->out_votes = ngx_palloc(pool, n * sizeof(int64_t));

    if (slot->out_usernames == NULL || slot->out_votes == NULL) {
        ngx_http_cast_resolve_unavailable(slot, "out of memory");
        return;
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_cast_copy(pool, &slot->out_usernames[i], e[3 + 2 * i])
            != NGX_OK
            || e[4 + 2 * i]->type != REDIS_REPLY_INTEGER)
        {
            ngx_http_cast_resolve_unavailable(slot, "unexpected redis reply");
            return;
        }

        slot->out_votes[i] = e[4 + 2 * i]->integer;
    }

    slot->nout = n;
    slot->success = 1;
    slot->status = CAST_RES_OK;

    ngx_http_cast_metrics_vote(NGX_HTTP_CAST_VOTE_ACCEPTED);
    ngx_http_cast_learn_from_id(e[2]);
}


/* ready: Redis answers, counts are complete and a current ticket exists */

static void
ngx_http_cast_state_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    cast_gql_slot_t  *slot = field->slot;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2)
    {
        ngx_http_cast_resolve_unavailable(slot, "redis not answering");
        return;
    }

    slot->status = CAST_RES_OK;
    slot->success = reply->element[0]->integer == 1
                    && reply->element[1]->integer == 1;
}


/* {totalVotes, {name1, count1, ...}} of the largest limit asked */

static void
ngx_http_cast_board_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    cast_gql_slot_t  *slot = field->slot;

    if (ngx_http_cast_reply_error(slot, field->pool, reply) != NGX_OK) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || ngx_http_cast_resolve_scores(slot, field->pool, reply->element[1],
                                        slot->kind == CAST_FIELD_TOP
                                        ? (size_t) slot->limit : 0)
           != NGX_OK)
    {
        ngx_http_cast_resolve_unavailable(slot, "unexpected redis reply");
        return;
    }

    slot->count = reply->element[0]->integer;
    slot->status = CAST_RES_OK;
}


/*
 * The first n pairs of a flat {name, count, ...} reply into the slot's
 * scores, copied into pool; NGX_ERROR on a malformed reply.
 */

ngx_int_t
ngx_http_cast_resolve_scores(cast_gql_slot_t *slot, ngx_pool_t *pool,
    redisReply *flat, size_t n)
{
    size_t  i;

    if (flat->type != REDIS_REPLY_ARRAY || flat->elements % 2) {
        return NGX_ERROR;
    }

    n = ngx_min(n, flat->elements / 2);

    slot->nout = 0;

    if (n == 0) {
        return NGX_OK;
    }

    slot->out_usernames = ngx_palloc(pool, n * sizeof(cast_str_t));
    slot->out_votes = ngx_palloc(pool, n * sizeof(int64_t));

    if (slot->out_usernames == NULL || slot->out_votes == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_cast_copy(pool, &slot->out_usernames[i],
                               flat->element[2 * i])
            != NGX_OK
            || flat->element[2 * i + 1]->type != REDIS_REPLY_INTEGER)
        {
            return NGX_ERROR;
        }

        slot->out_votes[i] = flat->element[2 * i + 1]->integer;
    }

    slot->nout = n;

    return NGX_OK;
}


/* no reply (connection lost) or an error reply: UNAVAILABLE */

static ngx_int_t
ngx_http_cast_reply_error(cast_gql_slot_t *slot, ngx_pool_t *pool,
    redisReply *reply)
{
    u_char  *why;

    if (reply == NULL) {
        ngx_http_cast_resolve_unavailable(slot, "redis connection lost");
        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ERROR) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "cast: redis: %s",
                  reply->str);

    if (ngx_strncmp(reply->str, "UNAVAILABLE ", 12) == 0) {
        /* the reply is freed after the callback: keep the words */
        why = ngx_pnalloc(pool, reply->len - 12 + 1);
        if (why == NULL) {
            ngx_http_cast_resolve_unavailable(slot, "out of memory");
            return NGX_ERROR;
        }

        ngx_memcpy(why, reply->str + 12, reply->len - 12);
        why[reply->len - 12] = '\0';

        ngx_http_cast_resolve_unavailable(slot, (char *) why);

    } else {
        ngx_http_cast_resolve_unavailable(slot, "redis refused the command");
    }

    return NGX_ERROR;
}


void
ngx_http_cast_resolve_unavailable(cast_gql_slot_t *slot, const char *why)
{
    ngx_http_cast_fail(slot, "UNAVAILABLE", why,
                       NGX_HTTP_CAST_VOTE_UNAVAILABLE);
}


/* a GraphQL error for the field; for a vote, its outcome counted */

static void
ngx_http_cast_fail(cast_gql_slot_t *slot, const char *code,
    const char *message, ngx_uint_t outcome)
{
    slot->status = CAST_RES_ERROR;
    slot->error_code = code;
    slot->error_message.data = message;
    slot->error_message.len = ngx_strlen(message);

    if (slot->kind == CAST_FIELD_VOTE) {
        ngx_http_cast_metrics_vote(outcome);
    }
}


static void
ngx_http_cast_reject(cast_gql_slot_t *slot, ngx_uint_t outcome,
    const char *message)
{
    slot->status = CAST_RES_OK;
    slot->success = 0;
    slot->message.data = message;
    slot->message.len = ngx_strlen(message);
    slot->nout = 0;

    ngx_http_cast_metrics_vote(outcome);
}


static void
ngx_http_cast_bad_input(cast_gql_slot_t *slot, const char *message)
{
    ngx_http_cast_fail(slot, "BAD_USER_INPUT", message,
                       NGX_HTTP_CAST_VOTE_BAD_INPUT);
}


/* hiredis frees the reply after the callback: keep a copy */

static ngx_int_t
ngx_http_cast_copy(ngx_pool_t *pool, cast_str_t *dst, redisReply *src)
{
    char  *p;

    if (src->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, src->len);
    if (p == NULL && src->len) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, src->str, src->len);

    dst->data = p;
    dst->len = src->len;

    return NGX_OK;
}


static void
ngx_http_cast_learn_seq(uint64_t seq)
{
    if (seq > ngx_http_cast_known_seq) {
        ngx_http_cast_known_seq = seq;
    }
}


/* an event id is "<seq>-<use>" */

static void
ngx_http_cast_learn_from_id(redisReply *id)
{
    off_t    seq;
    u_char  *dash;

    if (id->type != REDIS_REPLY_STRING) {
        return;
    }

    dash = ngx_strlchr((u_char *) id->str, (u_char *) id->str + id->len, '-');
    if (dash == NULL) {
        return;
    }

    seq = ngx_atoof((u_char *) id->str, dash - (u_char *) id->str);

    if (seq > 0) {
        ngx_http_cast_learn_seq((uint64_t) seq);
    }
}
