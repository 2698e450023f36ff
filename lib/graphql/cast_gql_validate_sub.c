/*
 * Validation of a subscription's root selection: the spec's
 * SingleFieldSubscriptions, with the root fields found as its
 * CollectSubscriptionFields finds them (fragments expanded, each once),
 * before any variable is known.  Called by cast_gql_validate() for each
 * subscription operation.
 */

#include "cast_gql.h"


/* what a subscription's root selection holds, fragments expanded */
typedef struct {
    cast_str_t  key;        /* the first response key */
    size_t      n;          /* how many keys, counted to 2 */
    int         meta;       /* one is a meta-field */
    int         cond;       /* one is under @skip or @include */
} cast_gql_roots_t;


static int
cast_gql_conditional(cast_gql_dir_t *dirs)
{
    for ( /* void */ ; dirs != NULL; dirs = dirs->next) {
        if (cast_gql_streq(dirs->name, "skip")
            || cast_gql_streq(dirs->name, "include"))
        {
            return 1;
        }
    }

    return 0;
}


/* the root fields of a subscription's selection, each fragment once */
static void
cast_gql_root_keys(cast_gql_vctx_t *v, cast_gql_sel_t *sels,
    cast_gql_roots_t *roots, size_t depth)
{
    cast_gql_sel_t  *s;
    cast_str_t       k;

    for (s = sels; s != NULL && depth < CAST_GQL_MAX_NEST; s = s->next) {
        if (cast_gql_conditional(s->dirs)) {
            roots->cond = 1;
        }

        if (s->kind == CAST_SEL_INLINE) {
            cast_gql_root_keys(v, s->sels, roots, depth + 1);
            continue;
        }

        if (s->kind == CAST_SEL_SPREAD) {
            if (s->frag != NULL && !cast_gql_marks_test(&v->seen,
                                                        s->frag->idx))
            {
                cast_gql_marks_set(&v->seen, s->frag->idx);
                cast_gql_root_keys(v, s->frag->sels, roots, depth + 1);
            }
            continue;
        }

        k = cast_gql_key(s);

        if (s->name.len > 1 && s->name.data[0] == '_'
            && s->name.data[1] == '_')
        {
            roots->meta = 1;
        }

        if (roots->n == 0) {
            roots->key = k;
            roots->n = 1;

        } else if (!cast_gql_same(roots->key, k)) {
            roots->n = 2;
        }
    }
}


static void
cast_gql_sub_err(cast_gql_vctx_t *v, cast_gql_op_t *op, const char *must)
{
    if (op->name.len) {
        cast_gql_verr(v, op->off, "Subscription \"%.*s\" must %s",
                      (int) op->name.len, op->name.data, must);
    } else {
        cast_gql_verr(v, op->off, "Anonymous Subscription must %s", must);
    }
}


/*
 * SingleFieldSubscriptions: one root field, not a meta-field, and never
 * under @skip or @include, which could leave none (the spec's
 * CollectSubscriptionFields)
 */
void
cast_gql_check_subscription(cast_gql_vctx_t *v, cast_gql_op_t *op)
{
    cast_gql_roots_t  roots;

    memset(&roots, 0, sizeof(cast_gql_roots_t));

    cast_gql_marks_next(&v->seen);
    cast_gql_root_keys(v, op->sels, &roots, 0);

    if (roots.n > 1) {
        cast_gql_sub_err(v, op, "select only one top level field.");
    }

    if (roots.meta) {
        cast_gql_sub_err(v, op, "not select an introspection top level "
                         "field.");
    }

    if (roots.cond) {
        cast_gql_sub_err(v, op, "not use `@skip` or `@include` directives "
                         "in the top level selection.");
    }
}
