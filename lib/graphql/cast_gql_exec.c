/*
 * Execution (spec section 6): CollectFields, the plan of root fields
 * built in cast_gql_prepare() (slots for the host, introspection written
 * at once) and the response written by cast_gql_finish() from the plan
 * and the resolved slots.
 *
 * The plan owns everything it points to, in the request arena: a cached
 * document may be evicted while the host resolves the slots.  The
 * document tree is read here and nowhere after cast_gql_prepare(), and
 * every string the plan keeps from it (response keys, literal arguments)
 * enters the plan through cast_gql_plan_str(), which copies.
 */

#include "cast_gql_exec.h"


static int
cast_gql_collect_sels(cast_gql_ctx_t *c, cast_gql_sel_t *sels,
    cast_gql_group_t ***tail, cast_gql_group_t **head)
{
    cast_gql_sel_t     *s;
    cast_gql_group_t   *g;
    cast_gql_sel_t    **nodes;
    cast_str_t          key;
    int                 skip;

    for (s = sels; s != NULL; s = s->next) {
        skip = cast_gql_skip(c, s->dirs);
        if (skip < 0) {
            return -1;
        }
        if (skip) {
            continue;
        }

        if (s->kind == CAST_SEL_INLINE) {
            if (cast_gql_collect_sels(c, s->sels, tail, head) != 0) {
                return -1;
            }
            continue;
        }

        if (s->kind == CAST_SEL_SPREAD) {
            if (cast_gql_marks_test(&c->seen, s->frag->idx)) {
                continue;
            }
            cast_gql_marks_set(&c->seen, s->frag->idx);
            if (cast_gql_collect_sels(c, s->frag->sels, tail, head) != 0) {
                return -1;
            }
            continue;
        }

        key = cast_gql_key(s);

        for (g = *head; g != NULL; g = g->next) {
            if (g->key.len == key.len
                && memcmp(g->key.data, key.data, key.len) == 0)
            {
                break;
            }
        }

        if (g == NULL) {
            g = cast_arena_calloc(c->arena, sizeof(cast_gql_group_t)
                                            + 2 * sizeof(cast_gql_sel_t *));
            if (g == NULL) {
                c->errs->nomem = 1;
                return -1;
            }
            g->key = key;
            g->def = s->def;
            g->nodes = (cast_gql_sel_t **) (g + 1);
            **tail = g;
            *tail = &g->next;

        } else if (g->n >= 2 && (g->n & (g->n - 1)) == 0) {
            nodes = cast_arena_alloc(c->arena, 2 * g->n * sizeof(*nodes));
            if (nodes == NULL) {
                c->errs->nomem = 1;
                return -1;
            }
            memcpy(nodes, g->nodes, g->n * sizeof(*nodes));
            g->nodes = nodes;
        }

        g->nodes[g->n++] = s;
    }

    return 0;
}


/* CollectFields(): each fragment of the document at most once */
int
cast_gql_collect(cast_gql_ctx_t *c, cast_gql_sel_t **sets, size_t nsets,
    cast_gql_group_t **out)
{
    cast_gql_group_t  **tail;
    size_t              i;

    *out = NULL;
    tail = out;
    cast_gql_marks_next(&c->seen);

    for (i = 0; i < nsets; i++) {
        if (cast_gql_collect_sels(c, sets[i], &tail, out) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * The subfields of a field group, collected once: a list of objects
 * (introspection's types, fields, ...) shares its field's selections.
 */
int
cast_gql_subfields(cast_gql_ctx_t *c, cast_gql_group_t *g)
{
    cast_gql_sel_t  **sets;
    size_t            i;

    if (g->collected) {
        return 0;
    }

    sets = cast_arena_alloc(c->arena, g->n * sizeof(*sets));
    if (sets == NULL) {
        c->errs->nomem = 1;
        return -1;
    }

    for (i = 0; i < g->n; i++) {
        sets[i] = g->nodes[i]->sels;
    }

    if (cast_gql_collect(c, sets, g->n, &g->sub) != 0) {
        return -1;
    }

    g->collected = 1;

    return 0;
}


/* the one way a string enters the plan: a copy in the request arena */
static int
cast_gql_plan_str(cast_gql_ctx_t *c, cast_str_t s, cast_str_t *out)
{
    char  *d;

    if (s.data == NULL) {
        out->data = NULL;
        out->len = 0;
        return 0;
    }

    d = cast_arena_dup(c->arena, s.data, s.len);
    if (d == NULL) {
        c->errs->nomem = 1;
        return -1;
    }

    out->data = d;
    out->len = s.len;

    return 0;
}


/* an optional string argument: absent or null leaves out empty */
static int
cast_gql_plan_opt(cast_gql_ctx_t *c, const cast_gql_rval_t *v,
    cast_str_t *out)
{
    if (v->absent || v->null) {
        return 0;
    }

    return cast_gql_plan_str(c, v->str, out);
}


/* a list of usernames: the slot's, copied */
static int
cast_gql_plan_names(cast_gql_ctx_t *c, const cast_gql_rval_t *v,
    cast_gql_slot_t *slot)
{
    size_t  i;

    slot->usernames = cast_arena_alloc(c->arena,
                                       (v->n + 1) * sizeof(cast_str_t));
    if (slot->usernames == NULL) {
        c->errs->nomem = 1;
        return -1;
    }

    for (i = 0; i < v->n; i++) {
        if (cast_gql_plan_str(c, v->items[i].str, &slot->usernames[i]) != 0)
        {
            return -1;
        }
    }

    slot->nusernames = v->n;

    return 0;
}


static int
cast_gql_plan_sub(cast_gql_ctx_t *c, cast_gql_group_t *g,
    cast_gql_pentry_t *pe)
{
    cast_gql_group_t  *s;
    size_t             n;

    if (cast_gql_plan_str(c, cast_gql_named(g->def->type)->name, &pe->type)
        != 0
        || cast_gql_subfields(c, g) != 0)
    {
        return -1;
    }

    for (n = 0, s = g->sub; s != NULL; s = s->next) {
        n++;
    }

    pe->sub = cast_arena_alloc(c->arena, (n + 1) * sizeof(cast_gql_psub_t));
    if (pe->sub == NULL) {
        c->errs->nomem = 1;
        return -1;
    }

    /* validation found each field's definition, the schema bound it */
    for (s = g->sub; s != NULL; s = s->next) {
        if (cast_gql_plan_str(c, s->key, &pe->sub[pe->nsub].key) != 0) {
            return -1;
        }
        pe->sub[pe->nsub++].id = s->def->sub;
    }

    return 0;
}


static int
cast_gql_plan_slot(cast_gql_ctx_t *c, cast_gql_group_t *g,
    cast_gql_slot_t *slot, cast_gql_pentry_t *pe)
{
    cast_gql_rval_t   args[8];
    cast_gql_rval_t  *v;
    const size_t     *arg;
    size_t            i;

    /* the CAST schema's root fields have at most five arguments */
    if (g->def->nargs > sizeof(args) / sizeof(args[0])) {
        c->errs->nomem = 1;
        return -1;
    }

    if (cast_gql_coerce_args(c, g->def->args, g->def->nargs,
                             g->nodes[0]->args, args) != 0)
    {
        return -1;
    }

    memset(slot, 0, sizeof(cast_gql_slot_t));
    slot->kind = (cast_field_e) g->def->root;
    arg = c->schema->arg;

    switch (slot->kind) {

    case CAST_FIELD_QUERY:
        return cast_gql_plan_str(c, args[arg[CAST_ARG_USERNAME]].str,
                                 &slot->username);

    case CAST_FIELD_VOTE:
        if (cast_gql_plan_names(c, &args[arg[CAST_ARG_USERNAMES]], slot)
            != 0)
        {
            return -1;
        }

        v = &args[arg[CAST_ARG_VOTE_COUNT]];
        if (!v->absent && !v->null) {
            slot->counts = cast_arena_alloc(c->arena,
                                            (v->n + 1) * sizeof(int64_t));
            if (slot->counts == NULL) {
                c->errs->nomem = 1;
                return -1;
            }
            for (i = 0; i < v->n; i++) {
                slot->counts[i] = v->items[i].i;
            }
            slot->ncounts = v->n;
        }

        if (cast_gql_plan_str(c, args[arg[CAST_ARG_TICKET]].str,
                              &slot->ticket) != 0
            || cast_gql_plan_opt(c, &args[arg[CAST_ARG_VOTER]], &slot->voter)
               != 0
            || cast_gql_plan_opt(c, &args[arg[CAST_ARG_IDEMPOTENCY_KEY]],
                                 &slot->idempotency_key) != 0)
        {
            return -1;
        }
        break;

    case CAST_FIELD_TOP:
        /* null means the default, as absent does */
        v = &args[arg[CAST_ARG_LIMIT]];
        slot->limit = v->null ? CAST_GQL_TOP_DEFAULT : v->i;
        break;

    case CAST_FIELD_SCORES:
        if (cast_gql_plan_names(c, &args[arg[CAST_ARG_WATCH]], slot) != 0) {
            return -1;
        }
        break;

    case CAST_FIELD_TOTAL:
        return 0;

    default:
        break;
    }

    return cast_gql_plan_sub(c, g, pe);
}


/* the root field of the errors a field raised */
static void
cast_gql_error_path(cast_gql_errs_t *errs, cast_str_t key)
{
    cast_gql_err_t  *e;

    for (e = errs->head; e != NULL; e = e->next) {
        e->path = e->path.len ? e->path : key;
    }
}


/*
 * Root fields in order: __typename and introspection are answered now,
 * every other field becomes a slot, and the answer they make is held to
 * max_result_items (cast_gql_cost.c).  Returns -1 with errors in
 * c->errs.
 */
int
cast_gql_plan(cast_gql_ctx_t *c, cast_gql_op_t *op, cast_gql_plan_t *plan)
{
    cast_gql_group_t  *groups, *g;
    cast_gql_pentry_t *pe;
    cast_json_w_t      w;
    size_t             n, budget;

    if (cast_gql_collect(c, &op->sels, 1, &groups) != 0) {
        return -1;
    }

    for (n = 0, g = groups; g != NULL; g = g->next) {
        n++;
    }

    memset(plan, 0, sizeof(cast_gql_plan_t));
    plan->entries = cast_arena_calloc(c->arena, (n + 1) * sizeof(*pe));
    plan->slots = cast_arena_calloc(c->arena, (n + 1)
                                              * sizeof(cast_gql_slot_t));
    if (plan->entries == NULL || plan->slots == NULL) {
        c->errs->nomem = 1;
        return -1;
    }

    budget = c->lim->max_introspection;

    for (g = groups; g != NULL; g = g->next) {
        pe = &plan->entries[plan->n++];
        pe->off = g->nodes[0]->off;
        pe->pos = cast_gql_lines_pos(c->lines, pe->off);

        if (cast_gql_plan_str(c, g->key, &pe->key) != 0) {
            return -1;
        }

        if (g->def->root) {
            pe->kind = CAST_PLAN_SLOT;
            pe->slot = plan->nslots;
            if (cast_gql_plan_slot(c, g, &plan->slots[plan->nslots++], pe)
                != 0)
            {
                cast_gql_error_path(c->errs, pe->key);
                return -1;
            }
            continue;
        }

        if (cast_gql_streq(g->nodes[0]->name, "__typename")) {
            pe->kind = CAST_PLAN_TYPENAME;
            if (cast_gql_plan_str(c, op->kind == CAST_OP_QUERY
                                     ? c->schema->query->name
                                     : c->schema->mutation->name,
                                  &pe->json) != 0)
            {
                return -1;
            }
            continue;
        }

        /* introspection: written now, within one budget per request */
        pe->kind = CAST_PLAN_JSON;
        cast_json_w_init(&w, c->arena, 4096);

        if (cast_gql_introspect(c, &w, g, budget) != 0 || w.nomem) {
            c->errs->nomem |= w.nomem;
            cast_gql_error_path(c->errs, pe->key);
            return -1;
        }

        budget -= w.len;
        pe->json.data = w.buf;
        pe->json.len = w.len;
    }

    return cast_gql_cost(c, op, plan);
}
