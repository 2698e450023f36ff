/*
 * The size of an answer, bounded before the host resolves anything: the
 * items its data can hold, counted from the plan once the variables are
 * coerced (a cached document's top(limit: $n) is as large as this
 * request's $n), against max_result_items.
 *
 * An item is at most 64 bytes of the answer's JSON, its separators
 * aside: a field counts 1, and 1 more for each full 64 bytes of its
 * response key and the longest value it can have (a username 130 bytes,
 * each of its 64 bytes a quote or a backslash escaped; a ticket 88; an
 * Int 20); every item of a list counts 1 besides its fields, and a name
 * in a list as a username field does.  So top(limit: L) { username votes }
 * counts 1 + 5L, whatever the leaderboard holds: the bound is on what the
 * operation may produce, and the data of an answer is at most
 * 68 x max_result_items bytes.  Introspection counts 1 a field here: its
 * bytes have their own budget (max_introspection).
 */

#include "cast_gql_exec.h"


#define CAST_GQL_UNIT       64

/* the longest JSON value of a kind: quotes and escapes included */
#define CAST_GQL_NAME_JSON  (2 + 2 * 64)    /* a username */
#define CAST_GQL_INT_JSON   20              /* -9223372036854775808 */
#define CAST_GQL_TICKET_JSON  (2 + 86)
#define CAST_GQL_TIME_JSON  (2 + 24)        /* 2026-11-25T18:03:44.000Z */
#define CAST_GQL_MSG_JSON   (2 + 38)        /* the host's vote messages */


static uint64_t
cast_gql_cost_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}


static uint64_t
cast_gql_cost_mul(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}


/* a field of key whose value takes at most value bytes */
static uint64_t
cast_gql_cost_field(cast_str_t key, size_t value)
{
    return 1 + (key.len + value) / CAST_GQL_UNIT;
}


static size_t
cast_gql_cost_value(const cast_gql_pentry_t *pe, cast_gql_sub_e id)
{
    switch (id) {

    case CAST_SUB_TYPENAME:
        return 2 + pe->type.len;

    case CAST_SUB_TICKET:
        return CAST_GQL_TICKET_JSON;

    case CAST_SUB_VALID_UNTIL:
        return CAST_GQL_TIME_JSON;

    case CAST_SUB_MESSAGE:
        return CAST_GQL_MSG_JSON;

    case CAST_SUB_SCORE_USERNAME:
        return CAST_GQL_NAME_JSON;

    case CAST_SUB_USERNAMES:
    case CAST_SUB_VOTES:
        /* a list: its items are counted apart */
        return 0;

    default:
        /* Int, Boolean, null */
        return CAST_GQL_INT_JSON;
    }
}


/* the fields of one object of a slot's type; its lists hold n items */
static uint64_t
cast_gql_cost_object(const cast_gql_pentry_t *pe, uint64_t n)
{
    size_t                  i;
    uint64_t                items, own;
    const cast_gql_psub_t  *f;

    items = 0;

    for (i = 0; i < pe->nsub; i++) {
        f = &pe->sub[i];
        own = cast_gql_cost_field(f->key, cast_gql_cost_value(pe, f->id));
        items = cast_gql_cost_add(items, own);

        if (f->id == CAST_SUB_USERNAMES) {
            items = cast_gql_cost_add(items, cast_gql_cost_mul(n,
                        1 + CAST_GQL_NAME_JSON / CAST_GQL_UNIT));

        } else if (f->id == CAST_SUB_VOTES) {
            items = cast_gql_cost_add(items, n);
        }
    }

    return items;
}


static uint64_t
cast_gql_cost_entry(const cast_gql_pentry_t *pe, const cast_gql_slot_t *s)
{
    uint64_t  items, n, per;

    switch (pe->kind) {

    case CAST_PLAN_TYPENAME:
        return cast_gql_cost_field(pe->key, 2 + pe->json.len);

    case CAST_PLAN_JSON:
        return cast_gql_cost_field(pe->key, 0);

    default: /* CAST_PLAN_SLOT */
        break;
    }

    items = cast_gql_cost_field(pe->key, 0);

    switch (s->kind) {

    case CAST_FIELD_TOP:
        /* a negative limit is the host's to refuse: it answers nothing */
        n = s->limit > 0 ? (uint64_t) s->limit : 0;
        break;

    case CAST_FIELD_SCORES:
        n = s->nusernames;
        break;

    case CAST_FIELD_CAS:
        return cast_gql_cost_add(items, cast_gql_cost_object(pe, 0));

    case CAST_FIELD_VOTE:
        /* the names voted for and their counts, one item a name */
        return cast_gql_cost_add(items,
                                 cast_gql_cost_object(pe, s->nusernames));

    default:
        /* query, totalVotes: an Int */
        return cast_gql_cost_field(pe->key, CAST_GQL_INT_JSON);
    }

    /* a list of Score objects: each item 1, and its fields */
    per = cast_gql_cost_add(1, cast_gql_cost_object(pe, 0));

    return cast_gql_cost_add(items, cast_gql_cost_mul(n, per));
}


/* 0, or -1 with the error that names the limit, nothing resolved */
int
cast_gql_cost(cast_gql_ctx_t *c, const cast_gql_op_t *op,
    const cast_gql_plan_t *plan)
{
    const cast_gql_pentry_t  *pe;
    uint64_t                  items, n;
    size_t                    i;

    items = 0;

    for (i = 0; i < plan->n; i++) {
        pe = &plan->entries[i];
        n = cast_gql_cost_entry(pe, &plan->slots[pe->slot]);
        items = cast_gql_cost_add(items, n);
    }

    if (items <= c->lim->max_result_items) {
        return 0;
    }

    cast_gql_error(c->arena, c->errs, "RESPONSE_TOO_LARGE", op->off,
                   "The answer could hold %llu items, more than the limit "
                   "of %zu (max_result_items).", (unsigned long long) items,
                   c->lim->max_result_items);

    return -1;
}
