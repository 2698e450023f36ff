/*
 * The size of an answer, bounded before the host resolves anything: the
 * items its data can hold, counted from the plan once the variables are
 * coerced (a cached document's top(limit: $n) is as large as this
 * request's $n), against max_result_items.
 *
 * Every field of the answer counts 1, and 1 more for each full 64 bytes
 * of its response key, which every item of a list repeats; every item of
 * a list counts 1 besides its fields.  So top(limit: L) { username votes }
 * counts 1 + 3L, whatever the leaderboard holds: the bound is on what the
 * operation may produce.  Introspection counts 1 a field here: its bytes
 * have their own budget (max_introspection).
 */

#include "cast_gql_exec.h"


#define CAST_GQL_KEY_UNIT  64


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


static uint64_t
cast_gql_cost_key(cast_str_t key)
{
    return 1 + key.len / CAST_GQL_KEY_UNIT;
}


/* the fields of one object of a slot's type; its lists hold n items */
static uint64_t
cast_gql_cost_object(const cast_gql_pentry_t *pe, uint64_t n)
{
    uint64_t  items;
    size_t    i;

    items = 0;

    for (i = 0; i < pe->nsub; i++) {
        items = cast_gql_cost_add(items, cast_gql_cost_key(pe->sub[i].key));

        if (pe->sub[i].id == CAST_SUB_USERNAMES
            || pe->sub[i].id == CAST_SUB_VOTES)
        {
            items = cast_gql_cost_add(items, n);
        }
    }

    return items;
}


static uint64_t
cast_gql_cost_entry(const cast_gql_pentry_t *pe, const cast_gql_slot_t *s)
{
    uint64_t  items, n, per;

    items = cast_gql_cost_key(pe->key);

    if (pe->kind != CAST_PLAN_SLOT) {
        return items;
    }

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
        return items;
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
