/*
 * The schema model: read from the SDL texts of cast_gql_sdl.c with the
 * GraphQL lexer (a type system subset: scalar, type, enum and directive
 * definitions with descriptions, arguments, defaults and the directives
 * @deprecated and @specifiedBy), then looked up by name.
 */

#include <stdio.h>

#include "cast_gql.h"


#define CAST_SDL_MAX  32        /* members of one definition */


typedef struct cast_sdl_fix_s  cast_sdl_fix_t;

struct cast_sdl_fix_s {
    const cast_gql_type_t   **slot;
    cast_gql_typeref_t       *ref;
    cast_sdl_fix_t           *next;
};

typedef struct {
    cast_gql_lexer_t          lx;
    cast_arena_t             *arena;
    cast_gql_type_t          *types[CAST_SDL_MAX];
    size_t                    ntypes;
    cast_gql_ddef_t           dirs[8];
    size_t                    ndirs;
    cast_sdl_fix_t           *fixes;
} cast_sdl_t;


static const char  *cast_gql_dloc_names[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION"
};


static int
cast_sdl_next(cast_sdl_t *sp)
{
    return cast_gql_lex_next(&sp->lx) == CAST_TOK_ERROR ? -1 : 0;
}


static int
cast_sdl_is(cast_sdl_t *sp, const char *kw)
{
    size_t  n;

    n = strlen(kw);

    return sp->lx.kind == CAST_TOK_NAME && sp->lx.end - sp->lx.start == n
           && memcmp(sp->lx.src + sp->lx.start, kw, n) == 0;
}


static int
cast_sdl_expect(cast_sdl_t *sp, cast_tok_e kind)
{
    return sp->lx.kind == kind ? cast_sdl_next(sp) : -1;
}


static int
cast_sdl_name(cast_sdl_t *sp, cast_str_t *out)
{
    if (sp->lx.kind != CAST_TOK_NAME) {
        return -1;
    }

    out->data = sp->lx.src + sp->lx.start;
    out->len = sp->lx.end - sp->lx.start;

    return cast_sdl_next(sp);
}


static int
cast_sdl_desc(cast_sdl_t *sp, cast_str_t *out)
{
    out->data = NULL;
    out->len = 0;

    if (sp->lx.kind != CAST_TOK_STRING && sp->lx.kind != CAST_TOK_BLOCK_STRING)
    {
        return 0;
    }

    if (cast_gql_string_value(&sp->lx, sp->arena, out) != 0) {
        return -1;
    }

    return cast_sdl_next(sp);
}


static int
cast_sdl_type(cast_sdl_t *sp, const cast_gql_type_t **slot)
{
    cast_gql_typeref_t  *ref, *w;
    cast_sdl_fix_t      *fix;
    int                  lists;

    for (lists = 0; sp->lx.kind == CAST_TOK_LBRACKET; lists++) {
        if (cast_sdl_next(sp) != 0) {
            return -1;
        }
    }

    ref = cast_arena_calloc(sp->arena, sizeof(cast_gql_typeref_t));
    if (ref == NULL || cast_sdl_name(sp, &ref->name) != 0) {
        return -1;
    }

    ref->kind = CAST_REF_NAMED;

    for ( ;; ) {
        if (sp->lx.kind == CAST_TOK_BANG) {
            w = cast_arena_calloc(sp->arena, sizeof(cast_gql_typeref_t));
            if (w == NULL || cast_sdl_next(sp) != 0) {
                return -1;
            }
            w->kind = CAST_REF_NON_NULL;
            w->of = ref;
            ref = w;
        }

        if (lists-- == 0) {
            break;
        }

        w = cast_arena_calloc(sp->arena, sizeof(cast_gql_typeref_t));
        if (w == NULL || cast_sdl_expect(sp, CAST_TOK_RBRACKET) != 0) {
            return -1;
        }
        w->kind = CAST_REF_LIST;
        w->of = ref;
        ref = w;
    }

    fix = cast_arena_calloc(sp->arena, sizeof(cast_sdl_fix_t));
    if (fix == NULL) {
        return -1;
    }

    fix->ref = ref;
    fix->slot = slot;
    fix->next = sp->fixes;
    sp->fixes = fix;

    return 0;
}


/* @deprecated(reason:) and @specifiedBy(url:) */
static int
cast_sdl_directives(cast_sdl_t *sp, int *deprecated, cast_str_t *reason)
{
    cast_str_t         name, arg;
    cast_gql_value_t  *v;

    while (sp->lx.kind == CAST_TOK_AT) {
        if (cast_sdl_next(sp) != 0 || cast_sdl_name(sp, &name) != 0) {
            return -1;
        }

        if (cast_gql_streq(name, "deprecated")) {
            *deprecated = 1;
            reason->data = "No longer supported";
            reason->len = sizeof("No longer supported") - 1;
        }

        if (sp->lx.kind != CAST_TOK_LPAREN) {
            continue;
        }

        if (cast_sdl_next(sp) != 0) {
            return -1;
        }

        while (sp->lx.kind == CAST_TOK_NAME) {
            if (cast_sdl_name(sp, &arg) != 0
                || cast_sdl_expect(sp, CAST_TOK_COLON) != 0
                || cast_gql_parse_value(&sp->lx, sp->arena, 1, &v) != 0
                || v->kind != CAST_VAL_STRING)
            {
                return -1;
            }
            *reason = v->str;
        }

        if (cast_sdl_expect(sp, CAST_TOK_RPAREN) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
cast_sdl_args(cast_sdl_t *sp, cast_gql_ivdef_t **out, size_t *n)
{
    cast_gql_ivdef_t   *args;
    cast_gql_value_t   *v;
    size_t              start;

    *n = 0;

    if (sp->lx.kind != CAST_TOK_LPAREN) {
        return 0;
    }

    args = cast_arena_calloc(sp->arena, CAST_SDL_MAX * sizeof(*args));
    if (args == NULL || cast_sdl_next(sp) != 0) {
        return -1;
    }

    *out = args;

    while (sp->lx.kind != CAST_TOK_RPAREN && *n < CAST_SDL_MAX) {
        if (cast_sdl_desc(sp, &args[*n].desc) != 0
            || cast_sdl_name(sp, &args[*n].name) != 0
            || cast_sdl_expect(sp, CAST_TOK_COLON) != 0
            || cast_sdl_type(sp, &args[*n].type) != 0)
        {
            return -1;
        }

        if (sp->lx.kind == CAST_TOK_EQUALS) {
            if (cast_sdl_next(sp) != 0) {
                return -1;
            }
            start = sp->lx.start;
            if (cast_gql_parse_value(&sp->lx, sp->arena, 1, &v) != 0) {
                return -1;
            }
            args[*n].defval.data = sp->lx.src + start;
            args[*n].defval.len = v->end - start;
        }

        if (cast_sdl_directives(sp, &args[*n].deprecated, &args[*n].reason)
            != 0)
        {
            return -1;
        }

        (*n)++;
    }

    return cast_sdl_expect(sp, CAST_TOK_RPAREN);
}


static int
cast_sdl_object(cast_sdl_t *sp, cast_gql_type_t *t)
{
    cast_gql_fdef_t  *f;

    t->kind = CAST_TK_OBJECT;
    t->fields = cast_arena_calloc(sp->arena, CAST_SDL_MAX * sizeof(*f));

    if (t->fields == NULL || cast_sdl_expect(sp, CAST_TOK_LBRACE) != 0) {
        return -1;
    }

    while (sp->lx.kind != CAST_TOK_RBRACE && t->nfields < CAST_SDL_MAX) {
        f = &t->fields[t->nfields++];

        if (cast_sdl_desc(sp, &f->desc) != 0
            || cast_sdl_name(sp, &f->name) != 0
            || cast_sdl_args(sp, &f->args, &f->nargs) != 0
            || cast_sdl_expect(sp, CAST_TOK_COLON) != 0
            || cast_sdl_type(sp, &f->type) != 0
            || cast_sdl_directives(sp, &f->deprecated, &f->reason) != 0)
        {
            return -1;
        }
    }

    return cast_sdl_expect(sp, CAST_TOK_RBRACE);
}


static int
cast_sdl_enum(cast_sdl_t *sp, cast_gql_type_t *t)
{
    cast_gql_evdef_t  *ev;

    t->kind = CAST_TK_ENUM;
    t->values = cast_arena_calloc(sp->arena, CAST_SDL_MAX * sizeof(*ev));

    if (t->values == NULL || cast_sdl_expect(sp, CAST_TOK_LBRACE) != 0) {
        return -1;
    }

    while (sp->lx.kind != CAST_TOK_RBRACE && t->nvalues < CAST_SDL_MAX) {
        ev = &t->values[t->nvalues++];

        if (cast_sdl_desc(sp, &ev->desc) != 0
            || cast_sdl_name(sp, &ev->name) != 0
            || cast_sdl_directives(sp, &ev->deprecated, &ev->reason) != 0)
        {
            return -1;
        }
    }

    return cast_sdl_expect(sp, CAST_TOK_RBRACE);
}


static int
cast_sdl_scalar(cast_sdl_t *sp, cast_gql_type_t *t)
{
    static const char  *names[] = { "", "Int", "Float", "String", "Boolean",
                                    "ID" };
    int                 dep, i;

    t->kind = CAST_TK_SCALAR;

    for (i = 1; i <= CAST_SC_ID; i++) {
        if (t->name.len == strlen(names[i])
            && memcmp(t->name.data, names[i], t->name.len) == 0)
        {
            t->scalar = (cast_sc_e) i;
        }
    }

    dep = 0;

    return cast_sdl_directives(sp, &dep, &t->specified_by);
}


static int
cast_sdl_directive(cast_sdl_t *sp, cast_str_t desc)
{
    cast_gql_ddef_t  *d;
    cast_str_t        loc;
    size_t            i;

    if (sp->ndirs == sizeof(sp->dirs) / sizeof(sp->dirs[0])) {
        return -1;
    }

    d = &sp->dirs[sp->ndirs++];
    d->desc = desc;
    d->locs = cast_arena_calloc(sp->arena, CAST_SDL_MAX * sizeof(cast_str_t));

    if (d->locs == NULL
        || cast_sdl_expect(sp, CAST_TOK_AT) != 0
        || cast_sdl_name(sp, &d->name) != 0
        || cast_sdl_args(sp, &d->args, &d->nargs) != 0)
    {
        return -1;
    }

    if (cast_sdl_is(sp, "repeatable")) {
        d->repeatable = 1;
        if (cast_sdl_next(sp) != 0) {
            return -1;
        }
    }

    if (!cast_sdl_is(sp, "on") || cast_sdl_next(sp) != 0) {
        return -1;
    }

    do {
        if (sp->lx.kind == CAST_TOK_PIPE && cast_sdl_next(sp) != 0) {
            return -1;
        }

        if (cast_sdl_name(sp, &loc) != 0 || d->nlocs == CAST_SDL_MAX) {
            return -1;
        }

        d->locs[d->nlocs++] = loc;

        for (i = 0; i < CAST_LOC_NEXECUTABLE; i++) {
            if (loc.len == strlen(cast_gql_dloc_names[i])
                && memcmp(loc.data, cast_gql_dloc_names[i], loc.len) == 0)
            {
                d->mask |= 1u << i;
            }
        }

    } while (sp->lx.kind == CAST_TOK_PIPE);

    return 0;
}


static int
cast_sdl_document(cast_sdl_t *sp, cast_str_t sdl)
{
    cast_gql_type_t  *t;
    cast_str_t        desc;
    int               rc;

    cast_gql_lex_init(&sp->lx, sdl.data, sdl.len, SIZE_MAX);

    if (cast_sdl_next(sp) != 0) {
        return -1;
    }

    while (sp->lx.kind != CAST_TOK_EOF) {
        if (cast_sdl_desc(sp, &desc) != 0) {
            return -1;
        }

        if (cast_sdl_is(sp, "directive")) {
            if (cast_sdl_next(sp) != 0 || cast_sdl_directive(sp, desc) != 0) {
                return -1;
            }
            continue;
        }

        t = cast_arena_calloc(sp->arena, sizeof(cast_gql_type_t));
        if (t == NULL || sp->ntypes == CAST_SDL_MAX) {
            return -1;
        }

        t->desc = desc;
        sp->types[sp->ntypes++] = t;

        if (cast_sdl_is(sp, "type")) {
            rc = cast_sdl_next(sp) || cast_sdl_name(sp, &t->name)
                 || cast_sdl_object(sp, t);
        } else if (cast_sdl_is(sp, "enum")) {
            rc = cast_sdl_next(sp) || cast_sdl_name(sp, &t->name)
                 || cast_sdl_enum(sp, t);
        } else if (cast_sdl_is(sp, "scalar")) {
            rc = cast_sdl_next(sp) || cast_sdl_name(sp, &t->name)
                 || cast_sdl_scalar(sp, t);
        } else {
            rc = -1;
        }

        if (rc != 0) {
            return -1;
        }
    }

    return 0;
}


static const cast_gql_type_t *
cast_sdl_resolve(cast_sdl_t *sp, cast_gql_schema_t *s, cast_gql_typeref_t *r)
{
    cast_gql_type_t  *w;

    if (r->kind == CAST_REF_NAMED) {
        return cast_gql_schema_type(s, r->name);
    }

    w = cast_arena_calloc(sp->arena, sizeof(cast_gql_type_t));
    if (w == NULL) {
        return NULL;
    }

    w->kind = r->kind == CAST_REF_LIST ? CAST_TK_LIST : CAST_TK_NON_NULL;
    w->of = cast_sdl_resolve(sp, s, r->of);

    return w->of != NULL ? w : NULL;
}


/*
 * The binding of the schema to execution, by name and type: the root
 * fields that become slots, their arguments and the fields of their
 * object types.  A name the SDL lacks, a type it changed, or an argument
 * or field no entry binds fails the build: execution never reads a
 * definition by its position.
 */

/* a root field (root) or a field of a root field's object type (sub) */
static const struct {
    const char               *type;
    const char               *field;
    const char               *is;
    cast_field_e              root;
    cast_gql_sub_e            sub;
} cast_sdl_fields[] = {
    { "Query", "query", "Int!", CAST_FIELD_QUERY, CAST_SUB_NONE },
    { "Query", "cas", "TicketInfo!", CAST_FIELD_CAS, CAST_SUB_NONE },
    { "Query", "top", "[Score!]!", CAST_FIELD_TOP, CAST_SUB_NONE },
    { "Query", "totalVotes", "Int!", CAST_FIELD_TOTAL, CAST_SUB_NONE },
    { "Mutation", "vote", "VoteResult!", CAST_FIELD_VOTE, CAST_SUB_NONE },
    { "Subscription", "top", "[Score!]!", CAST_FIELD_TOP, CAST_SUB_NONE },
    { "Subscription", "votes", "[Score!]!", CAST_FIELD_SCORES,
      CAST_SUB_NONE },
    { "Subscription", "ticket", "TicketInfo!", CAST_FIELD_CAS,
      CAST_SUB_NONE },
    { "Subscription", "totalVotes", "Int!", CAST_FIELD_TOTAL,
      CAST_SUB_NONE },
    { "__Meta", "__typename", "String!", 0, CAST_SUB_TYPENAME },
    { "TicketInfo", "ticket", "String!", 0, CAST_SUB_TICKET },
    { "TicketInfo", "validUntil", "String!", 0, CAST_SUB_VALID_UNTIL },
    { "TicketInfo", "remainingUsage", "Int!", 0, CAST_SUB_REMAINING },
    { "VoteResult", "success", "Boolean!", 0, CAST_SUB_SUCCESS },
    { "VoteResult", "message", "String!", 0, CAST_SUB_MESSAGE },
    { "VoteResult", "usernames", "[String!]!", 0, CAST_SUB_USERNAMES },
    { "VoteResult", "votes", "[Int!]!", 0, CAST_SUB_VOTES },
    { "Score", "username", "String!", 0, CAST_SUB_SCORE_USERNAME },
    { "Score", "votes", "Int!", 0, CAST_SUB_SCORE_VOTES }
};

static const struct {
    cast_field_e              root;
    const char               *name;
    const char               *is;
    cast_gql_arg_e            arg;
} cast_sdl_args_bound[] = {
    { CAST_FIELD_QUERY, "username", "String!", CAST_ARG_USERNAME },
    { CAST_FIELD_VOTE, "usernames", "[String!]!", CAST_ARG_USERNAMES },
    { CAST_FIELD_VOTE, "voteCount", "[Int!]", CAST_ARG_VOTE_COUNT },
    { CAST_FIELD_VOTE, "ticket", "String!", CAST_ARG_TICKET },
    { CAST_FIELD_VOTE, "voterUsername", "String", CAST_ARG_VOTER },
    { CAST_FIELD_VOTE, "idempotencyKey", "String", CAST_ARG_IDEMPOTENCY_KEY },
    { CAST_FIELD_TOP, "limit", "Int", CAST_ARG_LIMIT },
    { CAST_FIELD_SCORES, "usernames", "[String!]!", CAST_ARG_WATCH }
};


static cast_str_t
cast_sdl_str(const char *s)
{
    cast_str_t  r;

    r.data = s;
    r.len = strlen(s);

    return r;
}


static int
cast_sdl_same(cast_str_t a, cast_str_t b)
{
    return a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
}


static int
cast_sdl_fail(cast_gql_schema_t *s, const char *what, cast_str_t type,
    cast_str_t name)
{
    snprintf(s->error, sizeof(s->error), "%s \"%.*s.%.*s\"", what,
             (int) type.len, type.data, (int) name.len, name.data);

    return -1;
}


/* the field type.name, of the type written is; NULL after a failure */
static cast_gql_fdef_t *
cast_sdl_field(cast_gql_schema_t *s, const char *type, const char *name,
    const char *is)
{
    cast_gql_fdef_t        *f;
    const cast_gql_type_t  *t;
    cast_str_t              ts;

    t = cast_sdl_same(cast_sdl_str(type), s->meta->name)
        ? s->meta : cast_gql_schema_type(s, cast_sdl_str(type));

    f = (cast_gql_fdef_t *) cast_gql_type_field(t, cast_sdl_str(name));
    if (f == NULL) {
        cast_sdl_fail(s, "the schema lacks the field", cast_sdl_str(type),
                      cast_sdl_str(name));
        return NULL;
    }

    ts = cast_gql_type_str(&s->arena, f->type);
    if (!cast_sdl_same(ts, cast_sdl_str(is))) {
        cast_sdl_fail(s, "the schema changed the type of",
                      cast_sdl_str(type), cast_sdl_str(name));
        return NULL;
    }

    return f;
}


static int
cast_sdl_bind_args(cast_gql_schema_t *s, cast_gql_fdef_t *f)
{
    const cast_gql_ivdef_t  *a;
    cast_str_t               ts;
    uint32_t                 seen;      /* a bit per argument */
    size_t                   i;

    seen = 0;

    for (i = 0;
         i < sizeof(cast_sdl_args_bound) / sizeof(cast_sdl_args_bound[0]);
         i++)
    {
        if (cast_sdl_args_bound[i].root != (cast_field_e) f->root) {
            continue;
        }

        a = cast_gql_find_arg(f->args, f->nargs,
                              cast_sdl_str(cast_sdl_args_bound[i].name));
        if (a == NULL) {
            return cast_sdl_fail(s, "the schema lacks the argument", f->name,
                                 cast_sdl_str(cast_sdl_args_bound[i].name));
        }

        ts = cast_gql_type_str(&s->arena, a->type);
        if (!cast_sdl_same(ts, cast_sdl_str(cast_sdl_args_bound[i].is))) {
            return cast_sdl_fail(s, "the schema changed the type of argument",
                                 f->name,
                                 cast_sdl_str(cast_sdl_args_bound[i].name));
        }

        s->arg[cast_sdl_args_bound[i].arg] = (size_t) (a - f->args);
        seen |= 1u << (a - f->args);
    }

    /* CAST_SDL_MAX arguments at most: a bit each */
    for (i = 0; i < f->nargs; i++) {
        if (!(seen & (1u << i))) {
            return cast_sdl_fail(s, "execution does not bind the argument",
                                 f->name, f->args[i].name);
        }
    }

    return 0;
}


static int
cast_sdl_bind(cast_gql_schema_t *s)
{
    cast_gql_fdef_t        *f;
    const cast_gql_type_t  *t;
    size_t                  i, k, n;

    n = sizeof(cast_sdl_fields) / sizeof(cast_sdl_fields[0]);

    for (i = 0; i < n; i++) {
        f = cast_sdl_field(s, cast_sdl_fields[i].type,
                           cast_sdl_fields[i].field, cast_sdl_fields[i].is);
        if (f == NULL) {
            return -1;
        }
        f->root = cast_sdl_fields[i].root;
        f->sub = cast_sdl_fields[i].sub;
    }

    /* a root field's arguments and object fields are bound, every one */
    for (i = 0; i < n; i++) {
        if (cast_sdl_fields[i].root == 0) {
            continue;
        }

        f = cast_sdl_field(s, cast_sdl_fields[i].type,
                           cast_sdl_fields[i].field, cast_sdl_fields[i].is);

        if (cast_sdl_bind_args(s, f) != 0) {
            return -1;
        }

        t = cast_gql_named(f->type);

        for (k = 0; t->kind == CAST_TK_OBJECT && k < t->nfields; k++) {
            if (t->fields[k].sub == CAST_SUB_NONE) {
                return cast_sdl_fail(s, "execution does not bind the field",
                                     t->name, t->fields[k].name);
            }
        }
    }

    return 0;
}


/* sdl: the CAST schema, cast_gql_schema_sdl() but for tests */
int
cast_gql_schema_init(cast_gql_schema_t *s, cast_str_t sdl)
{
    cast_sdl_t       *sp;
    cast_sdl_fix_t   *fix;
    cast_str_t        name;

    memset(s, 0, sizeof(cast_gql_schema_t));
    cast_arena_init(&s->arena, NULL);

    sp = cast_arena_calloc(&s->arena, sizeof(cast_sdl_t));
    if (sp == NULL) {
        return -1;
    }

    sp->arena = &s->arena;

    if (cast_sdl_document(sp, sdl) != 0
        || cast_sdl_document(sp, cast_gql_builtin_sdl_text()) != 0)
    {
        snprintf(s->error, sizeof(s->error), "the SDL does not parse at "
                 "offset %zu", sp->lx.start);
        return -1;
    }

    s->types = (const cast_gql_type_t **) sp->types;
    s->ntypes = sp->ntypes;

    /* the meta-fields live in a type that introspection does not list */
    s->meta = sp->types[--s->ntypes];
    s->dirs = sp->dirs;
    s->ndirs = sp->ndirs;

    for (fix = sp->fixes; fix != NULL; fix = fix->next) {
        *fix->slot = cast_sdl_resolve(sp, s, fix->ref);
        if (*fix->slot == NULL) {
            name = cast_gql_ref_str(&s->arena, fix->ref);
            snprintf(s->error, sizeof(s->error), "the SDL names a type it "
                     "does not define: \"%.*s\"", (int) name.len, name.data);
            return -1;
        }
    }

    s->query = cast_gql_schema_type(s, (cast_str_t) { "Query", 5 });
    s->mutation = cast_gql_schema_type(s, (cast_str_t) { "Mutation", 8 });
    s->subscription = cast_gql_schema_type(s,
                                           (cast_str_t) { "Subscription", 12 });

    if (s->query == NULL || s->mutation == NULL
        || !cast_gql_streq(s->meta->name, "__Meta"))
    {
        snprintf(s->error, sizeof(s->error), "the SDL lacks the type Query "
                 "or Mutation");
        return -1;
    }

    return cast_sdl_bind(s);
}


void
cast_gql_schema_free(cast_gql_schema_t *s)
{
    cast_arena_free(&s->arena);
}


const cast_gql_type_t *
cast_gql_schema_type(const cast_gql_schema_t *s, cast_str_t name)
{
    size_t  i;

    for (i = 0; i < s->ntypes; i++) {
        if (s->types[i]->name.len == name.len
            && memcmp(s->types[i]->name.data, name.data, name.len) == 0)
        {
            return s->types[i];
        }
    }

    return NULL;
}


const cast_gql_fdef_t *
cast_gql_type_field(const cast_gql_type_t *t, cast_str_t name)
{
    size_t  i;

    if (t == NULL) {
        return NULL;
    }

    for (i = 0; i < t->nfields; i++) {
        if (t->fields[i].name.len == name.len
            && memcmp(t->fields[i].name.data, name.data, name.len) == 0)
        {
            return &t->fields[i];
        }
    }

    return NULL;
}


const cast_gql_fdef_t *
cast_gql_field_def(const cast_gql_schema_t *s, const cast_gql_type_t *parent,
    cast_str_t name)
{
    if (name.len > 2 && name.data[0] == '_' && name.data[1] == '_'
        && (parent == s->query || cast_gql_streq(name, "__typename")))
    {
        return cast_gql_type_field(s->meta, name);
    }

    return cast_gql_type_field(parent, name);
}


const cast_gql_ddef_t *
cast_gql_schema_dir(const cast_gql_schema_t *s, cast_str_t name)
{
    size_t  i;

    for (i = 0; i < s->ndirs; i++) {
        if (s->dirs[i].name.len == name.len
            && memcmp(s->dirs[i].name.data, name.data, name.len) == 0)
        {
            return &s->dirs[i];
        }
    }

    return NULL;
}


const cast_gql_ivdef_t *
cast_gql_find_arg(const cast_gql_ivdef_t *args, size_t n, cast_str_t name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (args[i].name.len == name.len
            && memcmp(args[i].name.data, name.data, name.len) == 0)
        {
            return &args[i];
        }
    }

    return NULL;
}


const cast_gql_type_t *
cast_gql_named(const cast_gql_type_t *t)
{
    while (t->of != NULL) {
        t = t->of;
    }

    return t;
}


typedef struct {
    char                      buf[256];
    size_t                    len;
} cast_gql_tbuf_t;


static void
cast_gql_tput(cast_gql_tbuf_t *b, const char *s, size_t n)
{
    if (n > sizeof(b->buf) - 1 - b->len) {
        n = sizeof(b->buf) - 1 - b->len;
    }

    memcpy(b->buf + b->len, s, n);
    b->len += n;
}


static void
cast_gql_type_print(cast_gql_tbuf_t *b, const cast_gql_type_t *t)
{
    if (t->kind == CAST_TK_NON_NULL) {
        cast_gql_type_print(b, t->of);
        cast_gql_tput(b, "!", 1);

    } else if (t->kind == CAST_TK_LIST) {
        cast_gql_tput(b, "[", 1);
        cast_gql_type_print(b, t->of);
        cast_gql_tput(b, "]", 1);

    } else {
        cast_gql_tput(b, t->name.data, t->name.len);
    }
}


cast_str_t
cast_gql_type_str(cast_arena_t *a, const cast_gql_type_t *t)
{
    cast_gql_tbuf_t  b;

    b.len = 0;
    cast_gql_type_print(&b, t);

    return cast_arena_printf(a, "%.*s", (int) b.len, b.buf);
}


static void
cast_gql_ref_print(cast_gql_tbuf_t *b, const cast_gql_typeref_t *r)
{
    if (r->kind == CAST_REF_NON_NULL) {
        cast_gql_ref_print(b, r->of);
        cast_gql_tput(b, "!", 1);

    } else if (r->kind == CAST_REF_LIST) {
        cast_gql_tput(b, "[", 1);
        cast_gql_ref_print(b, r->of);
        cast_gql_tput(b, "]", 1);

    } else {
        cast_gql_tput(b, r->name.data, r->name.len);
    }
}


cast_str_t
cast_gql_ref_str(cast_arena_t *a, const cast_gql_typeref_t *r)
{
    cast_gql_tbuf_t  b;

    b.len = 0;
    cast_gql_ref_print(&b, r);

    return cast_arena_printf(a, "%.*s", (int) b.len, b.buf);
}
