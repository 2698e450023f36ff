/*
 * Validation of values and variables: ValuesOfCorrectType for literals,
 * and per operation UniqueVariableNames, VariablesAreInputTypes,
 * KnownTypeNames, NoUndefinedVariables, NoUnusedVariables and
 * VariablesInAllowedPosition, following spreads into fragments.
 */

#include "cast_gql.h"
#include "cast_json.h"


typedef struct {
    cast_gql_vctx_t          *v;
    cast_gql_op_t            *op;
    cast_gql_names_t          vars;     /* the first of each name */
} cast_gql_vwalk_t;


int
cast_gql_parse_int(cast_str_t s, int64_t *out)
{
    size_t   i;
    int64_t  n;
    int      neg;

    i = 0;
    neg = s.len > 0 && s.data[0] == '-';
    i += neg;

    if (i == s.len) {
        return -1;
    }

    for (n = 0; i < s.len; i++) {
        if (s.data[i] < '0' || s.data[i] > '9' || n > 100000000000LL) {
            return -1;
        }
        n = n * 10 + (s.data[i] - '0');
    }

    *out = neg ? -n : n;

    return 0;
}


/*
 * A literal as a message quotes it: a string decoded and quoted as a
 * variable's value is (cast_json_excerpt); any other literal as the
 * document spells it.
 */

cast_str_t
cast_gql_value_text(cast_gql_vctx_t *v, cast_gql_value_t *val)
{
    char        q[CAST_JSON_EXCERPT];
    cast_str_t  s;

    if (val->kind == CAST_VAL_STRING) {
        return cast_arena_printf(v->arena, "\"%s\"",
                                 cast_json_excerpt(q, val->str));
    }

    s.data = v->doc->src + val->off;
    s.len = val->end - val->off;

    return s;
}


static void
cast_gql_bad_scalar(cast_gql_vctx_t *v, cast_gql_value_t *val,
    const cast_gql_type_t *t)
{
    static const char  *what[] = {
        "", "Int cannot represent non-integer value",
        "Float cannot represent non numeric value",
        "String cannot represent a non string value",
        "Boolean cannot represent a non boolean value",
        "ID cannot represent a non-string and non-integer value"
    };
    cast_str_t          txt;

    txt = cast_gql_value_text(v, val);
    cast_gql_verr(v, val->off, "%s: %.*s", what[t->scalar], (int) txt.len,
                  txt.data);
}


static void
cast_gql_check_scalar(cast_gql_vctx_t *v, cast_gql_value_t *val,
    const cast_gql_type_t *t)
{
    int64_t     i;
    cast_str_t  txt;

    switch (t->scalar) {

    case CAST_SC_INT:
        if (val->kind != CAST_VAL_INT) {
            break;
        }
        if (cast_gql_parse_int(val->str, &i) != 0 || i < INT32_MIN
            || i > INT32_MAX)
        {
            txt = cast_gql_value_text(v, val);
            cast_gql_verr(v, val->off, "Int cannot represent non 32-bit "
                          "signed integer value: %.*s", (int) txt.len,
                          txt.data);
        }
        return;

    case CAST_SC_FLOAT:
        if (val->kind == CAST_VAL_INT || val->kind == CAST_VAL_FLOAT) {
            return;
        }
        break;

    case CAST_SC_STRING:
        if (val->kind == CAST_VAL_STRING) {
            return;
        }
        break;

    case CAST_SC_BOOLEAN:
        if (val->kind == CAST_VAL_BOOLEAN) {
            return;
        }
        break;

    case CAST_SC_ID:
        if (val->kind == CAST_VAL_STRING || val->kind == CAST_VAL_INT) {
            return;
        }
        break;

    default:
        return;
    }

    cast_gql_bad_scalar(v, val, t);
}


/* ValuesOfCorrectType; variables are checked by their position instead */
void
cast_gql_check_value(cast_gql_vctx_t *v, cast_gql_value_t *val,
    const cast_gql_type_t *t)
{
    cast_gql_value_t  *item;
    cast_str_t         ts, txt;

    if (val->kind == CAST_VAL_VARIABLE) {
        return;
    }

    if (t->kind == CAST_TK_NON_NULL) {
        if (val->kind == CAST_VAL_NULL) {
            ts = cast_gql_type_str(v->arena, t);
            cast_gql_verr(v, val->off, "Expected value of type \"%.*s\", "
                          "found null.", (int) ts.len, ts.data);
            return;
        }
        t = t->of;
    }

    if (val->kind == CAST_VAL_NULL) {
        return;
    }

    if (t->kind == CAST_TK_LIST) {
        if (val->kind != CAST_VAL_LIST) {
            cast_gql_check_value(v, val, t->of);
            return;
        }

        if (val->n > v->lim->max_list_len) {
            cast_gql_verr(v, val->off, "List has %zu elements, more than "
                          "the limit of %zu (max_list_len).", val->n,
                          v->lim->max_list_len);
            return;
        }

        for (item = val->items; item != NULL; item = item->next) {
            cast_gql_check_value(v, item, t->of);
        }

        return;
    }

    if (t->kind == CAST_TK_SCALAR) {
        cast_gql_check_scalar(v, val, t);
        return;
    }

    ts = cast_gql_type_str(v->arena, t);
    txt = cast_gql_value_text(v, val);
    cast_gql_verr(v, val->off, "Expected value of type \"%.*s\", found "
                  "%.*s.", (int) ts.len, ts.data, (int) txt.len, txt.data);
}


/* the schema type of a variable's declared type; NULL when unknown */
static const cast_gql_type_t *
cast_gql_var_type(cast_gql_vctx_t *v, cast_gql_typeref_t *r)
{
    cast_gql_type_t        *w;
    const cast_gql_type_t  *of;

    if (r->kind == CAST_REF_NAMED) {
        return cast_gql_schema_type(v->schema, r->name);
    }

    of = cast_gql_var_type(v, r->of);
    if (of == NULL) {
        return NULL;
    }

    w = cast_arena_calloc(v->arena, sizeof(cast_gql_type_t));
    if (w == NULL) {
        v->errs->nomem = 1;
        return NULL;
    }

    w->kind = r->kind == CAST_REF_LIST ? CAST_TK_LIST : CAST_TK_NON_NULL;
    w->of = of;

    return w;
}


static void
cast_gql_check_vardefs(cast_gql_vwalk_t *w)
{
    cast_gql_vctx_t        *v;
    cast_gql_vardef_t      *vd;
    const cast_gql_type_t  *named;
    cast_gql_typeref_t     *r;
    cast_str_t              ts;

    v = w->v;

    for (vd = w->op->vars; vd != NULL && !cast_gql_errs_full(v->errs);
         vd = vd->next)
    {
        if (cast_gql_names_put(&w->vars, vd->name, vd) != NULL) {
            cast_gql_verr(v, vd->off, "There can be only one variable "
                          "named \"$%.*s\".", (int) vd->name.len,
                          vd->name.data);
        }

        cast_gql_check_dirs(v, vd->dirs, CAST_LOC_VARIABLE_DEFINITION);

        for (r = vd->type; r->kind != CAST_REF_NAMED; r = r->of) {
            /* void */
        }

        vd->stype = cast_gql_var_type(v, vd->type);
        named = vd->stype != NULL ? cast_gql_named(vd->stype) : NULL;

        if (named == NULL) {
            cast_gql_verr(v, r->off, "Unknown type \"%.*s\".",
                          (int) r->name.len, r->name.data);

        } else if (named->kind != CAST_TK_SCALAR
                   && named->kind != CAST_TK_ENUM
                   && named->kind != CAST_TK_INPUT_OBJECT)
        {
            ts = cast_gql_ref_str(v->arena, vd->type);
            cast_gql_verr(v, vd->off, "Variable \"$%.*s\" cannot be "
                          "non-input type \"%.*s\".", (int) vd->name.len,
                          vd->name.data, (int) ts.len, ts.data);
            vd->stype = NULL;

        } else if (vd->defval != NULL) {
            cast_gql_check_value(v, vd->defval, vd->stype);
        }
    }
}


static int
cast_gql_subtype(const cast_gql_type_t *var, const cast_gql_type_t *loc)
{
    if (loc->kind == CAST_TK_NON_NULL) {
        return var->kind == CAST_TK_NON_NULL
               && cast_gql_subtype(var->of, loc->of);
    }

    if (var->kind == CAST_TK_NON_NULL) {
        return cast_gql_subtype(var->of, loc);
    }

    if (loc->kind == CAST_TK_LIST) {
        return var->kind == CAST_TK_LIST && cast_gql_subtype(var->of, loc->of);
    }

    return var->kind != CAST_TK_LIST && var == loc;
}


/* one usage of a value at a position of type t (has_default: the arg) */
static void
cast_gql_usage(cast_gql_vwalk_t *w, cast_gql_value_t *val,
    const cast_gql_type_t *t, int has_default)
{
    cast_gql_vardef_t      *vd;
    cast_gql_value_t       *item;
    const cast_gql_type_t  *loc;
    cast_str_t              vs, ls;

    if (val->kind == CAST_VAL_LIST) {
        loc = t->kind == CAST_TK_NON_NULL ? t->of : t;
        for (item = val->items; item != NULL; item = item->next) {
            cast_gql_usage(w, item, loc->kind == CAST_TK_LIST ? loc->of : loc,
                           0);
        }
        return;
    }

    if (val->kind != CAST_VAL_VARIABLE) {
        return;
    }

    vd = cast_gql_names_get(&w->vars, val->str);

    if (vd == NULL) {
        cast_gql_verr(w->v, val->off, "Variable \"$%.*s\" is not defined%s"
                      "%.*s%s.", (int) val->str.len, val->str.data,
                      w->op->name.len ? " by operation \"" : "",
                      (int) w->op->name.len, w->op->name.data,
                      w->op->name.len ? "\"" : "");
        return;
    }

    vd->used = 1;

    if (vd->stype == NULL) {
        return;
    }

    loc = t;
    if (loc->kind == CAST_TK_NON_NULL && vd->stype->kind != CAST_TK_NON_NULL
        && (has_default
            || (vd->defval != NULL && vd->defval->kind != CAST_VAL_NULL)))
    {
        loc = loc->of;
    }

    if (!cast_gql_subtype(vd->stype, loc)) {
        vs = cast_gql_type_str(w->v->arena, vd->stype);
        ls = cast_gql_type_str(w->v->arena, t);
        cast_gql_verr(w->v, val->off, "Variable \"$%.*s\" of type \"%.*s\" "
                      "used in position expecting type \"%.*s\".",
                      (int) val->str.len, val->str.data, (int) vs.len,
                      vs.data, (int) ls.len, ls.data);
    }
}


static void
cast_gql_usage_args(cast_gql_vwalk_t *w, cast_gql_arg_t *args,
    const cast_gql_ivdef_t *defs, size_t ndefs)
{
    const cast_gql_ivdef_t  *d;

    for ( /* void */ ; args != NULL; args = args->next) {
        d = cast_gql_find_arg(defs, ndefs, args->name);
        if (d != NULL) {
            cast_gql_usage(w, args->value, d->type, d->defval.len != 0);
        }
    }
}


static void
cast_gql_usage_dirs(cast_gql_vwalk_t *w, cast_gql_dir_t *dirs)
{
    const cast_gql_ddef_t  *d;

    for ( /* void */ ; dirs != NULL; dirs = dirs->next) {
        d = cast_gql_schema_dir(w->v->schema, dirs->name);
        if (d != NULL) {
            cast_gql_usage_args(w, dirs->args, d->args, d->nargs);
        }
    }
}


static void
cast_gql_usage_sels(cast_gql_vwalk_t *w, cast_gql_sel_t *sels)
{
    cast_gql_sel_t  *s;

    for (s = sels; s != NULL && !cast_gql_errs_full(w->v->errs); s = s->next)
    {
        cast_gql_usage_dirs(w, s->dirs);

        if (s->kind == CAST_SEL_FIELD && s->def != NULL) {
            cast_gql_usage_args(w, s->args, s->def->args, s->def->nargs);
        }

        if (s->kind != CAST_SEL_SPREAD) {
            cast_gql_usage_sels(w, s->sels);

        } else if (s->frag != NULL && s->frag->state != w->v->gen) {
            s->frag->state = w->v->gen;
            cast_gql_usage_dirs(w, s->frag->dirs);
            cast_gql_usage_sels(w, s->frag->sels);
        }
    }
}


void
cast_gql_check_variables(cast_gql_vctx_t *v, cast_gql_op_t *op)
{
    cast_gql_vwalk_t    w;
    cast_gql_vardef_t  *vd;
    size_t              n;

    w.v = v;
    w.op = op;
    v->gen++;

    for (n = 0, vd = op->vars; vd != NULL; vd = vd->next) {
        n++;
    }

    if (cast_gql_names_init(&w.vars, v->scratch, n) != 0) {
        v->errs->nomem = 1;
        return;
    }

    cast_gql_check_vardefs(&w);
    cast_gql_usage_dirs(&w, op->dirs);
    cast_gql_usage_sels(&w, op->sels);

    for (vd = op->vars; vd != NULL; vd = vd->next) {
        if (!vd->used) {
            cast_gql_verr(v, vd->off, "Variable \"$%.*s\" is never used%s"
                          "%.*s%s.", (int) vd->name.len, vd->name.data,
                          op->name.len ? " in operation \"" : "",
                          (int) op->name.len, op->name.data,
                          op->name.len ? "\"" : "");
        }
    }
}
