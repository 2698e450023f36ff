
/*
 * Copyright (C) CAST developers
 *
 * What Redis refused that a worker may refuse again by itself, until a
 * deadline Redis gave: a spent ticket (the thundering herd, see
 * ngx_http_cast_vote.c) and a client's used-up share of a ticket
 * (cast_client_uses).  Both only grow while the ticket is usable: a
 * ticket's uses and a client's uses of it are never lowered, and Redis
 * says with its refusal for how many ms more the ticket stays usable.
 * Only refusals are kept, so the exact limits stay Redis's.
 *
 * The memory is per worker and fixed: two spent tickets (the current one
 * and the previous one in its grace), and a direct-mapped table of shares
 * indexed by a hash of the ticket and the client key.  A collision only
 * forgets an entry, which costs a call to Redis, never a wrong answer:
 * an entry answers only for its exact ticket and key.
 */


#include "ngx_http_cast_module.h"
#include "cast_ticket.h"


/* two: the previous ticket still in its grace next to the current one */
#define NGX_HTTP_CAST_SPENT         2

/* shares: a power of two; a few greedy clients per ticket is the case */
#define NGX_HTTP_CAST_SHARES        256

/* a day: no period is longer; a shorter memory only costs calls */
#define NGX_HTTP_CAST_MEMO_MAX_MS   86400000


typedef struct {
    u_char       ticket[CAST_TICKET_LEN];
    ngx_msec_t   until;
    unsigned     set:1;
} ngx_http_cast_spent_t;


typedef struct {
    u_char       ticket[CAST_TICKET_LEN];
    u_char       client[NGX_HTTP_CAST_CLIENT_DIGEST];
    size_t       client_len;
    ngx_msec_t   until;
    unsigned     set:1;
} ngx_http_cast_share_t;


static ngx_int_t ngx_http_cast_memo_until(ngx_msec_t asked, int64_t left,
    ngx_msec_t *until);
static ngx_http_cast_share_t *ngx_http_cast_memo_slot(const u_char *ticket,
    ngx_str_t *client);


static ngx_http_cast_spent_t  ngx_http_cast_spent[NGX_HTTP_CAST_SPENT];
static ngx_http_cast_share_t  ngx_http_cast_shares[NGX_HTTP_CAST_SHARES];


/* whether the ticket (CAST_TICKET_LEN bytes) is one Redis refused as spent */

ngx_uint_t
ngx_http_cast_memo_spent(const u_char *ticket)
{
    ngx_uint_t              i;
    ngx_http_cast_spent_t  *sp;

    for (i = 0; i < NGX_HTTP_CAST_SPENT; i++) {
        sp = &ngx_http_cast_spent[i];

        if (sp->set && ngx_memcmp(sp->ticket, ticket, CAST_TICKET_LEN) == 0) {
            if ((ngx_msec_int_t) (sp->until - ngx_current_msec) > 0) {
                return 1;
            }

            sp->set = 0;
        }
    }

    return 0;
}


/*
 * Redis refused a vote carrying the ticket as spent, for `left` ms more
 * at least, counted from `asked` (when the call was made, no later than
 * Redis read its clock).  It takes the place of its own entry, else of
 * the one that ends first.
 */

void
ngx_http_cast_memo_learn_spent(const u_char *ticket, ngx_msec_t asked,
    int64_t left)
{
    ngx_uint_t              i;
    ngx_msec_t              until;
    ngx_http_cast_spent_t  *sp, *e;

    if (ngx_http_cast_memo_until(asked, left, &until) != NGX_OK) {
        return;
    }

    sp = NULL;

    for (i = 0; i < NGX_HTTP_CAST_SPENT; i++) {
        e = &ngx_http_cast_spent[i];

        if (e->set && ngx_memcmp(e->ticket, ticket, CAST_TICKET_LEN) == 0) {
            sp = e;
            break;
        }

        if (sp == NULL || !e->set
            || (sp->set && (ngx_msec_int_t) (e->until - sp->until) < 0))
        {
            sp = e;
        }
    }

    ngx_memcpy(sp->ticket, ticket, CAST_TICKET_LEN);
    sp->until = until;
    sp->set = 1;
}


/* whether Redis refused this client's votes with the ticket, share used up */

ngx_uint_t
ngx_http_cast_memo_share(const u_char *ticket, ngx_str_t *client)
{
    ngx_http_cast_share_t  *sh;

    sh = ngx_http_cast_memo_slot(ticket, client);

    if (sh == NULL || !sh->set
        || sh->client_len != client->len
        || ngx_memcmp(sh->client, client->data, client->len) != 0
        || ngx_memcmp(sh->ticket, ticket, CAST_TICKET_LEN) != 0)
    {
        return 0;
    }

    if ((ngx_msec_int_t) (sh->until - ngx_current_msec) > 0) {
        return 1;
    }

    sh->set = 0;

    return 0;
}


/* Redis refused the client's vote with the ticket: its share is used up */

void
ngx_http_cast_memo_learn_share(const u_char *ticket, ngx_str_t *client,
    ngx_msec_t asked, int64_t left)
{
    ngx_msec_t              until;
    ngx_http_cast_share_t  *sh;

    sh = ngx_http_cast_memo_slot(ticket, client);

    if (sh == NULL
        || ngx_http_cast_memo_until(asked, left, &until) != NGX_OK)
    {
        return;
    }

    ngx_memcpy(sh->ticket, ticket, CAST_TICKET_LEN);
    ngx_memcpy(sh->client, client->data, client->len);
    sh->client_len = client->len;
    sh->until = until;
    sh->set = 1;
}


/* the deadline of a refusal: none when Redis gave none, or it is past */

static ngx_int_t
ngx_http_cast_memo_until(ngx_msec_t asked, int64_t left, ngx_msec_t *until)
{
    if (left <= 0) {
        return NGX_DECLINED;
    }

    *until = asked + (ngx_msec_t) ngx_min(left, NGX_HTTP_CAST_MEMO_MAX_MS);

    if ((ngx_msec_int_t) (*until - ngx_current_msec) <= 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the share entry of a ticket and client key; NULL for a key too long */

static ngx_http_cast_share_t *
ngx_http_cast_memo_slot(const u_char *ticket, ngx_str_t *client)
{
    ngx_uint_t  key;

    if (client->len == 0 || client->len > NGX_HTTP_CAST_CLIENT_DIGEST) {
        return NULL;
    }

    key = ngx_hash_key(client->data, client->len)
          ^ ngx_hash_key((u_char *) ticket, CAST_TICKET_LEN);

    return &ngx_http_cast_shares[key & (NGX_HTTP_CAST_SHARES - 1)];
}
