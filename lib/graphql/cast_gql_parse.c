/*
 * GraphQL parser for executable documents (spec section 2): recursive
 * descent, one function per grammar production, named after it.  The
 * first syntax error stops the parse and is returned as a value.
 */

#include "cast_gql.h"


typedef struct {
    cast_gql_lexer_t          lx;
    cast_arena_t             *arena;
    cast_gql_errs_t          *errs;
    int                       depth;
} cast_gql_parser_t;


static int cast_gql_selection_set(cast_gql_parser_t *ps,
    cast_gql_sel_t **out);
static int cast_gql_type(cast_gql_parser_t *ps, cast_gql_typeref_t **out);
static int cast_gql_value(cast_gql_parser_t *ps, int cnst,
    cast_gql_value_t **out);


#define cast_gql_tok(ps)       ((ps)->lx.kind)
#define cast_gql_off(ps)       ((uint32_t) (ps)->lx.start)


static cast_str_t
cast_gql_text(cast_gql_parser_t *ps)
{
    cast_str_t  s;

    s.data = ps->lx.src + ps->lx.start;
    s.len = ps->lx.end - ps->lx.start;

    return s;
}


static int
cast_gql_is_keyword(cast_gql_parser_t *ps, const char *kw)
{
    size_t  n;

    n = strlen(kw);

    return cast_gql_tok(ps) == CAST_TOK_NAME
           && ps->lx.end - ps->lx.start == n
           && memcmp(ps->lx.src + ps->lx.start, kw, n) == 0;
}


static int
cast_gql_syntax(cast_gql_parser_t *ps, const char *expected)
{
    cast_str_t   t;
    cast_tok_e   k;
    int          n;

    k = cast_gql_tok(ps);

    if (k == CAST_TOK_ERROR) {
        cast_gql_error(ps->arena, ps->errs, "GRAPHQL_PARSE_FAILED",
                       (uint32_t) ps->lx.start, "Syntax Error: %s.",
                       ps->lx.err);
        return -1;
    }

    t = cast_gql_text(ps);
    n = t.len > 40 ? 40 : (int) t.len;

    if (k >= CAST_TOK_NAME && k <= CAST_TOK_FLOAT) {
        cast_gql_error(ps->arena, ps->errs, "GRAPHQL_PARSE_FAILED",
                       cast_gql_off(ps), "Syntax Error: %s%s%s%s \"%.*s%s\".",
                       expected ? "Expected " : "Unexpected ",
                       expected ? expected : "", expected ? ", found " : "",
                       cast_gql_tok_name(k), n, t.data,
                       (size_t) n < t.len ? "..." : "");
        return -1;
    }

    cast_gql_error(ps->arena, ps->errs, "GRAPHQL_PARSE_FAILED",
                   cast_gql_off(ps), "Syntax Error: %s%s%s%s.",
                   expected ? "Expected " : "Unexpected ",
                   expected ? expected : "", expected ? ", found " : "",
                   cast_gql_tok_name(k));
    return -1;
}


static int
cast_gql_advance(cast_gql_parser_t *ps)
{
    if (cast_gql_lex_next(&ps->lx) == CAST_TOK_ERROR) {
        return cast_gql_syntax(ps, NULL);
    }

    return 0;
}


static int
cast_gql_expect(cast_gql_parser_t *ps, cast_tok_e kind)
{
    if (cast_gql_tok(ps) != kind) {
        return cast_gql_syntax(ps, cast_gql_tok_name(kind));
    }

    return cast_gql_advance(ps);
}


static int
cast_gql_name(cast_gql_parser_t *ps, cast_str_t *out)
{
    if (cast_gql_tok(ps) != CAST_TOK_NAME) {
        return cast_gql_syntax(ps, "Name");
    }

    *out = cast_gql_text(ps);

    return cast_gql_advance(ps);
}


static int
cast_gql_enter(cast_gql_parser_t *ps)
{
    if (++ps->depth > CAST_GQL_MAX_NEST) {
        cast_gql_error(ps->arena, ps->errs, "GRAPHQL_PARSE_FAILED",
                       cast_gql_off(ps), "Syntax Error: Document nested "
                       "deeper than %d levels.", CAST_GQL_MAX_NEST);
        return -1;
    }

    return 0;
}


static void *
cast_gql_node(cast_gql_parser_t *ps, size_t size)
{
    void  *p;

    p = cast_arena_calloc(ps->arena, size);
    if (p == NULL) {
        ps->errs->nomem = 1;
    }

    return p;
}


static int
cast_gql_list_value(cast_gql_parser_t *ps, int cnst, cast_gql_value_t *v)
{
    cast_gql_value_t  **tail, *item;
    cast_tok_e          close;

    close = v->kind == CAST_VAL_LIST ? CAST_TOK_RBRACKET : CAST_TOK_RBRACE;
    tail = &v->items;

    if (cast_gql_enter(ps) != 0 || cast_gql_advance(ps) != 0) {
        return -1;
    }

    while (cast_gql_tok(ps) != close) {
        if (v->kind == CAST_VAL_OBJECT) {
            cast_str_t  name;
            uint32_t    off;

            off = cast_gql_off(ps);
            if (cast_gql_name(ps, &name) != 0
                || cast_gql_expect(ps, CAST_TOK_COLON) != 0
                || cast_gql_value(ps, cnst, &item) != 0)
            {
                return -1;
            }
            item->field = name;
            item->off = off;

        } else if (cast_gql_value(ps, cnst, &item) != 0) {
            return -1;
        }

        *tail = item;
        tail = &item->next;
        v->n++;
    }

    ps->depth--;

    v->end = (uint32_t) ps->lx.end;

    return cast_gql_advance(ps);
}


/* Value[Const] */
static int
cast_gql_value(cast_gql_parser_t *ps, int cnst, cast_gql_value_t **out)
{
    cast_gql_value_t  *v;
    cast_str_t         t;

    v = cast_gql_node(ps, sizeof(cast_gql_value_t));
    if (v == NULL) {
        return -1;
    }

    *out = v;
    v->off = cast_gql_off(ps);
    t = cast_gql_text(ps);

    switch (cast_gql_tok(ps)) {

    case CAST_TOK_DOLLAR:
        if (cnst) {
            return cast_gql_syntax(ps, NULL);
        }
        v->kind = CAST_VAL_VARIABLE;
        if (cast_gql_advance(ps) != 0 || cast_gql_name(ps, &v->str) != 0) {
            return -1;
        }
        v->end = (uint32_t) (v->str.data + v->str.len - ps->lx.src);
        return 0;

    case CAST_TOK_LBRACKET:
        v->kind = CAST_VAL_LIST;
        return cast_gql_list_value(ps, cnst, v);

    case CAST_TOK_LBRACE:
        v->kind = CAST_VAL_OBJECT;
        return cast_gql_list_value(ps, cnst, v);

    case CAST_TOK_INT:
    case CAST_TOK_FLOAT:
        v->kind = cast_gql_tok(ps) == CAST_TOK_INT ? CAST_VAL_INT
                                                   : CAST_VAL_FLOAT;
        v->str = t;
        break;

    case CAST_TOK_STRING:
    case CAST_TOK_BLOCK_STRING:
        v->kind = CAST_VAL_STRING;
        if (cast_gql_string_value(&ps->lx, ps->arena, &v->str) != 0) {
            ps->errs->nomem = 1;
            return -1;
        }
        break;

    case CAST_TOK_NAME:
        v->str = t;
        if (cast_gql_streq(t, "true") || cast_gql_streq(t, "false")) {
            v->kind = CAST_VAL_BOOLEAN;
        } else if (cast_gql_streq(t, "null")) {
            v->kind = CAST_VAL_NULL;
        } else {
            v->kind = CAST_VAL_ENUM;
        }
        break;

    default:
        return cast_gql_syntax(ps, NULL);
    }

    v->end = (uint32_t) ps->lx.end;

    return cast_gql_advance(ps);
}


/* Arguments[Const] */
static int
cast_gql_arguments(cast_gql_parser_t *ps, int cnst, cast_gql_arg_t **out)
{
    cast_gql_arg_t  **tail, *arg;

    tail = out;

    if (cast_gql_tok(ps) != CAST_TOK_LPAREN) {
        return 0;
    }

    if (cast_gql_advance(ps) != 0) {
        return -1;
    }

    do {
        arg = cast_gql_node(ps, sizeof(cast_gql_arg_t));
        if (arg == NULL) {
            return -1;
        }

        arg->off = cast_gql_off(ps);

        if (cast_gql_name(ps, &arg->name) != 0
            || cast_gql_expect(ps, CAST_TOK_COLON) != 0
            || cast_gql_value(ps, cnst, &arg->value) != 0)
        {
            return -1;
        }

        *tail = arg;
        tail = &arg->next;

    } while (cast_gql_tok(ps) != CAST_TOK_RPAREN);

    return cast_gql_advance(ps);
}


/* Directives[Const] */
static int
cast_gql_directives(cast_gql_parser_t *ps, int cnst, cast_gql_dir_t **out)
{
    cast_gql_dir_t  **tail, *dir;

    tail = out;

    while (cast_gql_tok(ps) == CAST_TOK_AT) {
        dir = cast_gql_node(ps, sizeof(cast_gql_dir_t));
        if (dir == NULL) {
            return -1;
        }

        dir->off = cast_gql_off(ps);

        if (cast_gql_advance(ps) != 0
            || cast_gql_name(ps, &dir->name) != 0
            || cast_gql_arguments(ps, cnst, &dir->args) != 0)
        {
            return -1;
        }

        *tail = dir;
        tail = &dir->next;
    }

    return 0;
}


/* Field: Alias? Name Arguments? Directives? SelectionSet? */
static int
cast_gql_field(cast_gql_parser_t *ps, cast_gql_sel_t *sel)
{
    cast_str_t  name;

    sel->kind = CAST_SEL_FIELD;

    if (cast_gql_name(ps, &name) != 0) {
        return -1;
    }

    if (cast_gql_tok(ps) == CAST_TOK_COLON) {
        sel->alias = name;
        if (cast_gql_advance(ps) != 0 || cast_gql_name(ps, &name) != 0) {
            return -1;
        }
    }

    sel->name = name;

    if (cast_gql_arguments(ps, 0, &sel->args) != 0
        || cast_gql_directives(ps, 0, &sel->dirs) != 0)
    {
        return -1;
    }

    if (cast_gql_tok(ps) == CAST_TOK_LBRACE) {
        return cast_gql_selection_set(ps, &sel->sels);
    }

    return 0;
}


/* FragmentSpread or InlineFragment, after "..." */
static int
cast_gql_fragment(cast_gql_parser_t *ps, cast_gql_sel_t *sel)
{
    if (cast_gql_advance(ps) != 0) {
        return -1;
    }

    if (cast_gql_tok(ps) == CAST_TOK_NAME && !cast_gql_is_keyword(ps, "on"))
    {
        sel->kind = CAST_SEL_SPREAD;
        return cast_gql_name(ps, &sel->name) != 0
               ? -1 : cast_gql_directives(ps, 0, &sel->dirs);
    }

    sel->kind = CAST_SEL_INLINE;

    if (cast_gql_is_keyword(ps, "on")) {
        if (cast_gql_advance(ps) != 0 || cast_gql_name(ps, &sel->cond) != 0) {
            return -1;
        }
    }

    if (cast_gql_directives(ps, 0, &sel->dirs) != 0) {
        return -1;
    }

    return cast_gql_selection_set(ps, &sel->sels);
}


/* SelectionSet: { Selection+ } */
static int
cast_gql_selection_set(cast_gql_parser_t *ps, cast_gql_sel_t **out)
{
    cast_gql_sel_t  **tail, *sel;
    int               rc;

    tail = out;

    if (cast_gql_enter(ps) != 0 || cast_gql_expect(ps, CAST_TOK_LBRACE) != 0)
    {
        return -1;
    }

    do {
        sel = cast_gql_node(ps, sizeof(cast_gql_sel_t));
        if (sel == NULL) {
            return -1;
        }

        sel->off = cast_gql_off(ps);

        if (cast_gql_tok(ps) == CAST_TOK_SPREAD) {
            rc = cast_gql_fragment(ps, sel);
        } else {
            rc = cast_gql_field(ps, sel);
        }

        if (rc != 0) {
            return -1;
        }

        *tail = sel;
        tail = &sel->next;

    } while (cast_gql_tok(ps) != CAST_TOK_RBRACE);

    ps->depth--;

    return cast_gql_advance(ps);
}


/* Type: NamedType | ListType | NonNullType */
static int
cast_gql_type(cast_gql_parser_t *ps, cast_gql_typeref_t **out)
{
    cast_gql_typeref_t  *t, *nn;

    t = cast_gql_node(ps, sizeof(cast_gql_typeref_t));
    if (t == NULL || cast_gql_enter(ps) != 0) {
        return -1;
    }

    t->off = cast_gql_off(ps);

    if (cast_gql_tok(ps) == CAST_TOK_LBRACKET) {
        t->kind = CAST_REF_LIST;
        if (cast_gql_advance(ps) != 0 || cast_gql_type(ps, &t->of) != 0
            || cast_gql_expect(ps, CAST_TOK_RBRACKET) != 0)
        {
            return -1;
        }

    } else {
        t->kind = CAST_REF_NAMED;
        if (cast_gql_name(ps, &t->name) != 0) {
            return -1;
        }
    }

    ps->depth--;

    if (cast_gql_tok(ps) == CAST_TOK_BANG) {
        nn = cast_gql_node(ps, sizeof(cast_gql_typeref_t));
        if (nn == NULL) {
            return -1;
        }
        nn->kind = CAST_REF_NON_NULL;
        nn->of = t;
        nn->off = t->off;
        t = nn;
        if (cast_gql_advance(ps) != 0) {
            return -1;
        }
    }

    *out = t;

    return 0;
}


/* VariableDefinitions: ( VariableDefinition+ ) */
static int
cast_gql_variable_definitions(cast_gql_parser_t *ps, cast_gql_vardef_t **out)
{
    cast_gql_vardef_t  **tail, *vd;

    tail = out;

    if (cast_gql_tok(ps) != CAST_TOK_LPAREN) {
        return 0;
    }

    if (cast_gql_advance(ps) != 0) {
        return -1;
    }

    do {
        vd = cast_gql_node(ps, sizeof(cast_gql_vardef_t));
        if (vd == NULL) {
            return -1;
        }

        vd->off = cast_gql_off(ps);

        if (cast_gql_expect(ps, CAST_TOK_DOLLAR) != 0
            || cast_gql_name(ps, &vd->name) != 0
            || cast_gql_expect(ps, CAST_TOK_COLON) != 0
            || cast_gql_type(ps, &vd->type) != 0)
        {
            return -1;
        }

        if (cast_gql_tok(ps) == CAST_TOK_EQUALS) {
            if (cast_gql_advance(ps) != 0
                || cast_gql_value(ps, 1, &vd->defval) != 0)
            {
                return -1;
            }
        }

        if (cast_gql_directives(ps, 1, &vd->dirs) != 0) {
            return -1;
        }

        *tail = vd;
        tail = &vd->next;

    } while (cast_gql_tok(ps) != CAST_TOK_RPAREN);

    return cast_gql_advance(ps);
}


/* OperationDefinition */
static int
cast_gql_operation_definition(cast_gql_parser_t *ps, cast_gql_op_t *op)
{
    op->off = cast_gql_off(ps);

    if (cast_gql_tok(ps) == CAST_TOK_LBRACE) {
        op->kind = CAST_OP_QUERY;
        return cast_gql_selection_set(ps, &op->sels);
    }

    if (cast_gql_is_keyword(ps, "query")) {
        op->kind = CAST_OP_QUERY;
    } else if (cast_gql_is_keyword(ps, "mutation")) {
        op->kind = CAST_OP_MUTATION;
    } else if (cast_gql_is_keyword(ps, "subscription")) {
        op->kind = CAST_OP_SUBSCRIPTION;
    } else {
        return cast_gql_syntax(ps, NULL);
    }

    if (cast_gql_advance(ps) != 0) {
        return -1;
    }

    if (cast_gql_tok(ps) == CAST_TOK_NAME
        && cast_gql_name(ps, &op->name) != 0)
    {
        return -1;
    }

    if (cast_gql_variable_definitions(ps, &op->vars) != 0
        || cast_gql_directives(ps, 0, &op->dirs) != 0)
    {
        return -1;
    }

    return cast_gql_selection_set(ps, &op->sels);
}


/* FragmentDefinition: fragment FragmentName TypeCondition Directives? ... */
static int
cast_gql_fragment_definition(cast_gql_parser_t *ps, cast_gql_frag_t *fr)
{
    fr->off = cast_gql_off(ps);

    if (cast_gql_advance(ps) != 0) {
        return -1;
    }

    if (cast_gql_is_keyword(ps, "on")) {
        return cast_gql_syntax(ps, NULL);
    }

    if (cast_gql_name(ps, &fr->name) != 0) {
        return -1;
    }

    if (!cast_gql_is_keyword(ps, "on")) {
        return cast_gql_syntax(ps, "\"on\"");
    }

    if (cast_gql_advance(ps) != 0) {
        return -1;
    }

    fr->cond_off = cast_gql_off(ps);

    if (cast_gql_name(ps, &fr->cond) != 0
        || cast_gql_directives(ps, 0, &fr->dirs) != 0)
    {
        return -1;
    }

    return cast_gql_selection_set(ps, &fr->sels);
}


/* Document: Definition+ */
int
cast_gql_parse_document(cast_arena_t *a, const char *src, size_t len,
    const cast_gql_limits_t *lim, cast_gql_doc_t *doc, cast_gql_errs_t *errs)
{
    cast_gql_parser_t    ps;
    cast_gql_op_t      **otail, *op;
    cast_gql_frag_t    **ftail, *fr;

    memset(doc, 0, sizeof(cast_gql_doc_t));
    doc->src = src;
    doc->len = len;
    otail = &doc->ops;
    ftail = &doc->frags;

    cast_gql_lex_init(&ps.lx, src, len, lim->max_tokens);
    ps.arena = a;
    ps.errs = errs;
    ps.depth = 0;

    if (cast_gql_advance(&ps) != 0) {
        return -1;
    }

    if (cast_gql_tok(&ps) == CAST_TOK_EOF) {
        return cast_gql_syntax(&ps, "Name");
    }

    while (cast_gql_tok(&ps) != CAST_TOK_EOF) {
        if (cast_gql_is_keyword(&ps, "fragment")) {
            fr = cast_gql_node(&ps, sizeof(cast_gql_frag_t));
            if (fr == NULL || cast_gql_fragment_definition(&ps, fr) != 0) {
                return -1;
            }
            fr->idx = (uint32_t) doc->nfrags++;
            *ftail = fr;
            ftail = &fr->next;
            continue;
        }

        op = cast_gql_node(&ps, sizeof(cast_gql_op_t));
        if (op == NULL || cast_gql_operation_definition(&ps, op) != 0) {
            return -1;
        }

        *otail = op;
        otail = &op->next;
        doc->nops++;
    }

    return 0;
}


int
cast_gql_parse_value(cast_gql_lexer_t *lx, cast_arena_t *a, int cnst,
    cast_gql_value_t **out)
{
    cast_gql_parser_t  ps;
    cast_gql_errs_t    errs;
    int                rc;

    cast_gql_errs_init(&errs);
    ps.lx = *lx;
    ps.arena = a;
    ps.errs = &errs;
    ps.depth = 0;

    rc = cast_gql_value(&ps, cnst, out);
    *lx = ps.lx;

    return rc;
}
