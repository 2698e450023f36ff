/*
 * CAST GraphQL engine: GraphQL-over-HTTP decoding, parsing, validation,
 * coercion and response writing for the CAST schema.
 *
 * Pure C: no nginx headers.  The host (the nginx module, the unit tests,
 * the fuzzer) drives a request in two phases:
 *
 *   cast_gql_prepare()  decodes the HTTP request, parses (or takes the
 *                       document from the per-engine cache), validates,
 *                       selects the operation and coerces variables and
 *                       arguments.  It yields either a finished response
 *                       (CAST_GQL_DONE) or a list of root-field slots the
 *                       host must resolve (CAST_GQL_RESOLVE).
 *   host                fills each slot's result (or error), possibly
 *                       asynchronously, in slot order for mutations.
 *   cast_gql_finish()   completes the selection sets (aliases, field
 *                       order, __typename, null propagation) and writes
 *                       the JSON response.
 *
 * Introspection and __typename are answered by the engine itself and
 * never appear as slots.
 */

#ifndef _CAST_GRAPHQL_H_INCLUDED_
#define _CAST_GRAPHQL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    const char               *data;
    size_t                    len;
} cast_str_t;


/*
 * request-lifetime allocator supplied by the host (nginx: r->pool); the
 * engine keeps a pointer to it, so it must live until cast_gql_finish().
 *
 * Ownership: once cast_gql_prepare() returns, everything the request
 * points to (the slots and their arguments, response keys, the response
 * body) is in memory from this allocator or static, never in the
 * engine's document cache, whose entries other requests may evict at
 * any time.  The HTTP input must live until cast_gql_prepare() returns;
 * the host's slot results until cast_gql_finish() returns.
 */
typedef struct {
    void                   *(*alloc)(void *ctx, size_t size);
    void                     *ctx;
} cast_gql_alloc_t;


typedef struct {
    size_t                    max_query_len;    /* bytes of query text */
    size_t                    max_tokens;
    size_t                    max_depth;        /* selection nesting */
    size_t                    max_fields;       /* fields in a document */
    size_t                    max_aliases;
    size_t                    max_list_len;     /* elements of any list */
    size_t                    max_introspection; /* bytes it answers */
    size_t                    max_result_items; /* fields and list items */
                                                /*   an answer may hold */
    size_t                    cache_entries;    /* 0 disables the cache */
    int                       introspection;    /* 0 refuses __schema */
} cast_gql_limits_t;


typedef enum {
    CAST_GQL_METHOD_GET = 1,
    CAST_GQL_METHOD_POST,
    CAST_GQL_METHOD_OTHER
} cast_gql_method_e;


typedef struct {
    cast_gql_method_e         method;
    cast_str_t                content_type;     /* empty when absent */
    cast_str_t                accept;           /* empty when absent */
    cast_str_t                content_encoding; /* a coding other than */
                                                /*   identity, or empty */
    cast_str_t                body;             /* POST body */
    cast_str_t                args;             /* raw URL query string */
    int                       stream;           /* the host answers with */
                                                /*   text/event-stream */
} cast_gql_http_t;


typedef enum {
    CAST_FIELD_QUERY = 1,     /* query(username): Int! */
    CAST_FIELD_CAS,           /* cas: TicketInfo! */
    CAST_FIELD_VOTE,          /* vote(...): VoteResult! */
    CAST_FIELD_TOP,           /* top(limit): [Score!]! */
    CAST_FIELD_TOTAL,         /* totalVotes: Int! */
    CAST_FIELD_SCORES         /* Subscription.votes(usernames): [Score!]! */
} cast_field_e;


typedef enum {
    CAST_RES_PENDING = 0,
    CAST_RES_OK,
    CAST_RES_ERROR
} cast_res_e;


typedef struct {
    /* set by the engine: the coerced arguments */
    cast_field_e              kind;
    cast_str_t                username;         /* query */
    cast_str_t               *usernames;        /* vote */
    size_t                    nusernames;
    int64_t                  *counts;           /* NULL: voteCount absent */
    size_t                    ncounts;
    cast_str_t                ticket;
    cast_str_t                voter;            /* data NULL: absent/null */
    cast_str_t                idempotency_key;  /* data NULL: absent/null */
    int64_t                   limit;            /* top */

    /* set by the host */
    cast_res_e                status;
    const char               *error_code;       /* extensions.code */
    cast_str_t                error_message;

    int64_t                   count;            /* query, totalVotes */

    cast_str_t                ticket_out;       /* cas */
    cast_str_t                valid_until;
    int64_t                   remaining;
    int64_t                   client_remaining;
    int                       has_client_remaining; /* 0: null */

    int                       success;          /* vote */
    cast_str_t                message;
    cast_str_t               *out_usernames;    /* vote, top, votes */
    int64_t                  *out_votes;
    size_t                    nout;

    void                     *host;             /* free for the host */
} cast_gql_slot_t;


typedef enum {
    CAST_GQL_OP_NONE = 0,     /* the request never reached an operation */
    CAST_GQL_OP_QUERY,
    CAST_GQL_OP_MUTATION,
    CAST_GQL_OP_SUBSCRIPTION  /* only when the request is a stream */
} cast_gql_op_e;


typedef struct cast_gql_engine_s  cast_gql_engine_t;
typedef struct cast_gql_priv_s    cast_gql_priv_t;


typedef struct {
    cast_gql_op_e             op;
    cast_gql_slot_t          *slots;
    size_t                    nslots;
    cast_gql_priv_t          *priv;
} cast_gql_exec_t;


typedef struct {
    int                       status;           /* HTTP status */
    const char               *content_type;
    const char               *allow;            /* NULL or Allow: value */
    cast_str_t                body;
} cast_gql_response_t;


#define CAST_GQL_DONE        0
#define CAST_GQL_RESOLVE     1

/*
 * cast_gql_prepare() returns -1 (and sets *exec to NULL) only when the
 * allocator fails for the request state itself.  A mutation's slots are
 * resolved in order and the host stops at the first failed one: the
 * engine reports that slot's error and ignores the slots after it.  A
 * slot left CAST_RES_PENDING is reported as an INTERNAL_SERVER_ERROR.
 */


cast_gql_engine_t *cast_gql_engine_create(const cast_gql_limits_t *limits);
void cast_gql_engine_destroy(cast_gql_engine_t *eng);

int cast_gql_prepare(cast_gql_engine_t *eng, const cast_gql_http_t *in,
    const cast_gql_alloc_t *a, cast_gql_exec_t **exec);
int cast_gql_finish(cast_gql_exec_t *exec, cast_gql_response_t *out);

/*
 * A subscription's event: the response its slots make now, written into
 * memory from a (not the request's), so a stream that lives long renders
 * each event into memory the host frees after.  The slots are the host's
 * to fill again before each call.
 */
int cast_gql_render(cast_gql_exec_t *exec, const cast_gql_alloc_t *a,
    cast_str_t *out);

/* the engine's hash of bytes, for a caller's tables keyed by them too */
uint64_t cast_gql_hash(const char *s, size_t n);

uint64_t cast_gql_cache_hits(const cast_gql_engine_t *eng);
uint64_t cast_gql_cache_misses(const cast_gql_engine_t *eng);

/*
 * 1 when an Accept header prefers text/html to the GraphQL response types
 * (a browser opening the endpoint), 0 otherwise
 */
int cast_gql_prefers_html(cast_str_t accept);
/* 1 when an Accept header names text/event-stream, not with q=0 */
int cast_gql_wants_stream(cast_str_t accept);
int cast_gql_identity_coding(cast_str_t coding);

/* the schema in SDL, the one place it is written down */
cast_str_t cast_gql_schema_sdl(void);


#endif /* _CAST_GRAPHQL_H_INCLUDED_ */
