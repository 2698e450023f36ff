
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
 * ngx_http_cast_request.c).  The vote, its checks and its reply are
 * ngx_http_cast_vote.c's; a field's call, reply and errors are
 * ngx_http_cast_field.c's.  The resolvers here call those two only.
 */


#include "ngx_http_cast_module.h"
#include "cast_name.h"
#include "cast_ticket.h"


static ngx_int_t ngx_http_cast_resolve_query(ngx_http_cast_field_t *field);
static ngx_int_t ngx_http_cast_resolve_cas(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_resolve_board(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf);
static void ngx_http_cast_query_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_cas_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_state_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_board_reply(ngx_http_cast_field_t *field,
    redisReply *reply);


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
        return ngx_http_cast_vote_resolve(field, cmcf);

    case CAST_FIELD_TOP:
    case CAST_FIELD_TOTAL:
        return ngx_http_cast_resolve_board(field, cmcf);

    case CAST_FIELD_SCORES:
        /* a subscription's only: ngx_http_cast_sse.c */
        ngx_http_cast_field_unavailable(field->slot, "not a query field");
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
        ngx_http_cast_field_unavailable(slot, "out of memory");
        return NGX_ERROR;
    }

    last = ngx_slprintf(p, p + len - 1, "limit must be between 0 and %uz "
                        "(cast_max_top_limit)", cmcf->max_top_limit);
    *last = '\0';

    ngx_http_cast_field_bad_input(slot, (char *) p);

    return NGX_ERROR;
}


/* top and totalVotes: the round's calls share one cast_board */

static ngx_int_t
ngx_http_cast_resolve_board(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf)
{
    char             *p;
    size_t            len;
    const char       *arg;
    cast_gql_slot_t  *slot = field->slot;

    if (ngx_http_cast_resolve_limit(slot, field->pool, cmcf) != NGX_OK) {
        return NGX_DONE;
    }

    p = ngx_pnalloc(field->pool, CAST_DEC_LEN);
    if (p == NULL) {
        ngx_http_cast_field_unavailable(slot, "out of memory");
        return NGX_DONE;
    }

    arg = p;
    len = cast_dec_signed(p, slot->kind == CAST_FIELD_TOP ? slot->limit : 0)
          - arg;

    return ngx_http_cast_field_call(field, NGX_HTTP_CAST_BATCH_BOARD,
                                    ngx_http_cast_board_reply, 1, &arg,
                                    &len);
}


/* the readiness probe's state, as ngx_http_cast_resolve() resolves */

ngx_int_t
ngx_http_cast_resolve_state(ngx_http_cast_field_t *field)
{
    return ngx_http_cast_field_call(field, NGX_HTTP_CAST_BATCH_STATE,
                                    ngx_http_cast_state_reply, 0, NULL,
                                    NULL);
}


static ngx_int_t
ngx_http_cast_resolve_query(ngx_http_cast_field_t *field)
{
    cast_gql_slot_t  *slot = field->slot;

    if (!cast_name_valid(slot->username.data, slot->username.len,
                         NGX_HTTP_CAST_NAME_MAX))
    {
        ngx_http_cast_field_bad_input(slot, "username must be 1 to 64 bytes of "
                                      "UTF-8 without control characters");
        return NGX_DONE;
    }

    return ngx_http_cast_field_call(field, NGX_HTTP_CAST_BATCH_QUERY,
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
    char         *p;
    size_t       *argvlen;
    const char  **argv;

    if (cmcf->client_uses == 0) {
        return ngx_http_cast_field_call(field, NGX_HTTP_CAST_BATCH_CAS,
                                        ngx_http_cast_cas_reply, 0, NULL,
                                        NULL);
    }

    argv = ngx_palloc(field->pool, 2 * sizeof(char *));
    argvlen = ngx_palloc(field->pool, 2 * sizeof(size_t));
    p = ngx_pnalloc(field->pool, CAST_DEC_LEN);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        ngx_http_cast_field_unavailable(field->slot, "out of memory");
        return NGX_DONE;
    }

    argv[0] = field->client.len ? (char *) field->client.data : "";
    argvlen[0] = field->client.len;
    argv[1] = p;
    argvlen[1] = cast_dec(p, field->client.len ? cmcf->client_uses : 0) - p;

    return ngx_http_cast_field_call(field, NGX_HTTP_CAST_BATCH_CAS,
                                    ngx_http_cast_cas_reply, 2, argv,
                                    argvlen);
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
        ngx_http_cast_field_unavailable(first, "out of memory");
        return NGX_DECLINED;
    }

    last = ngx_slprintf(p, p + len - 1, "a request may hold at most %uz "
                        "vote fields (cast_max_vote_fields)",
                        cmcf->max_vote_fields);
    *last = '\0';

    ngx_http_cast_field_fail(first, "BAD_REQUEST", (char *) p,
                             NGX_HTTP_CAST_VOTE_BAD_INPUT);

    return NGX_DECLINED;
}


static void
ngx_http_cast_query_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    cast_gql_slot_t  *slot = field->slot;

    if (ngx_http_cast_field_reply_error(slot, field->pool, reply) != NGX_OK)
    {
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_cast_field_unavailable(slot, "unexpected redis reply");
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

    if (ngx_http_cast_field_reply_error(slot, field->pool, reply) != NGX_OK) {
        return;
    }

    rc = ngx_http_cast_resolve_ticket(slot, field->pool, reply);

    if (rc != NGX_OK) {
        ngx_http_cast_field_unavailable(slot, rc == NGX_DECLINED
                                              ? "unexpected redis reply"
                                              : "out of memory");
    }
}


/* 9999-12-31T23:59:59.999Z: validUntil as cast_max_result_items counts it */
#define NGX_HTTP_CAST_EXPIRES_MAX  253402300799999LL


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
    ngx_int_t  rc;

    if (reply->type != REDIS_REPLY_ARRAY
        || (reply->elements != 4 && reply->elements != 5)
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_INTEGER
        || reply->element[3]->type != REDIS_REPLY_INTEGER
        || (reply->elements == 5
            && reply->element[4]->type != REDIS_REPLY_INTEGER)
        || reply->element[1]->integer < 0
        || reply->element[1]->integer > NGX_HTTP_CAST_EXPIRES_MAX)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_cast_field_text(pool, &slot->ticket_out, reply->element[0],
                                  CAST_TICKET_LEN);
    if (rc != NGX_OK) {
        return rc;
    }

    len = sizeof("9999-12-31T23:59:59.999Z") - 1;

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

    ngx_http_cast_vote_learn_seq(reply->element[3]->integer);

    return NGX_OK;
}


/* ready: Redis answers, counts are complete and a current ticket exists */

static void
ngx_http_cast_state_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    cast_gql_slot_t  *slot = field->slot;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2)
    {
        ngx_http_cast_field_unavailable(slot, "redis not answering");
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

    if (ngx_http_cast_field_reply_error(slot, field->pool, reply) != NGX_OK) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || ngx_http_cast_resolve_scores(slot, field->pool, reply->element[1],
                                        slot->kind == CAST_FIELD_TOP
                                        ? (size_t) slot->limit : 0)
           != NGX_OK)
    {
        ngx_http_cast_field_unavailable(slot, "unexpected redis reply");
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
        if (ngx_http_cast_field_name(pool, &slot->out_usernames[i],
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
