
/*
 * Copyright (C) CAST developers
 *
 * The herd's answers, given again.  Once a worker knows a ticket is
 * spent (ngx_http_cast_vote.c), every vote carrying it gets the same
 * answer from the worker alone for as long as it goes on knowing that,
 * and the herd sends the same bodies again and again: one per name its
 * clients vote for, all with the current ticket.  The answer to a request
 * whose one field was such a vote is kept here under every byte of the
 * request the engine reads (its Content-Type, Accept and Content-Encoding
 * and its body; a POST without arguments and without a client share),
 * and a request with the same bytes gets it again, with the same
 * metrics, while its ticket is still refused as spent: without parsing
 * the body again, which is some 8,000 instructions of a herd request's
 * 19,000.  The answer is the one the engine made of those very bytes, so
 * no request can choose what another is told: a byte more or less is
 * another key, and a ticket no longer refused as spent goes through the
 * engine again, as does everything else.  The endpoint
 * (ngx_http_cast_handler.c) and the module's exit call it; it calls the
 * vote's check of a spent ticket (ngx_http_cast_vote.c), the metrics and
 * the response writer (ngx_http_cast_send.c).
 *
 * Per worker and fixed: NGX_HTTP_CAST_REPLAYS entries, direct-mapped by
 * a hash of the key (a collision replaces the entry; the next request
 * with its bytes goes through the engine and is kept again), each one
 * allocation of NGX_HTTP_CAST_REPLAY_SIZE bytes (under 1 KB) made when
 * the entry is first used and kept for the worker's life, freed as it
 * exits: at most 4 MB a worker, about 1 MB for a herd voting over a
 * thousand names.  An answer is copied into the request's pool before it
 * is sent, as the entry may be replaced while a slow client still reads
 * it.
 */


#include "ngx_http_cast_module.h"
#include "cast_ticket.h"


/* a power of two: a herd of a thousand names fits with few collisions */
#define NGX_HTTP_CAST_REPLAYS        4096

/* the key's bytes (body and the three headers), then the answer's */
#define NGX_HTTP_CAST_REPLAY_KEY     512
#define NGX_HTTP_CAST_REPLAY_ANSWER  256
#define NGX_HTTP_CAST_REPLAY_SIZE                                          \
    (sizeof(ngx_http_cast_replay_t) + NGX_HTTP_CAST_REPLAY_KEY               \
     + NGX_HTTP_CAST_REPLAY_ANSWER)

/* the key's parts, in this order */
#define NGX_HTTP_CAST_REPLAY_PARTS   4

/* what a refused vote says when its ticket is spent */
#define NGX_HTTP_CAST_REPLAY_SPENT   "Ticket usage limit exceeded"


typedef struct {
    uint64_t             hash;
    size_t               len[NGX_HTTP_CAST_REPLAY_PARTS];
    size_t               answer_len;
    const char          *content_type;  /* the engine's, a constant */
    u_char               ticket[CAST_TICKET_LEN];
    /* the key's parts, then the answer */
} ngx_http_cast_replay_t;


struct ngx_http_cast_replay_key_s {
    uint64_t             hash;
    cast_str_t           part[NGX_HTTP_CAST_REPLAY_PARTS];
};


static ngx_uint_t ngx_http_cast_replay_same(ngx_http_cast_replay_t *e,
    ngx_http_cast_replay_key_t *k);
static cast_gql_slot_t *ngx_http_cast_replay_spent(ngx_http_cast_ctx_t *ctx,
    cast_gql_response_t *resp);


static ngx_http_cast_replay_t  *ngx_http_cast_replays[NGX_HTTP_CAST_REPLAYS];


/*
 * The kept answer for the request's bytes, sent; NGX_DECLINED when there
 * is none, with *key set when the request's answer may be kept (see
 * ngx_http_cast_replay_keep()), NULL otherwise.
 */

ngx_int_t
ngx_http_cast_replay(ngx_http_request_t *r, cast_gql_http_t *in,
    ngx_http_cast_replay_key_t **key)
{
    u_char                     *p;
    size_t                      i, len;
    ngx_str_t                   type;
    ngx_http_cast_replay_t     *e;
    ngx_http_cast_replay_key_t  k, *kept;
    ngx_http_cast_main_conf_t  *cmcf;

    *key = NULL;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cast_module);

    if (in->method != CAST_GQL_METHOD_POST || in->stream || in->args.len
        || cmcf->client_uses)
    {
        return NGX_DECLINED;
    }

    /* what the engine reads of a request besides its method and args */
    k.part[0] = in->content_type;
    k.part[1] = in->accept;
    k.part[2] = in->content_encoding;
    k.part[3] = in->body;

    len = 0;

    for (i = 0; i < NGX_HTTP_CAST_REPLAY_PARTS; i++) {
        len += k.part[i].len;
    }

    /* a larger request is never kept: not even hashed */
    if (len > NGX_HTTP_CAST_REPLAY_KEY) {
        return NGX_DECLINED;
    }

    k.hash = 0;

    for (i = 0; i < NGX_HTTP_CAST_REPLAY_PARTS; i++) {
        k.hash = (k.hash ^ cast_gql_hash(k.part[i].data, k.part[i].len))
                 * 0x9e3779b97f4a7c15ULL;
    }

    e = ngx_http_cast_replays[k.hash & (NGX_HTTP_CAST_REPLAYS - 1)];

    if (e == NULL || !ngx_http_cast_replay_same(e, &k)
        || !ngx_http_cast_vote_spent(e->ticket))
    {
        /* the request's answer may be kept: its key goes with it */
        kept = ngx_palloc(r->pool, sizeof(ngx_http_cast_replay_key_t));
        if (kept != NULL) {
            *kept = k;
            *key = kept;
        }

        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, e->answer_len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, (u_char *) (e + 1) + len, e->answer_len);

    ngx_http_cast_metrics_vote(NGX_HTTP_CAST_VOTE_EXHAUSTED);
    /* a refusal with status 200: not a failed request (see _spent()) */
    ngx_http_cast_metrics_request(CAST_GQL_OP_MUTATION, 0);
    ngx_http_cast_metrics_replay();

    type.data = (u_char *) e->content_type;
    type.len = ngx_strlen(e->content_type);

    return ngx_http_cast_send(r, NGX_HTTP_OK, &type, p, e->answer_len);
}


/*
 * The request's answer, kept under its key when it is one the worker
 * would give again to the same bytes for as long as the vote's ticket is
 * refused as spent.
 */

void
ngx_http_cast_replay_keep(ngx_http_cast_ctx_t *ctx, cast_gql_response_t *resp)
{
    u_char                      *p;
    size_t                       i;
    cast_gql_slot_t             *slot;
    ngx_http_cast_replay_t      *e, **slotp;
    ngx_http_cast_replay_key_t  *k;

    k = ctx->replay;

    slot = ngx_http_cast_replay_spent(ctx, resp);
    if (slot == NULL || resp->body.len > NGX_HTTP_CAST_REPLAY_ANSWER) {
        return;
    }

    slotp = &ngx_http_cast_replays[k->hash & (NGX_HTTP_CAST_REPLAYS - 1)];
    e = *slotp;

    if (e == NULL) {
        /* room for any key and answer: an entry is allocated once */
        e = ngx_alloc(NGX_HTTP_CAST_REPLAY_SIZE, ngx_cycle->log);
        if (e == NULL) {
            return;
        }

        *slotp = e;
    }

    e->hash = k->hash;
    p = (u_char *) (e + 1);

    for (i = 0; i < NGX_HTTP_CAST_REPLAY_PARTS; i++) {
        /* an absent header is (NULL, 0): memcpy() must not see NULL */
        e->len[i] = k->part[i].len;

        if (e->len[i]) {
            p = ngx_cpymem(p, k->part[i].data, e->len[i]);
        }
    }

    ngx_memcpy(p, resp->body.data, resp->body.len);
    e->answer_len = resp->body.len;
    e->content_type = resp->content_type;
    ngx_memcpy(e->ticket, slot->ticket.data, CAST_TICKET_LEN);
}


/* the worker's entries, freed as it exits: nothing else holds them */

void
ngx_http_cast_replay_exit(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_CAST_REPLAYS; i++) {
        if (ngx_http_cast_replays[i]) {
            ngx_free(ngx_http_cast_replays[i]);
            ngx_http_cast_replays[i] = NULL;
        }
    }
}


static ngx_uint_t
ngx_http_cast_replay_same(ngx_http_cast_replay_t *e,
    ngx_http_cast_replay_key_t *k)
{
    size_t   i;
    u_char  *p;

    if (e->hash != k->hash) {
        return 0;
    }

    p = (u_char *) (e + 1);

    for (i = 0; i < NGX_HTTP_CAST_REPLAY_PARTS; i++) {
        if (e->len[i] != k->part[i].len
            || (e->len[i] && ngx_memcmp(p, k->part[i].data, e->len[i]) != 0))
        {
            return 0;
        }

        p += e->len[i];
    }

    return 1;
}


/*
 * The vote, when the request's answer is one refused vote and nothing
 * else that the worker alone would refuse again now as spent: the same
 * bytes pass the same checks up to the ticket (they depend on nothing
 * else), and the ticket is refused as spent while the worker remembers
 * it so (ngx_http_cast_vote_spent()).  NULL otherwise.
 */

static cast_gql_slot_t *
ngx_http_cast_replay_spent(ngx_http_cast_ctx_t *ctx,
    cast_gql_response_t *resp)
{
    cast_gql_exec_t  *exec = ctx->exec;
    cast_gql_slot_t  *slot;

    if (exec->op != CAST_GQL_OP_MUTATION || exec->nslots != 1
        || ctx->status || resp->allow || resp->status != NGX_HTTP_OK)
    {
        return NULL;
    }

    slot = &exec->slots[0];

    if (slot->kind != CAST_FIELD_VOTE || slot->status != CAST_RES_OK
        || slot->success || slot->idempotency_key.data != NULL
        || slot->ticket.len != CAST_TICKET_LEN
        || slot->message.len != sizeof(NGX_HTTP_CAST_REPLAY_SPENT) - 1
        || ngx_memcmp(slot->message.data, NGX_HTTP_CAST_REPLAY_SPENT,
                      slot->message.len) != 0
        || !ngx_http_cast_vote_spent((const u_char *) slot->ticket.data))
    {
        return NULL;
    }

    return slot;
}
