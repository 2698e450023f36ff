/*
 * CAST GraphQL engine internals shared by the cast_gql_*.c files:
 * arena, errors, tokens, the document tree, the schema model and the
 * prototypes that tie the stages together.
 */

#ifndef _CAST_GQL_H_INCLUDED_
#define _CAST_GQL_H_INCLUDED_


#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "cast_graphql.h"
#include "cast_utf8.h"


#define CAST_GQL_NOLOC        UINT32_MAX
#define CAST_GQL_MAX_NEST     64        /* parser and JSON nesting */
#define CAST_GQL_MAX_ERRORS   100       /* validation errors, as graphql-js */
#define CAST_GQL_MAX_VAR_ERRORS  50     /* variable errors, as graphql-js */
#define CAST_GQL_MAX_MESSAGE  512       /* bytes of one error message */
#define CAST_GQL_TOP_DEFAULT  10        /* top(limit:), as the SDL says */

#define cast_gql_streq(s, lit)                                               \
    ((s).len == sizeof(lit) - 1 && memcmp((s).data, lit, (s).len) == 0)
#define cast_gql_same(a, b)                                                  \
    ((a).len == (b).len && memcmp((a).data, (b).data, (a).len) == 0)


/* arena: bump allocation in chunks, from the host or from malloc */

typedef struct cast_arena_chunk_s  cast_arena_chunk_t;

typedef struct {
    char                     *pos;
    char                     *end;
    const cast_gql_alloc_t   *host;     /* NULL: malloc, freed as a whole */
    cast_arena_chunk_t       *chunks;
} cast_arena_t;

void cast_arena_init(cast_arena_t *a, const cast_gql_alloc_t *host);
void *cast_arena_grow(cast_arena_t *a, size_t size);
char *cast_arena_dup(cast_arena_t *a, const char *s, size_t len);
cast_str_t cast_arena_printf(cast_arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cast_arena_free(cast_arena_t *a);


/*
 * The bump itself inline: a request takes some fifty pieces, and a
 * calloc of a constant size is then a few stores, not a call to memset.
 */

static inline void *
cast_arena_alloc(cast_arena_t *a, size_t size)
{
    char  *p;

    /* a size that would wrap to 0 when rounded up is none to give */
    if (size > SIZE_MAX - 7) {
        return NULL;
    }

    size = (size + 7) & ~(size_t) 7;

    if (a->pos != NULL && (size_t) (a->end - a->pos) >= size) {
        p = a->pos;
        a->pos += size;
        return p;
    }

    return cast_arena_grow(a, size);
}


static inline void *
cast_arena_calloc(cast_arena_t *a, size_t size)
{
    void  *p;

    p = cast_arena_alloc(a, size);
    if (p != NULL) {
        memset(p, 0, size);
    }

    return p;
}


/*
 * Fragments seen by one walk (CollectFields, field merging): a mark per
 * fragment of the document, a new generation per walk.
 */

typedef struct {
    uint32_t                 *gen;      /* by fragment index */
    uint32_t                  cur;
} cast_gql_marks_t;

#define cast_gql_marks_next(m)        (++(m)->cur)
#define cast_gql_marks_test(m, i)     ((m)->gen[i] == (m)->cur)
#define cast_gql_marks_set(m, i)      ((m)->gen[i] = (m)->cur)


/* name tables: open addressing, sized once */

typedef struct {
    void                     *slots;
    size_t                    mask;
    size_t                    n;
    size_t                    max;
} cast_gql_names_t;

int cast_gql_names_init(cast_gql_names_t *t, cast_arena_t *a, size_t n);
void *cast_gql_names_put(cast_gql_names_t *t, cast_str_t key, void *val);
void *cast_gql_names_get(const cast_gql_names_t *t, cast_str_t key);


/* errors as values; offsets into the query text, located on output */

typedef struct cast_gql_err_s  cast_gql_err_t;

struct cast_gql_err_s {
    cast_str_t                msg;
    const char               *code;
    uint32_t                  loc[2];
    cast_str_t                path;     /* root response key, or empty */
    cast_gql_err_t           *next;
};

typedef struct {
    cast_gql_err_t           *head;
    cast_gql_err_t          **tail;
    size_t                    n;
    size_t                    max;      /* then one error says so, no more */
    const char               *full;     /* that error's message */
    int                       nomem;    /* internal: not the client's */
} cast_gql_errs_t;

/*
 * Every stage that fails returns -1 with either an error recorded for
 * the client or nomem set: the engine answers the first as the request's
 * errors and only the second as an internal server error.
 */

void cast_gql_errs_init(cast_gql_errs_t *e);
void cast_gql_errs_cap(cast_gql_errs_t *e, size_t max, const char *full);
#define cast_gql_errs_full(e)  ((e)->n > (e)->max)
cast_gql_err_t *cast_gql_error(cast_arena_t *a, cast_gql_errs_t *e,
    const char *code, uint32_t loc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));


/* lexer */

typedef enum {
    CAST_TOK_EOF = 0,
    CAST_TOK_BANG,
    CAST_TOK_DOLLAR,
    CAST_TOK_AMP,
    CAST_TOK_LPAREN,
    CAST_TOK_RPAREN,
    CAST_TOK_SPREAD,
    CAST_TOK_COLON,
    CAST_TOK_EQUALS,
    CAST_TOK_AT,
    CAST_TOK_LBRACKET,
    CAST_TOK_RBRACKET,
    CAST_TOK_LBRACE,
    CAST_TOK_PIPE,
    CAST_TOK_RBRACE,
    CAST_TOK_NAME,
    CAST_TOK_INT,
    CAST_TOK_FLOAT,
    CAST_TOK_STRING,
    CAST_TOK_BLOCK_STRING,
    CAST_TOK_ERROR
} cast_tok_e;

typedef struct {
    const char               *src;
    size_t                    len;
    size_t                    pos;
    cast_tok_e                kind;
    size_t                    start;
    size_t                    end;
    size_t                    ntokens;
    size_t                    max_tokens;
    const char               *err;      /* set with kind CAST_TOK_ERROR */
} cast_gql_lexer_t;

void cast_gql_lex_init(cast_gql_lexer_t *lx, const char *src, size_t len,
    size_t max_tokens);
cast_tok_e cast_gql_lex_next(cast_gql_lexer_t *lx);
int cast_gql_string_value(cast_gql_lexer_t *lx, cast_arena_t *a,
    cast_str_t *out);
const char *cast_gql_tok_name(cast_tok_e kind);


/* error locations: the line starts of a document, found once */

typedef struct {
    uint32_t                 *start;
    size_t                    n;
    const char               *src;
    size_t                    len;
    int                       ascii;    /* columns are byte offsets */
} cast_gql_lines_t;

typedef struct {
    uint32_t                  line;
    uint32_t                  col;
} cast_gql_pos_t;

int cast_gql_lines_init(cast_gql_lines_t *l, cast_arena_t *a,
    const char *src, size_t len);
cast_gql_pos_t cast_gql_lines_pos(const cast_gql_lines_t *l, uint32_t off);


/* executable documents */

typedef enum {
    CAST_VAL_VARIABLE = 1,
    CAST_VAL_INT,
    CAST_VAL_FLOAT,
    CAST_VAL_STRING,
    CAST_VAL_BOOLEAN,
    CAST_VAL_NULL,
    CAST_VAL_ENUM,
    CAST_VAL_LIST,
    CAST_VAL_OBJECT
} cast_val_e;

typedef struct cast_gql_value_s  cast_gql_value_t;

struct cast_gql_value_s {
    cast_val_e                kind;
    uint32_t                  off;
    uint32_t                  end;
    cast_str_t                str;      /* name, number text, string */
    cast_str_t                field;    /* member name inside an object */
    cast_gql_value_t         *items;    /* list items, object members */
    size_t                    n;
    cast_gql_value_t         *next;
};

typedef enum {
    CAST_REF_NAMED = 1,
    CAST_REF_LIST,
    CAST_REF_NON_NULL
} cast_ref_e;

typedef struct cast_gql_typeref_s  cast_gql_typeref_t;

struct cast_gql_typeref_s {
    cast_ref_e                kind;
    cast_str_t                name;
    cast_gql_typeref_t       *of;
    uint32_t                  off;
};

typedef struct cast_gql_arg_s  cast_gql_arg_t;

struct cast_gql_arg_s {
    cast_str_t                name;
    cast_gql_value_t         *value;
    uint32_t                  off;
    cast_gql_arg_t           *next;
};

typedef struct cast_gql_dir_s  cast_gql_dir_t;

struct cast_gql_dir_s {
    cast_str_t                name;
    cast_gql_arg_t           *args;
    uint32_t                  off;
    cast_gql_dir_t           *next;
};

typedef enum {
    CAST_SEL_FIELD = 1,
    CAST_SEL_SPREAD,
    CAST_SEL_INLINE
} cast_sel_e;

typedef struct cast_gql_sel_s    cast_gql_sel_t;
typedef struct cast_gql_frag_s   cast_gql_frag_t;
typedef struct cast_gql_fdef_s   cast_gql_fdef_t;
typedef struct cast_gql_type_s   cast_gql_type_t;

struct cast_gql_sel_s {
    cast_sel_e                kind;
    uint32_t                  off;
    cast_str_t                alias;    /* empty: none */
    cast_str_t                name;     /* field or fragment name */
    cast_str_t                cond;     /* inline type condition */
    cast_gql_arg_t           *args;
    cast_gql_dir_t           *dirs;
    cast_gql_sel_t           *sels;
    cast_gql_sel_t           *next;
    const cast_gql_fdef_t    *def;      /* set by validation */
    cast_gql_frag_t          *frag;     /* set by validation */
};

#define cast_gql_key(s)  ((s)->alias.len ? (s)->alias : (s)->name)

typedef struct cast_gql_vardef_s  cast_gql_vardef_t;

struct cast_gql_vardef_s {
    cast_str_t                name;
    cast_gql_typeref_t       *type;
    cast_gql_value_t         *defval;
    cast_gql_dir_t           *dirs;
    uint32_t                  off;
    int                       used;
    const cast_gql_type_t    *stype;    /* set by validation */
    cast_gql_vardef_t        *next;
};

typedef enum {
    CAST_OP_QUERY = 1,
    CAST_OP_MUTATION,
    CAST_OP_SUBSCRIPTION
} cast_op_e;

typedef struct cast_gql_op_s  cast_gql_op_t;

struct cast_gql_op_s {
    cast_op_e                 kind;
    cast_str_t                name;
    cast_gql_vardef_t        *vars;
    cast_gql_dir_t           *dirs;
    cast_gql_sel_t           *sels;
    uint32_t                  off;
    cast_gql_op_t            *next;
};

struct cast_gql_frag_s {
    cast_str_t                name;
    cast_str_t                cond;
    cast_gql_dir_t           *dirs;
    cast_gql_sel_t           *sels;
    uint32_t                  off;
    uint32_t                  cond_off;
    uint32_t                  idx;      /* in the document, from 0 */
    int                       state;    /* validation scratch */
    int                       used;
    size_t                    depth;    /* memo: selection depth */
    size_t                    nfields;  /* memo: fields, spreads expanded */
    size_t                    nuses;    /* memo: variable uses + 1, same */
    cast_gql_frag_t          *next;
};

typedef struct {
    const char               *src;
    size_t                    len;
    cast_gql_op_t            *ops;
    cast_gql_frag_t          *frags;
    size_t                    nops;
    size_t                    nfrags;
} cast_gql_doc_t;

int cast_gql_parse_document(cast_arena_t *a, const char *src, size_t len,
    const cast_gql_limits_t *lim, cast_gql_doc_t *doc, cast_gql_errs_t *errs);
int cast_gql_parse_value(cast_gql_lexer_t *lx, cast_arena_t *a, int cnst,
    cast_gql_value_t **out);


/* schema model */

/* the fields of the root fields' object types, bound by name */
typedef enum {
    CAST_SUB_NONE = 0,
    CAST_SUB_TYPENAME,
    CAST_SUB_TICKET,
    CAST_SUB_VALID_UNTIL,
    CAST_SUB_REMAINING,
    CAST_SUB_CLIENT_REMAINING,
    CAST_SUB_SUCCESS,
    CAST_SUB_MESSAGE,
    CAST_SUB_USERNAMES,
    CAST_SUB_VOTES,
    CAST_SUB_SCORE_USERNAME,
    CAST_SUB_SCORE_VOTES
} cast_gql_sub_e;

/* the root fields' arguments, bound by name */
typedef enum {
    CAST_ARG_USERNAME = 0,              /* query(username:) */
    CAST_ARG_USERNAMES,                 /* vote(usernames:) */
    CAST_ARG_VOTE_COUNT,
    CAST_ARG_TICKET,
    CAST_ARG_VOTER,
    CAST_ARG_IDEMPOTENCY_KEY,
    CAST_ARG_LIMIT,                     /* top(limit:) */
    CAST_ARG_WATCH,                     /* Subscription.votes(usernames:) */
    CAST_ARG_N
} cast_gql_arg_e;

typedef enum {
    CAST_TK_SCALAR = 0,
    CAST_TK_OBJECT,
    CAST_TK_INTERFACE,
    CAST_TK_UNION,
    CAST_TK_ENUM,
    CAST_TK_INPUT_OBJECT,
    CAST_TK_LIST,
    CAST_TK_NON_NULL
} cast_tk_e;

typedef enum {
    CAST_SC_NONE = 0,
    CAST_SC_INT,
    CAST_SC_FLOAT,
    CAST_SC_STRING,
    CAST_SC_BOOLEAN,
    CAST_SC_ID
} cast_sc_e;

typedef struct {
    cast_str_t                name;
    cast_str_t                desc;
    const cast_gql_type_t    *type;
    cast_str_t                defval;   /* literal text, empty: none */
    cast_str_t                reason;   /* deprecation, empty: none */
    int                       deprecated;
} cast_gql_ivdef_t;

struct cast_gql_fdef_s {
    cast_str_t                name;
    cast_str_t                desc;
    cast_gql_ivdef_t         *args;
    size_t                    nargs;
    const cast_gql_type_t    *type;
    cast_str_t                reason;
    int                       deprecated;
    int                       root;     /* cast_field_e, 0: not a slot */
    cast_gql_sub_e            sub;      /* of a slot's object type */
};

typedef struct {
    cast_str_t                name;
    cast_str_t                desc;
    cast_str_t                reason;
    int                       deprecated;
} cast_gql_evdef_t;

struct cast_gql_type_s {
    cast_tk_e                 kind;
    cast_str_t                name;
    cast_str_t                desc;
    cast_str_t                specified_by;
    cast_sc_e                 scalar;
    cast_gql_fdef_t          *fields;
    size_t                    nfields;
    cast_gql_evdef_t         *values;
    size_t                    nvalues;
    const cast_gql_type_t    *of;
};

typedef enum {
    CAST_LOC_QUERY = 0,
    CAST_LOC_MUTATION,
    CAST_LOC_SUBSCRIPTION,
    CAST_LOC_FIELD,
    CAST_LOC_FRAGMENT_DEFINITION,
    CAST_LOC_FRAGMENT_SPREAD,
    CAST_LOC_INLINE_FRAGMENT,
    CAST_LOC_VARIABLE_DEFINITION,
    CAST_LOC_NEXECUTABLE
} cast_dloc_e;

typedef struct {
    cast_str_t                name;
    cast_str_t                desc;
    cast_gql_ivdef_t         *args;
    size_t                    nargs;
    cast_str_t               *locs;     /* location names, as written */
    size_t                    nlocs;
    uint32_t                  mask;     /* executable locations */
    int                       repeatable;
} cast_gql_ddef_t;

typedef struct {
    cast_arena_t              arena;
    const cast_gql_type_t   **types;
    size_t                    ntypes;
    const cast_gql_type_t    *query;
    const cast_gql_type_t    *mutation;
    const cast_gql_type_t    *subscription;     /* NULL: none */
    cast_gql_ddef_t          *dirs;
    size_t                    ndirs;
    const cast_gql_type_t    *meta;     /* __typename, __schema, __type */
    size_t                    arg[CAST_ARG_N];  /* index in its field's */
    char                      error[128];       /* why the build failed */
} cast_gql_schema_t;

cast_str_t cast_gql_builtin_sdl_text(void);
int cast_gql_schema_init(cast_gql_schema_t *s, cast_str_t sdl);
void cast_gql_schema_free(cast_gql_schema_t *s);
const cast_gql_type_t *cast_gql_schema_type(const cast_gql_schema_t *s,
    cast_str_t name);
const cast_gql_fdef_t *cast_gql_type_field(const cast_gql_type_t *t,
    cast_str_t name);
const cast_gql_fdef_t *cast_gql_field_def(const cast_gql_schema_t *s,
    const cast_gql_type_t *parent, cast_str_t name);
const cast_gql_ddef_t *cast_gql_schema_dir(const cast_gql_schema_t *s,
    cast_str_t name);
const cast_gql_ivdef_t *cast_gql_find_arg(const cast_gql_ivdef_t *args,
    size_t n, cast_str_t name);
cast_str_t cast_gql_type_str(cast_arena_t *a, const cast_gql_type_t *t);
cast_str_t cast_gql_ref_str(cast_arena_t *a, const cast_gql_typeref_t *r);
const cast_gql_type_t *cast_gql_named(const cast_gql_type_t *t);


/* validation */

typedef struct {
    const cast_gql_schema_t  *schema;
    const cast_gql_limits_t  *lim;
    cast_arena_t             *arena;    /* lives with the document */
    cast_arena_t             *scratch;  /* freed after validation */
    cast_gql_doc_t           *doc;
    cast_gql_errs_t          *errs;
    int                       gen;      /* marks fragments per walk */
    cast_gql_names_t          frags;    /* the first of each name */
    cast_gql_marks_t          seen;
} cast_gql_vctx_t;

#define cast_gql_verr(v, off, ...)                                           \
    cast_gql_error((v)->arena, (v)->errs, "GRAPHQL_VALIDATION_FAILED", off,  \
                   __VA_ARGS__)

int cast_gql_validate(const cast_gql_schema_t *s, const cast_gql_limits_t *lim,
    cast_arena_t *a, cast_gql_doc_t *doc, cast_gql_errs_t *errs);
void cast_gql_check_subscription(cast_gql_vctx_t *v, cast_gql_op_t *op);
void cast_gql_check_value(cast_gql_vctx_t *v, cast_gql_value_t *val,
    const cast_gql_type_t *t);
void cast_gql_check_dirs(cast_gql_vctx_t *v, cast_gql_dir_t *dirs,
    cast_dloc_e loc);
void cast_gql_check_variables(cast_gql_vctx_t *v, cast_gql_op_t *op);
void cast_gql_check_merge(cast_gql_vctx_t *v, cast_gql_sel_t *sels);
cast_str_t cast_gql_value_text(cast_gql_vctx_t *v, cast_gql_value_t *val);
int cast_gql_parse_int(cast_str_t s, int64_t *out);


/* JSON values (request bodies, variables) */

typedef enum {
    CAST_JSON_NULL = 1,
    CAST_JSON_FALSE,
    CAST_JSON_TRUE,
    CAST_JSON_NUMBER,
    CAST_JSON_STRING,
    CAST_JSON_ARRAY,
    CAST_JSON_OBJECT
} cast_json_e;

typedef struct cast_json_s  cast_json_t;

struct cast_json_s {
    cast_json_e               type;
    cast_str_t                str;      /* string, number text */
    cast_str_t                key;      /* member name in an object */
    cast_json_t              *child;
    size_t                    n;
    cast_json_t              *next;
};


/* runtime values: coerced variables and arguments */

typedef struct cast_gql_rval_s  cast_gql_rval_t;

struct cast_gql_rval_s {
    int                       absent;   /* argument not given */
    int                       null;
    int                       boolean;
    int64_t                   i;
    cast_str_t                str;
    cast_gql_rval_t          *items;    /* list items (array) */
    size_t                    n;
    int                       list;
};

typedef struct cast_gql_var_s  cast_gql_var_t;

struct cast_gql_var_s {
    cast_str_t                name;
    cast_gql_rval_t           val;
};

typedef struct {
    cast_arena_t             *arena;    /* the request's */
    const cast_gql_schema_t  *schema;
    const cast_gql_limits_t  *lim;
    const cast_gql_lines_t   *lines;    /* of the document */
    cast_gql_names_t          vars;     /* coerced, provided only */
    cast_gql_marks_t          seen;     /* for CollectFields */
    cast_gql_errs_t          *errs;
} cast_gql_ctx_t;

int cast_gql_coerce_variables(cast_gql_ctx_t *c, cast_gql_op_t *op,
    const cast_json_t *vars);
int cast_gql_coerce_args(cast_gql_ctx_t *c, const cast_gql_ivdef_t *defs,
    size_t ndefs, cast_gql_arg_t *args, cast_gql_rval_t *out);
int cast_gql_skip(cast_gql_ctx_t *c, cast_gql_dir_t *dirs);


/* execution: field collection and introspection */

typedef struct cast_gql_group_s  cast_gql_group_t;

struct cast_gql_group_s {
    cast_str_t                key;
    const cast_gql_fdef_t    *def;      /* NULL: __typename */
    cast_gql_sel_t          **nodes;
    size_t                    n;
    cast_gql_group_t         *sub;      /* the subfields, once collected */
    int                       collected;
    cast_gql_group_t         *next;
};

typedef struct cast_json_w_s  cast_json_w_t;

int cast_gql_collect(cast_gql_ctx_t *c, cast_gql_sel_t **sets, size_t nsets,
    cast_gql_group_t **out);
int cast_gql_subfields(cast_gql_ctx_t *c, cast_gql_group_t *g);
int cast_gql_introspect(cast_gql_ctx_t *c, cast_json_w_t *w,
    cast_gql_group_t *g, size_t budget);


#endif /* _CAST_GQL_H_INCLUDED_ */
