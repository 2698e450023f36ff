/*
 * Validation (spec section 5) of a parsed document against the CAST
 * schema: operations, fragments, fields, arguments, directives and the
 * engine's limits.  Variables, field merging and a subscription's root
 * fields are checked in cast_gql_vars.c, cast_gql_merge.c and
 * cast_gql_validate_sub.c.  The result depends on the
 * document only, never on variables, so a validated document is cached.
 */

#include "cast_gql.h"


static const char  *cast_gql_loc_names[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION"
};


static void cast_gql_check_sels(cast_gql_vctx_t *v, cast_gql_sel_t *sels,
    const cast_gql_type_t *parent);


/* KnownArgumentNames, UniqueArgumentNames, ProvidedRequiredArguments */
static void
cast_gql_check_args(cast_gql_vctx_t *v, cast_gql_arg_t *args,
    const cast_gql_ivdef_t *defs, size_t ndefs, uint32_t off,
    const char *what, cast_str_t owner, cast_str_t name)
{
    cast_gql_arg_t          *a, *b;
    const cast_gql_ivdef_t  *d;
    size_t                   i;
    int                      found;

    for (a = args; a != NULL && !cast_gql_errs_full(v->errs); a = a->next) {
        for (b = args; b != a; b = b->next) {
            if (cast_gql_same(a->name, b->name)) {
                cast_gql_verr(v, a->off, "There can be only one argument "
                              "named \"%.*s\".", (int) a->name.len,
                              a->name.data);
                break;
            }
        }

        d = cast_gql_find_arg(defs, ndefs, a->name);
        if (d == NULL) {
            cast_gql_verr(v, a->off, "Unknown argument \"%.*s\" on %s "
                          "\"%s%.*s%s%.*s\".", (int) a->name.len,
                          a->name.data, what, *what == 'd' ? "@" : "",
                          (int) owner.len, owner.data, owner.len ? "." : "",
                          (int) name.len, name.data);
            continue;
        }

        if (b == a) {
            cast_gql_check_value(v, a->value, d->type);
        }
    }

    for (i = 0; i < ndefs; i++) {
        d = &defs[i];
        if (d->type->kind != CAST_TK_NON_NULL || d->defval.len != 0) {
            continue;
        }

        for (found = 0, a = args; a != NULL && !found; a = a->next) {
            found = cast_gql_same(a->name, d->name);
        }

        if (!found) {
            cast_gql_verr(v, off, "%s \"%s%.*s\" argument \"%.*s\" of type "
                          "\"%.*s\" is required, but it was not provided.",
                          *what == 'f' ? "Field" : "Directive",
                          *what == 'f' ? "" : "@", (int) name.len, name.data,
                          (int) d->name.len, d->name.data,
                          (int) cast_gql_type_str(v->arena, d->type).len,
                          cast_gql_type_str(v->arena, d->type).data);
        }
    }
}


/* KnownDirectives, UniqueDirectivesPerLocation, directive arguments */
void
cast_gql_check_dirs(cast_gql_vctx_t *v, cast_gql_dir_t *dirs, cast_dloc_e loc)
{
    cast_gql_dir_t         *d, *e;
    const cast_gql_ddef_t  *def;
    cast_str_t              none;

    none.data = "";
    none.len = 0;

    for (d = dirs; d != NULL && !cast_gql_errs_full(v->errs); d = d->next) {
        def = cast_gql_schema_dir(v->schema, d->name);

        if (def == NULL) {
            cast_gql_verr(v, d->off, "Unknown directive \"@%.*s\".",
                          (int) d->name.len, d->name.data);
            continue;
        }

        if (!(def->mask & (1u << loc))) {
            cast_gql_verr(v, d->off, "Directive \"@%.*s\" may not be used "
                          "on %s.", (int) d->name.len, d->name.data,
                          cast_gql_loc_names[loc]);
            continue;
        }

        for (e = dirs; e != d && !def->repeatable; e = e->next) {
            if (cast_gql_same(e->name, d->name)) {
                cast_gql_verr(v, d->off, "The directive \"@%.*s\" can only "
                              "be used once at this location.",
                              (int) d->name.len, d->name.data);
                break;
            }
        }

        cast_gql_check_args(v, d->args, def->args, def->nargs, d->off,
                            "directive", none, d->name);
    }
}


static void
cast_gql_check_field(cast_gql_vctx_t *v, cast_gql_sel_t *sel,
    const cast_gql_type_t *parent)
{
    const cast_gql_fdef_t  *f;
    const cast_gql_type_t  *named;
    cast_str_t              ts;

    cast_gql_check_dirs(v, sel->dirs, CAST_LOC_FIELD);

    f = cast_gql_field_def(v->schema, parent, sel->name);
    if (f == NULL) {
        cast_gql_verr(v, sel->off, "Cannot query field \"%.*s\" on type "
                      "\"%.*s\".", (int) sel->name.len, sel->name.data,
                      (int) parent->name.len, parent->name.data);
        return;
    }

    sel->def = f;

    if (!v->lim->introspection && parent == v->schema->query
        && (cast_gql_streq(sel->name, "__schema")
            || cast_gql_streq(sel->name, "__type")))
    {
        cast_gql_verr(v, sel->off, "Introspection is disabled on this "
                      "server (introspection limit): \"%.*s\" is not "
                      "allowed.", (int) sel->name.len, sel->name.data);
    }

    cast_gql_check_args(v, sel->args, f->args, f->nargs, sel->off, "field",
                        parent->name, sel->name);

    named = cast_gql_named(f->type);

    if (named->kind == CAST_TK_OBJECT) {
        if (sel->sels == NULL) {
            ts = cast_gql_type_str(v->arena, f->type);
            cast_gql_verr(v, sel->off, "Field \"%.*s\" of type \"%.*s\" "
                          "must have a selection of subfields. Did you mean "
                          "\"%.*s { ... }\"?", (int) sel->name.len,
                          sel->name.data, (int) ts.len, ts.data,
                          (int) sel->name.len, sel->name.data);
            return;
        }

        cast_gql_check_sels(v, sel->sels, named);

    } else if (sel->sels != NULL) {
        ts = cast_gql_type_str(v->arena, f->type);
        cast_gql_verr(v, sel->off, "Field \"%.*s\" must not have a selection "
                      "since type \"%.*s\" has no subfields.",
                      (int) sel->name.len, sel->name.data, (int) ts.len,
                      ts.data);
    }
}


/* KnownTypeNames and FragmentsOnCompositeTypes for a type condition */
static const cast_gql_type_t *
cast_gql_condition(cast_gql_vctx_t *v, cast_str_t cond, uint32_t off,
    cast_str_t frag)
{
    const cast_gql_type_t  *t;

    t = cast_gql_schema_type(v->schema, cond);

    if (t == NULL) {
        cast_gql_verr(v, off, "Unknown type \"%.*s\".", (int) cond.len,
                      cond.data);
        return NULL;
    }

    if (t->kind != CAST_TK_OBJECT) {
        cast_gql_verr(v, off, "Fragment %s%.*s%scannot condition on non "
                      "composite type \"%.*s\".", frag.len ? "\"" : "",
                      (int) frag.len, frag.data, frag.len ? "\" " : "",
                      (int) cond.len, cond.data);
        return NULL;
    }

    return t;
}


/* PossibleFragmentSpreads: object types only overlap when equal */
static void
cast_gql_possible(cast_gql_vctx_t *v, const cast_gql_type_t *parent,
    const cast_gql_type_t *t, cast_gql_sel_t *sel)
{
    if (t == NULL || t == parent) {
        return;
    }

    cast_gql_verr(v, sel->off, "Fragment %s%.*s%scannot be spread here as "
                  "objects of type \"%.*s\" can never be of type \"%.*s\".",
                  sel->kind == CAST_SEL_SPREAD ? "\"" : "",
                  (int) sel->name.len, sel->name.data,
                  sel->kind == CAST_SEL_SPREAD ? "\" " : "",
                  (int) parent->name.len, parent->name.data,
                  (int) t->name.len, t->name.data);
}


static void
cast_gql_check_sels(cast_gql_vctx_t *v, cast_gql_sel_t *sels,
    const cast_gql_type_t *parent)
{
    cast_gql_sel_t         *sel;
    const cast_gql_type_t  *t;
    cast_str_t              none;

    none.data = "";
    none.len = 0;

    for (sel = sels; sel != NULL && !cast_gql_errs_full(v->errs);
         sel = sel->next)
    {
        switch (sel->kind) {

        case CAST_SEL_FIELD:
            cast_gql_check_field(v, sel, parent);
            break;

        case CAST_SEL_SPREAD:
            cast_gql_check_dirs(v, sel->dirs, CAST_LOC_FRAGMENT_SPREAD);
            sel->frag = cast_gql_names_get(&v->frags, sel->name);
            if (sel->frag == NULL) {
                cast_gql_verr(v, sel->off, "Unknown fragment \"%.*s\".",
                              (int) sel->name.len, sel->name.data);
                break;
            }
            cast_gql_possible(v, parent,
                              cast_gql_schema_type(v->schema,
                                                   sel->frag->cond), sel);
            break;

        default:
            cast_gql_check_dirs(v, sel->dirs, CAST_LOC_INLINE_FRAGMENT);
            t = parent;
            if (sel->cond.len) {
                t = cast_gql_condition(v, sel->cond, sel->off, none);
                cast_gql_possible(v, parent, t, sel);
            }
            if (t == parent) {
                cast_gql_check_sels(v, sel->sels, parent);
            }
        }
    }
}


/* NoFragmentCycles: depth-first over spreads, state 1 = on the path */
static int
cast_gql_cycles(cast_gql_vctx_t *v, cast_gql_frag_t *f, cast_gql_sel_t *sels)
{
    cast_gql_sel_t  *s;
    int              bad;

    bad = 0;

    for (s = sels; s != NULL; s = s->next) {
        if (s->kind == CAST_SEL_SPREAD && s->frag != NULL) {
            if (s->frag->state == 1) {
                cast_gql_verr(v, s->off, "Cannot spread fragment \"%.*s\" "
                              "within itself%s%.*s%s.",
                              (int) s->frag->name.len, s->frag->name.data,
                              s->frag == f ? "" : " via \"",
                              (int) (s->frag == f ? 0 : f->name.len),
                              f->name.data, s->frag == f ? "" : "\"");
                bad = 1;

            } else if (s->frag->state == 0) {
                s->frag->state = 1;
                bad |= cast_gql_cycles(v, s->frag, s->frag->sels);
                s->frag->state = 2;
            }

        } else {
            bad |= cast_gql_cycles(v, f, s->sels);
        }
    }

    return bad;
}


static size_t
cast_gql_sat(size_t a, size_t b)
{
    return a + b < a ? SIZE_MAX : a + b;
}


/* selection depth and field count with fragments expanded (memoised) */
static void
cast_gql_measure(cast_gql_sel_t *sels, size_t *depth, size_t *fields,
    size_t *aliases)
{
    cast_gql_sel_t  *s;
    size_t           d, f;

    *depth = 0;
    *fields = 0;

    for (s = sels; s != NULL; s = s->next) {
        if (s->kind == CAST_SEL_SPREAD) {
            if (s->frag == NULL) {
                continue;
            }
            if (s->frag->state != 3) {
                cast_gql_measure(s->frag->sels, &s->frag->depth,
                                 &s->frag->nfields, aliases);
                s->frag->state = 3;
            }
            d = s->frag->depth;
            f = s->frag->nfields;

        } else {
            cast_gql_measure(s->sels, &d, &f, aliases);
            if (s->kind == CAST_SEL_FIELD) {
                d++;
                f = cast_gql_sat(f, 1);
                *aliases += s->alias.len != 0;
            }
        }

        *depth = d > *depth ? d : *depth;
        *fields = cast_gql_sat(*fields, f);
    }
}


static size_t
cast_gql_value_uses(const cast_gql_value_t *val)
{
    const cast_gql_value_t  *item;
    size_t                   n;

    if (val->kind == CAST_VAL_VARIABLE) {
        return 1;
    }

    for (n = 0, item = val->items; item != NULL; item = item->next) {
        n = cast_gql_sat(n, cast_gql_value_uses(item));
    }

    return n;
}


static size_t
cast_gql_args_uses(const cast_gql_arg_t *args, const cast_gql_dir_t *dirs)
{
    size_t  n;

    for (n = 0; args != NULL; args = args->next) {
        n = cast_gql_sat(n, cast_gql_value_uses(args->value));
    }

    for ( /* void */ ; dirs != NULL; dirs = dirs->next) {
        n = cast_gql_sat(n, cast_gql_args_uses(dirs->args, NULL));
    }

    return n;
}


/*
 * Variable uses with fragments expanded (memoised): what the variable
 * rules walk, once per operation.
 */
static size_t
cast_gql_uses(cast_gql_sel_t *sels)
{
    cast_gql_sel_t   *s;
    cast_gql_frag_t  *f;
    size_t            n;

    for (n = 0, s = sels; s != NULL; s = s->next) {
        n = cast_gql_sat(n, cast_gql_args_uses(s->args, s->dirs));

        f = s->kind == CAST_SEL_SPREAD ? s->frag : NULL;

        if (f != NULL && f->nuses == 0) {
            f->nuses = cast_gql_sat(cast_gql_args_uses(NULL, f->dirs),
                                    cast_gql_uses(f->sels));
            f->nuses = cast_gql_sat(f->nuses, 1);
        }

        n = cast_gql_sat(n, f != NULL ? f->nuses - 1 : cast_gql_uses(s->sels));
    }

    return n;
}


static void
cast_gql_check_limits(cast_gql_vctx_t *v)
{
    cast_gql_op_t    *op;
    cast_gql_frag_t  *f;
    size_t            depth, fields, aliases, total, uses;

    aliases = 0;
    total = 0;
    uses = 0;

    for (op = v->doc->ops; op != NULL; op = op->next) {
        cast_gql_measure(op->sels, &depth, &fields, &aliases);
        total = cast_gql_sat(total, fields);
        uses = cast_gql_sat(uses, cast_gql_sat(cast_gql_uses(op->sels),
                                               cast_gql_args_uses(NULL,
                                                                  op->dirs)));

        if (depth > v->lim->max_depth) {
            cast_gql_verr(v, op->off, "Selection depth %zu exceeds the "
                          "limit of %zu (max_depth).", depth,
                          v->lim->max_depth);
        }
    }

    for (f = v->doc->frags; f != NULL; f = f->next) {
        if (f->state != 3) {
            cast_gql_measure(f->sels, &depth, &fields, &aliases);
        }
    }

    if (total > v->lim->max_fields) {
        cast_gql_verr(v, v->doc->ops->off, "Document selects %zu fields, "
                      "more than the limit of %zu (max_fields).", total,
                      v->lim->max_fields);
    }

    if (aliases > v->lim->max_aliases) {
        cast_gql_verr(v, v->doc->ops->off, "Document uses %zu aliases, "
                      "more than the limit of %zu (max_aliases).", aliases,
                      v->lim->max_aliases);
    }

    /* never without fragments: a use takes two tokens */
    if (uses > v->lim->max_tokens) {
        cast_gql_verr(v, v->doc->ops->off, "Document uses variables %zu "
                      "times with its fragments expanded, more than the "
                      "limit of %zu (max_tokens).", uses,
                      v->lim->max_tokens);
    }
}


static void
cast_gql_check_ops(cast_gql_vctx_t *v)
{
    cast_gql_op_t          *op;
    cast_gql_names_t        names;
    const cast_gql_type_t  *root;

    if (cast_gql_names_init(&names, v->scratch, v->doc->nops) != 0) {
        v->errs->nomem = 1;
        return;
    }

    for (op = v->doc->ops; op != NULL && !cast_gql_errs_full(v->errs);
         op = op->next)
    {
        if (op->name.len == 0 && v->doc->nops > 1) {
            cast_gql_verr(v, op->off, "This anonymous operation must be the "
                          "only defined operation.");
        }

        if (op->name.len && cast_gql_names_put(&names, op->name, op) != NULL)
        {
            cast_gql_verr(v, op->off, "There can be only one operation "
                          "named \"%.*s\".", (int) op->name.len,
                          op->name.data);
        }

        cast_gql_check_dirs(v, op->dirs, (cast_dloc_e) (op->kind - 1));

        if (op->kind == CAST_OP_SUBSCRIPTION && v->schema->subscription == NULL)
        {
            cast_gql_verr(v, op->off, "Schema is not configured to execute "
                          "subscription operation.");
            continue;
        }

        root = op->kind == CAST_OP_QUERY ? v->schema->query
               : op->kind == CAST_OP_MUTATION ? v->schema->mutation
               : v->schema->subscription;
        cast_gql_check_sels(v, op->sels, root);

        if (op->kind == CAST_OP_SUBSCRIPTION) {
            cast_gql_check_subscription(v, op);
        }
    }
}


static void
cast_gql_check_frags(cast_gql_vctx_t *v)
{
    cast_gql_frag_t        *f;
    const cast_gql_type_t  *t;

    for (f = v->doc->frags; f != NULL && !cast_gql_errs_full(v->errs);
         f = f->next)
    {
        if (cast_gql_names_get(&v->frags, f->name) != f) {
            cast_gql_verr(v, f->off, "There can be only one fragment "
                          "named \"%.*s\".", (int) f->name.len,
                          f->name.data);
        }

        cast_gql_check_dirs(v, f->dirs, CAST_LOC_FRAGMENT_DEFINITION);

        t = cast_gql_condition(v, f->cond, f->cond_off, f->name);
        if (t != NULL) {
            cast_gql_check_sels(v, f->sels, t);
        }
    }
}


/* NoUnusedFragments: mark what the operations reach */
static void
cast_gql_mark_used(cast_gql_sel_t *sels)
{
    cast_gql_sel_t  *s;

    for (s = sels; s != NULL; s = s->next) {
        if (s->kind == CAST_SEL_SPREAD) {
            if (s->frag != NULL && !s->frag->used) {
                s->frag->used = 1;
                cast_gql_mark_used(s->frag->sels);
            }

        } else {
            cast_gql_mark_used(s->sels);
        }
    }
}


int
cast_gql_validate(const cast_gql_schema_t *s, const cast_gql_limits_t *lim,
    cast_arena_t *a, cast_gql_doc_t *doc, cast_gql_errs_t *errs)
{
    cast_gql_vctx_t   v;
    cast_arena_t      scratch;
    cast_gql_op_t    *op;
    cast_gql_frag_t  *f;
    size_t            n;
    int               cycles;

    cast_arena_init(&scratch, NULL);

    v.schema = s;
    v.lim = lim;
    v.arena = a;
    v.scratch = &scratch;
    v.doc = doc;
    v.errs = errs;
    v.gen = 3;

    if (doc->ops == NULL) {
        cast_gql_verr(&v, 0, "Document has no operation to execute.");
        return -1;
    }

    /* spreads find the first fragment of their name */
    v.seen.cur = 0;
    v.seen.gen = cast_arena_calloc(&scratch,
                                   (doc->nfrags + 1) * sizeof(uint32_t));

    if (v.seen.gen == NULL
        || cast_gql_names_init(&v.frags, &scratch, doc->nfrags) != 0)
    {
        cast_arena_free(&scratch);
        errs->nomem = 1;
        return -1;
    }

    for (f = doc->frags; f != NULL; f = f->next) {
        (void) cast_gql_names_put(&v.frags, f->name, f);
    }

    cast_gql_check_frags(&v);
    cast_gql_check_ops(&v);

    /* graphql-js stops at its error limit too */
    if (cast_gql_errs_full(errs)) {
        cast_arena_free(&scratch);
        return -1;
    }

    cycles = 0;
    for (f = doc->frags; f != NULL; f = f->next) {
        if (f->state == 0) {
            f->state = 1;
            cycles |= cast_gql_cycles(&v, f, f->sels);
            f->state = 2;
        }
    }

    for (op = doc->ops; op != NULL; op = op->next) {
        cast_gql_mark_used(op->sels);
    }

    for (f = doc->frags; f != NULL; f = f->next) {
        if (!f->used) {
            cast_gql_verr(&v, f->off, "Fragment \"%.*s\" is never used.",
                          (int) f->name.len, f->name.data);
        }
    }

    /*
     * The walks below expand fragments once per operation: only without
     * cycles, and only within the limits, which bound their work.
     */
    n = errs->n;

    if (!cycles && !cast_gql_errs_full(errs)) {
        cast_gql_check_limits(&v);
    }

    if (!cycles && !cast_gql_errs_full(errs) && errs->n == n) {
        for (op = doc->ops; op != NULL; op = op->next) {
            cast_gql_check_variables(&v, op);
            if (errs->n == 0) {
                cast_gql_check_merge(&v, op->sels);
            }
        }
    }

    cast_arena_free(&scratch);

    return errs->n == 0 && !errs->nomem ? 0 : -1;
}
