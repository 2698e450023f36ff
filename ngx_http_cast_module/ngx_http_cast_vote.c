
/*
 * Copyright (C) CAST developers
 *
 * The vote field: its input and its ticket checked before anything
 * reaches Redis, its call built, and its reply parsed into its slot, the
 * outcome counted.  The dispatcher (ngx_http_cast_resolve.c) calls it; it
 * calls the field's call and errors (ngx_http_cast_field.c), the memory
 * of refusals (ngx_http_cast_memo.c) and the metrics.
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
 * Redis's to say again, once per worker: a ticket older than the newest
 * the worker knows of stays expired once Redis said so (the current
 * ticket's seq only grows, its clock only moves on), so it is refused
 * here too, for good, when the herd's clients still carry it after a
 * rotation.  The current ticket past its expiry is not: if ticketd
 * mints the next one late, it is the previous ticket, usable again
 * through the new one's grace.  A vote
 * refused because its client's share of the ticket is used up
 * (cast_client_uses) says nothing of the ticket,
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


static ngx_uint_t ngx_http_cast_vote_idem_valid(cast_str_t *key);
static ngx_int_t ngx_http_cast_vote_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_ticket_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf, uint64_t *seq);
static ngx_int_t ngx_http_cast_ticket_remembered(cast_gql_slot_t *slot);
static ngx_int_t ngx_http_cast_vote_args(ngx_http_cast_field_t *field,
    ngx_uint_t share, uint64_t seq, int argc, const char ***argvp,
    size_t **argvlenp);
static ngx_int_t ngx_http_cast_vote_still(ngx_http_cast_field_t *field);
static ngx_uint_t ngx_http_cast_ticket_authentic(cast_ticket_t *t,
    ngx_http_cast_main_conf_t *cmcf);
static void ngx_http_cast_vote_reply(ngx_http_cast_field_t *field,
    redisReply *reply);
static void ngx_http_cast_vote_total(ngx_http_cast_field_t *field,
    int64_t total);
static void ngx_http_cast_vote_refused(ngx_http_cast_field_t *field,
    redisReply **e);
static void ngx_http_cast_learn_from_id(redisReply *id);


/* the newest ticket sequence this worker has seen accepted or served */
static uint64_t  ngx_http_cast_known_seq;

/* the last ticket whose MAC checked out: the next votes carry it too */
static u_char    ngx_http_cast_verified[CAST_TICKET_RAW_LEN];
static unsigned  ngx_http_cast_verified_set;


ngx_int_t
ngx_http_cast_vote_resolve(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf)
{
    int               argc;
    size_t           *argvlen;
    uint64_t          seq;
    const char      **argv;
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
        ngx_http_cast_field_fail(slot, "BAD_REQUEST", "the request has no "
                                 "client key (cast_client_key is empty), so "
                                 "its vote cannot count against a client's "
                                 "share", NGX_HTTP_CAST_VOTE_BAD_INPUT);
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
        ngx_http_cast_field_reject(slot, NGX_HTTP_CAST_VOTE_SHARE,
                                   "Client share of this ticket used up");
        return NGX_DONE;
    }

    argc = NGX_HTTP_CAST_VOTE_FIXED_ARGS + 2 * slot->nusernames;

    if (ngx_http_cast_vote_args(field, cmcf->client_uses, seq, argc, &argv,
                                &argvlen)
        != NGX_OK)
    {
        ngx_http_cast_field_unavailable(slot, "out of memory");
        return NGX_DONE;
    }

    field->asked = ngx_current_msec;
    field->seq = seq;
    field->still = ngx_http_cast_vote_still;

    return ngx_http_cast_field_call(field, NGX_HTTP_CAST_BATCH_VOTE,
                                    ngx_http_cast_vote_reply, argc, argv,
                                    argvlen);
}


/*
 * The arguments of cast_votes for one vote, from the field's pool:
 * ticket, voter, idempotency key, the ticket's seq, client, share, n and
 * the n pairs username, count (cast.lua's layout); the numbers as
 * decimal text.
 */

static ngx_int_t
ngx_http_cast_vote_args(ngx_http_cast_field_t *field, ngx_uint_t share,
    uint64_t seq, int argc, const char ***argvp, size_t **argvlenp)
{
    char             *p;
    size_t            i, *argvlen;
    const char      **argv;
    cast_gql_slot_t  *slot = field->slot;

    argv = ngx_palloc(field->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(field->pool, argc * sizeof(size_t));

    /* room for the seq, the share, n and every count as decimal text */
    p = ngx_pnalloc(field->pool, (3 + slot->nusernames) * CAST_DEC_LEN);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        return NGX_ERROR;
    }

    argv[0] = slot->ticket.data;
    argvlen[0] = slot->ticket.len;
    argv[1] = slot->voter.data ? slot->voter.data : "";
    argvlen[1] = slot->voter.len;
    argv[2] = slot->idempotency_key.data ? slot->idempotency_key.data : "";
    argvlen[2] = slot->idempotency_key.len;

    /* the client and its share of the ticket: "" and 0 when none */
    argv[4] = share ? (char *) field->client.data : "";
    argvlen[4] = share ? field->client.len : 0;

    argv[3] = p;
    p = cast_dec(p, seq);
    argvlen[3] = p - argv[3];

    argv[5] = p;
    p = cast_dec(p, share);
    argvlen[5] = p - argv[5];

    argv[6] = p;
    p = cast_dec(p, slot->nusernames);
    argvlen[6] = p - argv[6];

    for (i = 0; i < slot->nusernames; i++) {
        argv[7 + 2 * i] = slot->usernames[i].data;
        argvlen[7 + 2 * i] = slot->usernames[i].len;

        argv[8 + 2 * i] = p;
        p = cast_dec_signed(p, slot->counts ? slot->counts[i] : 1);
        argvlen[8 + 2 * i] = p - argv[8 + 2 * i];
    }

    *argvp = argv;
    *argvlenp = argvlen;

    return NGX_OK;
}


/*
 * An idempotency key is a Redis key's suffix, shown as it is by redis-cli
 * and in logs: 1 to 128 bytes of printable ASCII without spaces (0x21 to
 * 0x7e), which a UUID, hex or base64 fits; no control byte, NUL or
 * escape sequence reaches Redis or a terminal.
 */

static ngx_uint_t
ngx_http_cast_vote_idem_valid(cast_str_t *key)
{
    size_t  i;

    if (key->len == 0 || key->len > NGX_HTTP_CAST_IDEM_MAX) {
        return 0;
    }

    for (i = 0; i < key->len; i++) {
        if ((u_char) key->data[i] < 0x21 || (u_char) key->data[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_cast_vote_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf)
{
    size_t  i;

    if (slot->nusernames == 0 || slot->nusernames > cmcf->max_usernames) {
        ngx_http_cast_field_bad_input(slot, "usernames must hold 1 to "
                                      "cast_max_usernames names");
        return NGX_DECLINED;
    }

    for (i = 0; i < slot->nusernames; i++) {
        if (!cast_name_valid(slot->usernames[i].data,
                             slot->usernames[i].len, NGX_HTTP_CAST_NAME_MAX))
        {
            ngx_http_cast_field_bad_input(slot, "each username must be 1 to 64 "
                                          "bytes of UTF-8 without control "
                                          "characters");
            return NGX_DECLINED;
        }
    }

    if (slot->counts) {
        if (slot->ncounts != slot->nusernames) {
            ngx_http_cast_field_bad_input(slot, "voteCount must have one entry "
                                          "per username");
            return NGX_DECLINED;
        }

        for (i = 0; i < slot->ncounts; i++) {
            if (slot->counts[i] < 1
                || slot->counts[i] > (int64_t) cmcf->max_vote_count)
            {
                ngx_http_cast_field_bad_input(slot, "each voteCount must "
                                              "be between 1 and "
                                              "cast_max_vote_count");
                return NGX_DECLINED;
            }
        }
    }

    if (slot->voter.data
        && !cast_name_valid(slot->voter.data, slot->voter.len,
                            NGX_HTTP_CAST_NAME_MAX))
    {
        ngx_http_cast_field_bad_input(slot, "voterUsername must be 1 to 64 "
                                      "bytes of UTF-8 without control "
                                      "characters");
        return NGX_DECLINED;
    }

    if (slot->idempotency_key.data
        && !ngx_http_cast_vote_idem_valid(&slot->idempotency_key))
    {
        ngx_http_cast_field_bad_input(slot, "idempotencyKey must be 1 to 128 "
                                      "printable ASCII characters, without "
                                      "spaces");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Tickets that cannot be valid are refused here, without Redis: malformed
 * ones, ones with a bad MAC when the secret is known, and ones older than
 * the previous ticket this worker already knows of (the grace window may
 * still accept that one), and a ticket Redis has just refused as spent
 * or as expired (see the top of this file).  An old or spent but
 * authentic ticket with an idempotency key still goes to Redis: a retry
 * there gets the first call's result, whatever the ticket's age or uses,
 * and any other call is refused by Redis itself.  A ticket the memory
 * holds was decoded and found authentic when it first came, so it is
 * looked up first (the herd's votes), with the answers in the same order.
 */

static ngx_int_t
ngx_http_cast_ticket_check(cast_gql_slot_t *slot,
    ngx_http_cast_main_conf_t *cmcf, uint64_t *seq)
{
    cast_ticket_t  t;

    if (ngx_http_cast_ticket_remembered(slot) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (cast_ticket_decode(slot->ticket.data, slot->ticket.len, &t) != 0) {
        ngx_http_cast_field_reject(slot, NGX_HTTP_CAST_VOTE_INVALID,
                                   "Invalid ticket");
        return NGX_DECLINED;
    }

    if (!ngx_http_cast_ticket_authentic(&t, cmcf)) {
        ngx_http_cast_field_reject(slot, NGX_HTTP_CAST_VOTE_INVALID,
                                   "Invalid ticket");
        return NGX_DECLINED;
    }

    if (t.seq + 1 < ngx_http_cast_known_seq
        && slot->idempotency_key.data == NULL)
    {
        ngx_http_cast_field_reject(slot, NGX_HTTP_CAST_VOTE_EXPIRED,
                                   "Ticket expired");
        return NGX_DECLINED;
    }

    *seq = t.seq;

    return NGX_OK;
}


/*
 * A ticket the memory holds as spent or expired: the vote is refused
 * (NGX_DECLINED), in the order of the checks above: a spent ticket older
 * than the previous one this worker knows of is expired.
 */

static ngx_int_t
ngx_http_cast_ticket_remembered(cast_gql_slot_t *slot)
{
    uint64_t  spent;

    if (slot->idempotency_key.data != NULL
        || slot->ticket.len != CAST_TICKET_LEN)
    {
        return NGX_OK;
    }

    if (ngx_http_cast_memo_spent((const u_char *) slot->ticket.data, &spent)) {
        if (spent + 1 < ngx_http_cast_known_seq) {
            ngx_http_cast_field_reject(slot, NGX_HTTP_CAST_VOTE_EXPIRED,
                                       "Ticket expired");
            return NGX_DECLINED;
        }

        ngx_http_cast_field_reject(slot, NGX_HTTP_CAST_VOTE_EXHAUSTED,
                                   "Ticket usage limit exceeded");
        return NGX_DECLINED;
    }

    if (ngx_http_cast_memo_expired((const u_char *) slot->ticket.data)) {
        ngx_http_cast_field_reject(slot, NGX_HTTP_CAST_VOTE_EXPIRED,
                                   "Ticket expired");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A vote that waited in its batch while the reply of the batch before it
 * taught this worker that its ticket is spent or expired: refused as it
 * would be now, without Redis (the herd: a handful of calls per worker
 * per spent ticket, not one more batch per worker).
 */

static ngx_int_t
ngx_http_cast_vote_still(ngx_http_cast_field_t *field)
{
    return ngx_http_cast_ticket_remembered(field->slot);
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
ngx_http_cast_vote_reply(ngx_http_cast_field_t *field, redisReply *reply)
{
    size_t            i, n;
    redisReply      **e;
    cast_gql_slot_t  *slot = field->slot;
    ngx_pool_t       *pool = field->pool;

    if (ngx_http_cast_field_reply_error(slot, pool, reply) != NGX_OK) {
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        ngx_http_cast_vote_total(field, reply->integer);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->elements % 2 == 0
        || reply->element[0]->type != REDIS_REPLY_STRING
        || ngx_http_cast_field_text(pool, &slot->message, reply->element[1],
                                    NGX_HTTP_CAST_MESSAGE_MAX)
           != NGX_OK)
    {
        ngx_http_cast_field_unavailable(slot, "unexpected redis reply");
        return;
    }

    e = reply->element;

    if (ngx_strcmp(e[0]->str, "OK") != 0) {
        slot->status = CAST_RES_OK;
        slot->success = 0;
        ngx_http_cast_vote_refused(field, e);
        return;
    }

    /*
     * a retry is answered the reply recorded for its idempotencyKey,
     * whatever names it carries: no more of them than this vote names,
     * which is what cast_max_result_items counted
     */
    n = ngx_min((reply->elements - 3) / 2, slot->nusernames);

    slot->out_usernames = ngx_palloc(pool, n * sizeof(cast_str_t));
    slot->out_votes = ngx_palloc(pool, n * sizeof(int64_t));

    if (slot->out_usernames == NULL || slot->out_votes == NULL) {
        ngx_http_cast_field_unavailable(slot, "out of memory");
        return;
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_cast_field_name(pool, &slot->out_usernames[i],
                                     e[3 + 2 * i])
            != NGX_OK
            || e[4 + 2 * i]->type != REDIS_REPLY_INTEGER)
        {
            ngx_http_cast_field_unavailable(slot, "unexpected redis reply");
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


/*
 * The usual vote accepted, as cast_votes replies it: its one name counted
 * once, without an idempotencyKey, has only that name's new total for a
 * reply.  The rest of the array any other vote gets is known here: the
 * message follows from OK, the name is the vote's, and its event id's seq
 * is its ticket's.
 */

static void
ngx_http_cast_vote_total(ngx_http_cast_field_t *field, int64_t total)
{
    cast_gql_slot_t  *slot = field->slot;

    static cast_str_t  recorded = {
        "Votes recorded successfully",
        sizeof("Votes recorded successfully") - 1
    };

    if (slot->nusernames != 1 || (slot->counts && slot->counts[0] != 1)
        || slot->idempotency_key.data)
    {
        ngx_http_cast_field_unavailable(slot, "unexpected redis reply");
        return;
    }

    slot->out_votes = ngx_palloc(field->pool, sizeof(int64_t));
    if (slot->out_votes == NULL) {
        ngx_http_cast_field_unavailable(slot, "out of memory");
        return;
    }

    slot->out_votes[0] = total;
    slot->out_usernames = slot->usernames;
    slot->nout = 1;
    slot->message = recorded;
    slot->success = 1;
    slot->status = CAST_RES_OK;

    ngx_http_cast_metrics_vote(NGX_HTTP_CAST_VOTE_ACCEPTED);
    ngx_http_cast_vote_learn_seq(field->seq);
}


/*
 * A vote Redis refused (e[0] says why, e[2] what it knows): counted, and
 * what the worker learns from it remembered, so that the votes after it
 * can be refused without Redis.
 */

static void
ngx_http_cast_vote_refused(ngx_http_cast_field_t *field, redisReply **e)
{
    cast_gql_slot_t  *slot = field->slot;

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

    if (ngx_strcmp(e[0]->str, "EXPIRED") == 0) {
        ngx_http_cast_metrics_vote(NGX_HTTP_CAST_VOTE_EXPIRED);

        /*
         * for good when Redis names the current seq: the ticket is
         * not the current one (see the top); the seq is learnt too
         */
        if (e[2]->type == REDIS_REPLY_INTEGER && e[2]->integer > 0
            && slot->ticket.len == CAST_TICKET_LEN)
        {
            ngx_http_cast_vote_learn_seq((uint64_t) e[2]->integer);
            ngx_http_cast_memo_learn_expired(
                (const u_char *) slot->ticket.data);
        }

        return;
    }

    ngx_http_cast_metrics_vote(NGX_HTTP_CAST_VOTE_INVALID);
}


void
ngx_http_cast_vote_learn_seq(uint64_t seq)
{
    if (seq > ngx_http_cast_known_seq) {
        ngx_http_cast_known_seq = seq;
    }
}


/*
 * Whether a vote carrying the ticket (CAST_TICKET_LEN bytes) and no
 * idempotencyKey, past its other checks, is refused now as spent: the
 * first answer of ngx_http_cast_ticket_remembered() (for
 * ngx_http_cast_replay.c, which gives that answer again).
 */

ngx_uint_t
ngx_http_cast_vote_spent(const u_char *ticket)
{
    uint64_t  spent;

    return ngx_http_cast_memo_spent(ticket, &spent)
           && spent + 1 >= ngx_http_cast_known_seq;
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
        ngx_http_cast_vote_learn_seq((uint64_t) seq);
    }
}
