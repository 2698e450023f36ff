/*
 * Introspection (spec 4.2): __schema and __type answered from the schema
 * model, written straight to JSON.  Nullable fields that do not apply
 * (ofType of a named type, fields of a scalar) are null, as the spec
 * says; nothing here can fail but the output budget (bytes written; the
 * memory used is a small multiple of it: subfields are collected once
 * per field, not once per object).
 */

#include "cast_json.h"


typedef enum {
    CAST_IO_SCHEMA = 0,
    CAST_IO_TYPE,
    CAST_IO_FIELD,
    CAST_IO_INPUT,
    CAST_IO_ENUM,
    CAST_IO_DIRECTIVE
} cast_io_e;


typedef struct {
    cast_gql_ctx_t           *c;
    cast_json_w_t            *w;
    size_t                    budget;   /* bytes */
    uint32_t                  off;      /* of the root field */
} cast_gql_ix_t;


static const char  *cast_io_types[] = {
    "__Schema", "__Type", "__Field", "__InputValue", "__EnumValue",
    "__Directive"
};

static const char  *cast_tk_names[] = {
    "SCALAR", "OBJECT", "INTERFACE", "UNION", "ENUM", "INPUT_OBJECT", "LIST",
    "NON_NULL"
};


static int cast_gql_ix_object(cast_gql_ix_t *ix, cast_io_e kind,
    const void *obj, cast_gql_group_t *g);


static void
cast_gql_ix_str(cast_gql_ix_t *ix, cast_str_t s)
{
    if (s.data == NULL) {
        cast_json_lit(ix->w, "null");
    } else {
        cast_json_str(ix->w, s.data, s.len);
    }
}


static void
cast_gql_ix_cstr(cast_gql_ix_t *ix, const char *s)
{
    cast_json_str(ix->w, s, strlen(s));
}


static void
cast_gql_ix_bool(cast_gql_ix_t *ix, int b)
{
    if (b) {
        cast_json_lit(ix->w, "true");
    } else {
        cast_json_lit(ix->w, "false");
    }
}


static int
cast_gql_ix_include_deprecated(cast_gql_ix_t *ix, cast_gql_group_t *g)
{
    cast_gql_rval_t  arg;

    if (g->def->nargs == 0
        || cast_gql_coerce_args(ix->c, g->def->args, 1, g->nodes[0]->args,
                                &arg) != 0)
    {
        return 0;
    }

    return arg.boolean;
}


/* a list of n elements of size sz from base, deprecated ones filtered */
static int
cast_gql_ix_list(cast_gql_ix_t *ix, cast_io_e kind, const void *base,
    size_t n, size_t sz, cast_gql_group_t *g, int all)
{
    const char  *p;
    size_t       i;
    int          first, dep;

    cast_json_lit(ix->w, "[");

    for (i = 0, first = 1; i < n; i++) {
        p = (const char *) base + i * sz;

        if (kind == CAST_IO_TYPE) {
            p = (const char *) ((const cast_gql_type_t *const *) base)[i];
        }

        dep = kind == CAST_IO_FIELD ? ((const cast_gql_fdef_t *) p)->deprecated
            : kind == CAST_IO_INPUT ? ((const cast_gql_ivdef_t *) p)->deprecated
            : kind == CAST_IO_ENUM ? ((const cast_gql_evdef_t *) p)->deprecated
            : 0;

        if (dep && !all) {
            continue;
        }

        if (!first) {
            cast_json_lit(ix->w, ",");
        }

        first = 0;

        if (cast_gql_ix_object(ix, kind, p, g) != 0) {
            return -1;
        }
    }

    cast_json_lit(ix->w, "]");

    return 0;
}


static int
cast_gql_ix_schema(cast_gql_ix_t *ix, const cast_gql_schema_t *s,
    cast_str_t n, cast_gql_group_t *g)
{
    if (cast_gql_streq(n, "types")) {
        return cast_gql_ix_list(ix, CAST_IO_TYPE, s->types, s->ntypes, 0, g,
                                1);
    }

    if (cast_gql_streq(n, "queryType")) {
        return cast_gql_ix_object(ix, CAST_IO_TYPE, s->query, g);
    }

    if (cast_gql_streq(n, "mutationType")) {
        return cast_gql_ix_object(ix, CAST_IO_TYPE, s->mutation, g);
    }

    if (cast_gql_streq(n, "subscriptionType") && s->subscription != NULL) {
        return cast_gql_ix_object(ix, CAST_IO_TYPE, s->subscription, g);
    }

    if (cast_gql_streq(n, "directives")) {
        return cast_gql_ix_list(ix, CAST_IO_DIRECTIVE, s->dirs, s->ndirs,
                                sizeof(cast_gql_ddef_t), g, 1);
    }

    /* description, or no subscriptionType */
    cast_json_lit(ix->w, "null");

    return 0;
}


static int
cast_gql_ix_type(cast_gql_ix_t *ix, const cast_gql_type_t *t, cast_str_t n,
    cast_gql_group_t *g)
{
    int  named;

    named = t->kind != CAST_TK_LIST && t->kind != CAST_TK_NON_NULL;

    if (cast_gql_streq(n, "kind")) {
        cast_gql_ix_cstr(ix, cast_tk_names[t->kind]);

    } else if (cast_gql_streq(n, "name")) {
        cast_gql_ix_str(ix, named ? t->name : (cast_str_t) { NULL, 0 });

    } else if (cast_gql_streq(n, "description")) {
        cast_gql_ix_str(ix, named ? t->desc : (cast_str_t) { NULL, 0 });

    } else if (cast_gql_streq(n, "specifiedByURL")) {
        cast_gql_ix_str(ix, t->specified_by);

    } else if (cast_gql_streq(n, "fields") && t->kind == CAST_TK_OBJECT) {
        return cast_gql_ix_list(ix, CAST_IO_FIELD, t->fields, t->nfields,
                                sizeof(cast_gql_fdef_t), g,
                                cast_gql_ix_include_deprecated(ix, g));

    } else if (cast_gql_streq(n, "interfaces") && t->kind == CAST_TK_OBJECT) {
        cast_json_lit(ix->w, "[]");

    } else if (cast_gql_streq(n, "enumValues") && t->kind == CAST_TK_ENUM) {
        return cast_gql_ix_list(ix, CAST_IO_ENUM, t->values, t->nvalues,
                                sizeof(cast_gql_evdef_t), g,
                                cast_gql_ix_include_deprecated(ix, g));

    } else if (cast_gql_streq(n, "ofType") && t->of != NULL) {
        return cast_gql_ix_object(ix, CAST_IO_TYPE, t->of, g);

    } else if (cast_gql_streq(n, "isOneOf") && t->kind == CAST_TK_INPUT_OBJECT)
    {
        cast_gql_ix_bool(ix, 0);

    } else {
        /* possibleTypes, inputFields, and what does not apply */
        cast_json_lit(ix->w, "null");
    }

    return 0;
}


static int
cast_gql_ix_deprecation(cast_gql_ix_t *ix, cast_str_t n, int dep,
    cast_str_t reason)
{
    if (cast_gql_streq(n, "isDeprecated")) {
        cast_gql_ix_bool(ix, dep);
        return 1;
    }

    if (cast_gql_streq(n, "deprecationReason")) {
        cast_gql_ix_str(ix, dep ? reason : (cast_str_t) { NULL, 0 });
        return 1;
    }

    return 0;
}


static int
cast_gql_ix_member(cast_gql_ix_t *ix, cast_io_e kind, const void *obj,
    cast_str_t n, cast_gql_group_t *g)
{
    const cast_gql_fdef_t   *f;
    const cast_gql_ivdef_t  *iv;
    const cast_gql_evdef_t  *ev;
    const cast_gql_ddef_t   *d;
    size_t                   i;

    f = obj;
    iv = obj;
    ev = obj;
    d = obj;

    switch (kind) {

    case CAST_IO_FIELD:
        if (cast_gql_streq(n, "args")) {
            return cast_gql_ix_list(ix, CAST_IO_INPUT, f->args, f->nargs,
                                    sizeof(cast_gql_ivdef_t), g,
                                    cast_gql_ix_include_deprecated(ix, g));
        }
        if (cast_gql_streq(n, "type")) {
            return cast_gql_ix_object(ix, CAST_IO_TYPE, f->type, g);
        }
        if (!cast_gql_ix_deprecation(ix, n, f->deprecated, f->reason)) {
            cast_gql_ix_str(ix, cast_gql_streq(n, "name") ? f->name : f->desc);
        }
        return 0;

    case CAST_IO_INPUT:
        if (cast_gql_streq(n, "type")) {
            return cast_gql_ix_object(ix, CAST_IO_TYPE, iv->type, g);
        }
        if (!cast_gql_ix_deprecation(ix, n, iv->deprecated, iv->reason)) {
            cast_gql_ix_str(ix, cast_gql_streq(n, "name") ? iv->name
                              : cast_gql_streq(n, "description") ? iv->desc
                              : iv->defval.len ? iv->defval
                              : (cast_str_t) { NULL, 0 });
        }
        return 0;

    case CAST_IO_ENUM:
        if (!cast_gql_ix_deprecation(ix, n, ev->deprecated, ev->reason)) {
            cast_gql_ix_str(ix, cast_gql_streq(n, "name") ? ev->name
                                                          : ev->desc);
        }
        return 0;

    default:
        if (cast_gql_streq(n, "args")) {
            return cast_gql_ix_list(ix, CAST_IO_INPUT, d->args, d->nargs,
                                    sizeof(cast_gql_ivdef_t), g,
                                    cast_gql_ix_include_deprecated(ix, g));
        }
        if (cast_gql_streq(n, "isRepeatable")) {
            cast_gql_ix_bool(ix, d->repeatable);
            return 0;
        }
        if (cast_gql_streq(n, "locations")) {
            cast_json_lit(ix->w, "[");
            for (i = 0; i < d->nlocs; i++) {
                if (i) {
                    cast_json_lit(ix->w, ",");
                }
                cast_gql_ix_str(ix, d->locs[i]);
            }
            cast_json_lit(ix->w, "]");
            return 0;
        }
        cast_gql_ix_str(ix, cast_gql_streq(n, "name") ? d->name : d->desc);
        return 0;
    }
}


/* past the budget: the field gets the error that names the limit */
static int
cast_gql_ix_over(cast_gql_ix_t *ix)
{
    if (ix->w->len <= ix->budget) {
        return 0;
    }

    cast_gql_error(ix->c->arena, ix->c->errs, "RESPONSE_TOO_LARGE", ix->off,
                   "The introspection answer exceeds the limit of %zu bytes "
                   "(max_introspection_size).",
                   ix->c->lim->max_introspection);
    return 1;
}


static int
cast_gql_ix_object(cast_gql_ix_t *ix, cast_io_e kind, const void *obj,
    cast_gql_group_t *parent)
{
    cast_gql_group_t  *g;
    int                rc;

    if (cast_gql_subfields(ix->c, parent) != 0) {
        return -1;
    }

    cast_json_lit(ix->w, "{");

    for (g = parent->sub; g != NULL; g = g->next) {
        if (cast_gql_ix_over(ix)) {
            return -1;
        }

        if (ix->w->nomem) {
            ix->c->errs->nomem = 1;
            return -1;
        }

        cast_json_lit(ix->w, "\"");
        cast_json_raw(ix->w, g->key.data, g->key.len);
        cast_json_lit(ix->w, "\":");

        if (cast_gql_streq(g->nodes[0]->name, "__typename")) {
            cast_gql_ix_cstr(ix, cast_io_types[kind]);
            rc = 0;

        } else if (kind == CAST_IO_SCHEMA) {
            rc = cast_gql_ix_schema(ix, obj, g->nodes[0]->name, g);

        } else if (kind == CAST_IO_TYPE) {
            rc = cast_gql_ix_type(ix, obj, g->nodes[0]->name, g);

        } else {
            rc = cast_gql_ix_member(ix, kind, obj, g->nodes[0]->name, g);
        }

        if (rc != 0) {
            return -1;
        }

        if (g->next != NULL) {
            cast_json_lit(ix->w, ",");
        }
    }

    cast_json_lit(ix->w, "}");

    return 0;
}


/*
 * The value of a root __schema or __type field, within budget bytes: the
 * checks made while writing see all but its last member, so the whole is
 * checked once more at the end, and the caller may take w->len from what
 * is left of the budget.
 */
int
cast_gql_introspect(cast_gql_ctx_t *c, cast_json_w_t *w, cast_gql_group_t *g,
    size_t budget)
{
    cast_gql_ix_t           ix;
    cast_gql_rval_t         name;
    const cast_gql_type_t  *t;
    int                     rc;

    ix.c = c;
    ix.w = w;
    ix.budget = budget;
    ix.off = g->nodes[0]->off;

    if (cast_gql_streq(g->nodes[0]->name, "__schema")) {
        rc = cast_gql_ix_object(&ix, CAST_IO_SCHEMA, c->schema, g);
        return (rc != 0 || cast_gql_ix_over(&ix)) ? -1 : 0;
    }

    if (cast_gql_coerce_args(c, g->def->args, 1, g->nodes[0]->args, &name)
        != 0)
    {
        return -1;
    }

    t = cast_gql_schema_type(c->schema, name.str);

    if (t == NULL) {
        cast_json_lit(w, "null");
        rc = 0;

    } else {
        rc = cast_gql_ix_object(&ix, CAST_IO_TYPE, t, g);
    }

    return (rc != 0 || cast_gql_ix_over(&ix)) ? -1 : 0;
}
