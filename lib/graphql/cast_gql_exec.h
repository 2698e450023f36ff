/*
 * The per-request side of the engine: the plan of root fields, the
 * private request state behind cast_gql_exec_t, HTTP decoding and the
 * document cache.
 *
 * Ownership: a cache entry is read only inside cast_gql_prepare().  The
 * plan and the request state hold no pointer into an entry (its
 * document, its text or its arena): every string of the plan is a copy
 * in the request arena made by cast_gql_plan_str() (cast_gql_exec.c).
 */

#ifndef _CAST_GQL_EXEC_H_INCLUDED_
#define _CAST_GQL_EXEC_H_INCLUDED_


#include "cast_json.h"


typedef struct {
    cast_str_t                key;
    cast_gql_sub_e            id;
} cast_gql_psub_t;

typedef enum {
    CAST_PLAN_SLOT = 0,
    CAST_PLAN_TYPENAME,
    CAST_PLAN_JSON
} cast_gql_plan_e;

typedef struct {
    cast_gql_plan_e           kind;
    cast_str_t                key;
    cast_str_t                json;     /* typename, or written value */
    cast_str_t                type;     /* a slot's object type */
    size_t                    slot;
    uint32_t                  off;
    cast_gql_pos_t            pos;      /* of off, for the slot's error */
    cast_gql_psub_t          *sub;
    size_t                    nsub;
} cast_gql_pentry_t;

typedef struct {
    cast_gql_pentry_t        *entries;
    size_t                    n;
    cast_gql_slot_t          *slots;
    size_t                    nslots;
} cast_gql_plan_t;

int cast_gql_plan(cast_gql_ctx_t *c, cast_gql_op_t *op, cast_gql_plan_t *plan);
int cast_gql_cost(cast_gql_ctx_t *c, const cast_gql_op_t *op,
    const cast_gql_plan_t *plan);


/* the engine of another SDL text than cast_gql_schema_sdl(): for tests */
cast_gql_engine_t *cast_gql_engine_create_sdl(const cast_gql_limits_t *limits,
    cast_str_t sdl);


/* HTTP */

typedef enum {
    CAST_MEDIA_JSON = 0,
    CAST_MEDIA_GQL                      /* application/graphql-response+json */
} cast_gql_media_e;

typedef struct {
    cast_str_t                query;    /* data NULL: absent */
    cast_str_t                opname;   /* data NULL: absent */
    const cast_json_t        *vars;     /* NULL: absent or null */
    int                       status;   /* 0, or the HTTP error status */
    const char               *allow;
    const char               *error;
} cast_gql_params_t;

int cast_gql_media(cast_str_t accept);
void cast_gql_http_params(cast_arena_t *a, const cast_gql_http_t *in,
    cast_gql_params_t *p);
const char *cast_gql_media_type(int media);


/* the request */

struct cast_gql_priv_s {
    cast_arena_t              arena;
    int                       media;
    int                       stream;   /* errors are 4xx: no stream yet */
    int                       done;
    cast_gql_op_e             op;
    cast_gql_response_t       resp;
    cast_gql_plan_t           plan;
};

void cast_gql_write_errors(cast_json_w_t *w, const cast_gql_errs_t *errs,
    const cast_gql_lines_t *lines);
int cast_gql_respond(cast_gql_exec_t *exec, cast_gql_response_t *out);


/* the document cache: parsed and validated documents by query text */

typedef struct cast_gql_cache_s  cast_gql_cache_t;

typedef struct {
    cast_arena_t              arena;    /* owns all below */
    const char               *text;
    size_t                    len;
    uint64_t                  hash;
    cast_gql_doc_t            doc;
    cast_gql_lines_t          lines;
    cast_str_t                errors;   /* "errors":[...], empty: valid */
    int                       ref;      /* CLOCK bit */
} cast_gql_entry_t;

cast_gql_cache_t *cast_gql_cache_create(size_t entries);
void cast_gql_cache_destroy(cast_gql_cache_t *c);
cast_gql_entry_t *cast_gql_cache_get(cast_gql_cache_t *c, const char *text,
    size_t len, uint64_t hash);
cast_gql_entry_t *cast_gql_cache_slot(cast_gql_cache_t *c);
void cast_gql_cache_put(cast_gql_cache_t *c, cast_gql_entry_t *e);


#endif /* _CAST_GQL_EXEC_H_INCLUDED_ */
