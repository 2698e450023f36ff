/*
 * OverlappingFieldsCanBeMerged (spec 5.3.2).  Every composite type of the
 * CAST schema is an object type and a fragment can only apply to its own
 * type, so all fields collected for one response key share the parent
 * type: they must name the same field with the same arguments, and their
 * sub-selections, taken together, must merge in turn.
 */

#include "cast_gql.h"


typedef struct {
    cast_gql_sel_t          **f;
    size_t                    n;
    size_t                    cap;
} cast_gql_coll_t;


static int
cast_gql_push(cast_arena_t *a, void ***arr, size_t *n, size_t *cap, void *p)
{
    void  **na;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        na = cast_arena_alloc(a, *cap * sizeof(void *));
        if (na == NULL) {
            return -1;
        }
        if (*n) {
            memcpy(na, *arr, *n * sizeof(void *));
        }
        *arr = na;
    }

    (*arr)[(*n)++] = p;

    return 0;
}


/* the fields of the sets, fragments expanded once each (v->seen) */
static int
cast_gql_coll(cast_gql_vctx_t *v, cast_gql_coll_t *c, cast_gql_sel_t *sels)
{
    cast_gql_sel_t  *s;

    for (s = sels; s != NULL; s = s->next) {
        if (s->kind == CAST_SEL_FIELD) {
            if (cast_gql_push(v->scratch, (void ***) &c->f, &c->n, &c->cap, s))
            {
                return -1;
            }
            continue;
        }

        if (s->kind == CAST_SEL_INLINE) {
            if (cast_gql_coll(v, c, s->sels) != 0) {
                return -1;
            }
            continue;
        }

        if (s->frag == NULL || cast_gql_marks_test(&v->seen, s->frag->idx)) {
            continue;
        }

        cast_gql_marks_set(&v->seen, s->frag->idx);

        if (cast_gql_coll(v, c, s->frag->sels) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
cast_gql_value_eq(const cast_gql_value_t *a, const cast_gql_value_t *b)
{
    const cast_gql_value_t  *x, *y;

    if (a->kind != b->kind || a->n != b->n) {
        return 0;
    }

    if (a->kind == CAST_VAL_LIST) {
        for (x = a->items, y = b->items; x != NULL; x = x->next, y = y->next)
        {
            if (!cast_gql_value_eq(x, y)) {
                return 0;
            }
        }
        return 1;
    }

    if (a->kind == CAST_VAL_OBJECT) {
        for (x = a->items; x != NULL; x = x->next) {
            for (y = b->items; y != NULL; y = y->next) {
                if (x->field.len == y->field.len
                    && memcmp(x->field.data, y->field.data, x->field.len) == 0)
                {
                    break;
                }
            }
            if (y == NULL || !cast_gql_value_eq(x, y)) {
                return 0;
            }
        }
        return 1;
    }

    return a->str.len == b->str.len
           && memcmp(a->str.data, b->str.data, a->str.len) == 0;
}


static int
cast_gql_args_eq(const cast_gql_arg_t *a, const cast_gql_arg_t *b)
{
    const cast_gql_arg_t  *x, *y;
    size_t                 na, nb;

    for (na = 0, x = a; x != NULL; x = x->next, na++) { /* void */ }
    for (nb = 0, y = b; y != NULL; y = y->next, nb++) { /* void */ }

    if (na != nb) {
        return 0;
    }

    for (x = a; x != NULL; x = x->next) {
        for (y = b; y != NULL; y = y->next) {
            if (x->name.len == y->name.len
                && memcmp(x->name.data, y->name.data, x->name.len) == 0)
            {
                break;
            }
        }
        if (y == NULL || !cast_gql_value_eq(x->value, y->value)) {
            return 0;
        }
    }

    return 1;
}


static void
cast_gql_conflict(cast_gql_vctx_t *v, cast_gql_sel_t *a, cast_gql_sel_t *b)
{
    cast_gql_err_t  *e;
    cast_str_t       k;

    k = cast_gql_key(a);

    if (a->name.len != b->name.len
        || memcmp(a->name.data, b->name.data, a->name.len) != 0)
    {
        e = cast_gql_error(v->arena, v->errs, "GRAPHQL_VALIDATION_FAILED",
                           a->off, "Fields \"%.*s\" conflict because "
                           "\"%.*s\" and \"%.*s\" are different fields. Use "
                           "different aliases on the fields to fetch both if "
                           "this was intentional.", (int) k.len, k.data,
                           (int) a->name.len, a->name.data,
                           (int) b->name.len, b->name.data);

    } else {
        e = cast_gql_error(v->arena, v->errs, "GRAPHQL_VALIDATION_FAILED",
                           a->off, "Fields \"%.*s\" conflict because they "
                           "have differing arguments. Use different aliases "
                           "on the fields to fetch both if this was "
                           "intentional.", (int) k.len, k.data);
    }

    if (e != NULL) {
        e->loc[1] = b->off;
    }
}


static int
cast_gql_merge_sets(cast_gql_vctx_t *v, cast_gql_sel_t **sets, size_t nsets)
{
    cast_gql_coll_t   c;
    cast_gql_sel_t  **sub, *a, *b;
    cast_str_t        ka, kb;
    size_t            i, j, nsub, subcap;
    char             *done;
    int               bad;

    memset(&c, 0, sizeof(c));
    cast_gql_marks_next(&v->seen);

    for (i = 0; i < nsets; i++) {
        if (cast_gql_coll(v, &c, sets[i]) != 0) {
            return -1;
        }
    }

    done = cast_arena_calloc(v->scratch, c.n + 1);
    if (done == NULL) {
        return -1;
    }

    for (i = 0; i < c.n; i++) {
        if (done[i]) {
            continue;
        }

        a = c.f[i];
        ka = cast_gql_key(a);
        sub = NULL;
        nsub = 0;
        subcap = 0;
        bad = 0;

        for (j = i; j < c.n; j++) {
            b = c.f[j];
            kb = cast_gql_key(b);

            if (ka.len != kb.len || memcmp(ka.data, kb.data, ka.len) != 0) {
                continue;
            }

            done[j] = 1;

            if (!bad && (a->def != b->def || !cast_gql_args_eq(a->args,
                                                               b->args)))
            {
                cast_gql_conflict(v, a, b);
                bad = 1;
            }

            if (b->sels != NULL
                && cast_gql_push(v->scratch, (void ***) &sub, &nsub, &subcap,
                                 b->sels) != 0)
            {
                return -1;
            }
        }

        if (!bad && nsub && cast_gql_merge_sets(v, sub, nsub) != 0) {
            return -1;
        }
    }

    return 0;
}


void
cast_gql_check_merge(cast_gql_vctx_t *v, cast_gql_sel_t *sels)
{
    if (cast_gql_merge_sets(v, &sels, 1) != 0) {
        v->errs->nomem = 1;
    }
}
