/*
 * Input coercion (spec 6.1.2 and 6.4.1): variable values from the
 * request's JSON, then argument values from literals and variables.
 * Variable errors are request errors (BAD_USER_INPUT); argument errors
 * are field errors.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cast_json.h"


#define CAST_GQL_BAD_INPUT  "BAD_USER_INPUT"


/* where in a variable's value an error is: list indexes, printed lazily */
typedef struct {
    size_t                    idx[16];
    size_t                    depth;
} cast_gql_vpath_t;


static cast_str_t
cast_gql_vpath_str(cast_gql_ctx_t *c, const cast_gql_vardef_t *vd,
    const cast_gql_vpath_t *p)
{
    char    buf[256];
    size_t  i, n;

    n = (size_t) snprintf(buf, sizeof(buf), " at \"%.*s",
                          (int) (vd->name.len > 64 ? 64 : vd->name.len),
                          vd->name.data);

    /* an index takes at most 22 bytes: the path stops before the end */
    for (i = 0; i < p->depth && i < 16 && n + 22 < sizeof(buf); i++) {
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "[%zu]", p->idx[i]);
    }

    return p->depth ? cast_arena_printf(c->arena, "%s\"", buf)
                    : (cast_str_t) { "", 0 };
}


static cast_str_t
cast_gql_json_text(const cast_json_t *j)
{
    cast_str_t  s;

    switch (j->type) {
    case CAST_JSON_NUMBER: return j->str;
    case CAST_JSON_TRUE: s.data = "true"; s.len = 4; return s;
    case CAST_JSON_FALSE: s.data = "false"; s.len = 5; return s;
    case CAST_JSON_NULL: s.data = "null"; s.len = 4; return s;
    case CAST_JSON_ARRAY: s.data = "[...]"; s.len = 5; return s;
    case CAST_JSON_OBJECT: s.data = "{...}"; s.len = 5; return s;
    default: return j->str;
    }
}


static int
cast_gql_var_error(cast_gql_ctx_t *c, const cast_gql_vardef_t *vd,
    const cast_gql_vpath_t *p, const cast_json_t *j, const char *why)
{
    char        q[CAST_JSON_EXCERPT];
    cast_str_t  at;

    at = cast_gql_vpath_str(c, vd, p);

    cast_gql_error(c->arena, c->errs, CAST_GQL_BAD_INPUT, vd->off,
                   "Variable \"$%.*s\" got invalid value %s%s%s%.*s; %s",
                   (int) vd->name.len, vd->name.data,
                   j->type == CAST_JSON_STRING ? "\"" : "",
                   cast_json_excerpt(q, cast_gql_json_text(j)),
                   j->type == CAST_JSON_STRING ? "\"" : "",
                   (int) at.len, at.data, why);
    return -1;
}


/*
 * A JSON number as an integer: 0, or -1 when it has a fraction (or is no
 * finite number).  An integer too large for int64 is INT64_MIN or
 * INT64_MAX, beyond any range the caller checks, so that it is refused
 * as too large, not as a fraction.
 */

static int
cast_gql_json_int(const cast_json_t *j, int64_t *out)
{
    double  d;
    char    buf[64];

    if (cast_gql_parse_int(j->str, out) == 0) {
        return 0;
    }

    /* digits alone (JSON's grammar): an integer, too large for int64 */
    if (memchr(j->str.data, '.', j->str.len) == NULL
        && memchr(j->str.data, 'e', j->str.len) == NULL
        && memchr(j->str.data, 'E', j->str.len) == NULL)
    {
        *out = j->str.data[0] == '-' ? INT64_MIN : INT64_MAX;
        return 0;
    }

    /* 1.0 and 1e3 are integers too, as in JavaScript */
    if (j->str.len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, j->str.data, j->str.len);
    buf[j->str.len] = '\0';
    d = strtod(buf, NULL);

    if (!isfinite(d) || d != floor(d)) {
        return -1;
    }

    *out = fabs(d) > 1e15 ? (d < 0 ? INT64_MIN : INT64_MAX) : (int64_t) d;

    return 0;
}


static int
cast_gql_json_scalar(cast_gql_ctx_t *c, const cast_gql_vardef_t *vd,
    const cast_gql_vpath_t *p, const cast_json_t *j, const cast_gql_type_t *t,
    cast_gql_rval_t *out)
{
    int64_t  i;

    switch (t->scalar) {

    case CAST_SC_INT:
        if (j->type != CAST_JSON_NUMBER || cast_gql_json_int(j, &i) != 0) {
            return cast_gql_var_error(c, vd, p, j, "Int cannot represent "
                                      "non-integer value");
        }
        if (i < INT32_MIN || i > INT32_MAX) {
            return cast_gql_var_error(c, vd, p, j, "Int cannot represent "
                                      "non 32-bit signed integer value");
        }
        out->i = i;
        return 0;

    case CAST_SC_FLOAT:
        if (j->type != CAST_JSON_NUMBER) {
            return cast_gql_var_error(c, vd, p, j, "Float cannot represent "
                                      "non numeric value");
        }
        out->str = j->str;
        return 0;

    case CAST_SC_BOOLEAN:
        if (j->type != CAST_JSON_TRUE && j->type != CAST_JSON_FALSE) {
            return cast_gql_var_error(c, vd, p, j, "Boolean cannot "
                                      "represent a non boolean value");
        }
        out->boolean = j->type == CAST_JSON_TRUE;
        return 0;

    case CAST_SC_ID:
        if (j->type == CAST_JSON_STRING
            || (j->type == CAST_JSON_NUMBER
                && cast_gql_parse_int(j->str, &i) == 0))
        {
            out->str = j->str;
            return 0;
        }
        return cast_gql_var_error(c, vd, p, j, "ID cannot represent value");

    default:
        if (j->type != CAST_JSON_STRING) {
            return cast_gql_var_error(c, vd, p, j, "String cannot represent "
                                      "a non string value");
        }
        out->str = j->str;
        return 0;
    }
}


static int
cast_gql_json_value(cast_gql_ctx_t *c, const cast_gql_vardef_t *vd,
    cast_gql_vpath_t *p, const cast_json_t *j, const cast_gql_type_t *t,
    cast_gql_rval_t *out)
{
    const cast_json_t  *item;
    cast_str_t          ts, at;
    size_t              i;

    memset(out, 0, sizeof(cast_gql_rval_t));

    if (j->type == CAST_JSON_NULL) {
        if (t->kind == CAST_TK_NON_NULL) {
            ts = cast_gql_type_str(c->arena, t);
            at = cast_gql_vpath_str(c, vd, p);
            cast_gql_error(c->arena, c->errs, CAST_GQL_BAD_INPUT, vd->off,
                           "Variable \"$%.*s\" got invalid value null%.*s; "
                           "Expected non-nullable type \"%.*s\" not to be "
                           "null.", (int) vd->name.len, vd->name.data,
                           (int) at.len, at.data, (int) ts.len, ts.data);
            return -1;
        }
        out->null = 1;
        return 0;
    }

    if (t->kind == CAST_TK_NON_NULL) {
        t = t->of;
    }

    if (t->kind != CAST_TK_LIST) {
        return cast_gql_json_scalar(c, vd, p, j, t, out);
    }

    out->list = 1;

    if (j->type != CAST_JSON_ARRAY) {
        out->n = 1;
        out->items = cast_arena_alloc(c->arena, sizeof(cast_gql_rval_t));
        if (out->items == NULL) {
            c->errs->nomem = 1;
            return -1;
        }
        return cast_gql_json_value(c, vd, p, j, t->of, out->items);
    }

    if (j->n > c->lim->max_list_len) {
        cast_gql_error(c->arena, c->errs, CAST_GQL_BAD_INPUT, vd->off,
                       "Variable \"$%.*s\" has a list of %zu elements, more "
                       "than the limit of %zu (max_list_len).",
                       (int) vd->name.len, vd->name.data, j->n,
                       c->lim->max_list_len);
        return -1;
    }

    out->n = j->n;
    out->items = cast_arena_alloc(c->arena, (j->n + 1)
                                            * sizeof(cast_gql_rval_t));
    if (out->items == NULL) {
        c->errs->nomem = 1;
        return -1;
    }

    p->depth++;

    for (i = 0, item = j->child; item != NULL; item = item->next, i++) {
        if (p->depth <= 16) {
            p->idx[p->depth - 1] = i;
        }

        if (cast_gql_json_value(c, vd, p, item, t->of, &out->items[i]) != 0)
        {
            return -1;
        }
    }

    p->depth--;

    return 0;
}


static int
cast_gql_literal(cast_gql_ctx_t *c, const cast_gql_value_t *v,
    const cast_gql_type_t *t, cast_gql_rval_t *out);


static int
cast_gql_default(cast_gql_ctx_t *c, cast_str_t text, const cast_gql_type_t *t,
    cast_gql_rval_t *out)
{
    cast_gql_lexer_t   lx;
    cast_gql_value_t  *v;

    cast_gql_lex_init(&lx, text.data, text.len, SIZE_MAX);

    /* the schema's own text: only memory can fail */
    if (cast_gql_lex_next(&lx) == CAST_TOK_ERROR
        || cast_gql_parse_value(&lx, c->arena, 1, &v) != 0)
    {
        c->errs->nomem = 1;
        return -1;
    }

    return cast_gql_literal(c, v, t, out);
}


/* the variables of op from the JSON object vars (NULL: none given) */
int
cast_gql_coerce_variables(cast_gql_ctx_t *c, cast_gql_op_t *op,
    const cast_json_t *vars)
{
    cast_gql_vardef_t  *vd;
    const cast_json_t  *j;
    cast_gql_var_t     *var;
    cast_gql_names_t    given;
    cast_gql_vpath_t    path;
    cast_str_t          ts;
    size_t              n;
    int                 rc;

    for (n = 0, vd = op->vars; vd != NULL; vd = vd->next) {
        n++;
    }

    given.slots = NULL;

    if (cast_gql_names_init(&c->vars, c->arena, n) != 0
        || (n && vars != NULL
            && cast_gql_names_init(&given, c->arena, vars->n) != 0))
    {
        c->errs->nomem = 1;
        return -1;
    }

    for (j = given.slots != NULL ? vars->child : NULL; j != NULL; j = j->next)
    {
        (void) cast_gql_names_put(&given, j->key, (void *) j);
    }

    for (vd = op->vars; vd != NULL && !cast_gql_errs_full(c->errs);
         vd = vd->next)
    {
        j = cast_gql_names_get(&given, vd->name);

        if (j == NULL && vd->defval == NULL) {
            if (vd->stype->kind == CAST_TK_NON_NULL) {
                ts = cast_gql_type_str(c->arena, vd->stype);
                cast_gql_error(c->arena, c->errs, CAST_GQL_BAD_INPUT, vd->off,
                               "Variable \"$%.*s\" of required type \"%.*s\" "
                               "was not provided.", (int) vd->name.len,
                               vd->name.data, (int) ts.len, ts.data);
            }
            continue;
        }

        var = cast_arena_calloc(c->arena, sizeof(cast_gql_var_t));
        if (var == NULL) {
            c->errs->nomem = 1;
            return -1;
        }

        var->name = vd->name;
        path.depth = 0;

        rc = j != NULL ? cast_gql_json_value(c, vd, &path, j, vd->stype,
                                             &var->val)
                       : cast_gql_literal(c, vd->defval, vd->stype, &var->val);
        if (rc == 0) {
            (void) cast_gql_names_put(&c->vars, vd->name, var);
        }
    }

    return c->errs->n == 0 && !c->errs->nomem ? 0 : -1;
}


static const cast_gql_var_t *
cast_gql_find_var(cast_gql_ctx_t *c, cast_str_t name)
{
    return cast_gql_names_get(&c->vars, name);
}


/* literals are valid (validated); variables may still be null or absent */
static int
cast_gql_literal(cast_gql_ctx_t *c, const cast_gql_value_t *v,
    const cast_gql_type_t *t, cast_gql_rval_t *out)
{
    const cast_gql_var_t    *var;
    const cast_gql_value_t  *item;
    size_t                   i;

    memset(out, 0, sizeof(cast_gql_rval_t));

    if (v->kind == CAST_VAL_VARIABLE) {
        var = cast_gql_find_var(c, v->str);
        if (var == NULL) {
            out->null = 1;
        } else {
            *out = var->val;
        }

    } else if (v->kind == CAST_VAL_NULL) {
        out->null = 1;

    } else {
        if (t->kind == CAST_TK_NON_NULL) {
            t = t->of;
        }

        if (t->kind == CAST_TK_LIST) {
            out->list = 1;
            out->n = v->kind == CAST_VAL_LIST ? v->n : 1;
            out->items = cast_arena_alloc(c->arena, (out->n + 1)
                                                    * sizeof(cast_gql_rval_t));
            if (out->items == NULL) {
                c->errs->nomem = 1;
                return -1;
            }

            if (v->kind != CAST_VAL_LIST) {
                return cast_gql_literal(c, v, t->of, out->items);
            }

            for (i = 0, item = v->items; item != NULL; item = item->next) {
                if (cast_gql_literal(c, item, t->of, &out->items[i++]) != 0) {
                    return -1;
                }
            }

            return 0;
        }

        out->str = v->str;
        out->boolean = cast_gql_streq(v->str, "true");
        if (v->kind == CAST_VAL_INT) {
            (void) cast_gql_parse_int(v->str, &out->i);
        }
    }

    return (out->null && t->kind == CAST_TK_NON_NULL) ? -1 : 0;
}


int
cast_gql_coerce_args(cast_gql_ctx_t *c, const cast_gql_ivdef_t *defs,
    size_t ndefs, cast_gql_arg_t *args, cast_gql_rval_t *out)
{
    cast_gql_arg_t  *a;
    cast_str_t       ts;
    size_t           i;
    int              rc;

    for (i = 0; i < ndefs; i++) {
        for (a = args; a != NULL; a = a->next) {
            if (a->name.len == defs[i].name.len
                && memcmp(a->name.data, defs[i].name.data, a->name.len) == 0)
            {
                break;
            }
        }

        if (a != NULL && a->value->kind == CAST_VAL_VARIABLE
            && cast_gql_find_var(c, a->value->str) == NULL)
        {
            a = NULL;
        }

        if (a == NULL) {
            memset(&out[i], 0, sizeof(cast_gql_rval_t));
            out[i].absent = 1;
            rc = defs[i].defval.len
                 ? cast_gql_default(c, defs[i].defval, defs[i].type, &out[i])
                 : (defs[i].type->kind == CAST_TK_NON_NULL ? -1 : 0);

        } else {
            rc = cast_gql_literal(c, a->value, defs[i].type, &out[i]);
        }

        if (rc != 0 && c->errs->nomem) {
            return -1;
        }

        if (rc != 0) {
            ts = cast_gql_type_str(c->arena, defs[i].type);
            cast_gql_error(c->arena, c->errs, CAST_GQL_BAD_INPUT,
                           a != NULL ? a->off : CAST_GQL_NOLOC,
                           "Argument \"%.*s\" of non-null type \"%.*s\" "
                           "must not be null.", (int) defs[i].name.len,
                           defs[i].name.data, (int) ts.len, ts.data);
            return -1;
        }
    }

    return 0;
}


/* @skip(if:) and @include(if:); 1 when the selection is left out */
int
cast_gql_skip(cast_gql_ctx_t *c, cast_gql_dir_t *dirs)
{
    const cast_gql_ddef_t  *def;
    cast_gql_rval_t         cond;
    int                     skip;

    for ( /* void */ ; dirs != NULL; dirs = dirs->next) {
        skip = cast_gql_streq(dirs->name, "skip");

        if (!skip && !cast_gql_streq(dirs->name, "include")) {
            continue;
        }

        def = cast_gql_schema_dir(c->schema, dirs->name);

        if (cast_gql_coerce_args(c, def->args, 1, dirs->args, &cond) != 0) {
            return -1;
        }

        if (cond.boolean == skip) {
            return 1;
        }
    }

    return 0;
}
