/*
 * The engine: cast_gql_prepare() takes a request from HTTP decoding to
 * a plan of slots (or a finished response), cast_gql_finish() writes the
 * response.  Documents are parsed and validated once per query text and
 * kept in the engine's cache.
 */

#include <stdio.h>
#include <stdlib.h>

#include "cast_gql_exec.h"


struct cast_gql_engine_s {
    cast_gql_limits_t         lim;
    cast_gql_schema_t         schema;
    cast_gql_cache_t         *cache;
    uint64_t                  hits;
    uint64_t                  misses;
};


static const char  cast_gql_oom[] =
    "{\"errors\":[{\"message\":\"Internal server error.\","
    "\"extensions\":{\"code\":\"INTERNAL_SERVER_ERROR\"}}]}";


cast_gql_engine_t *
cast_gql_engine_create(const cast_gql_limits_t *limits)
{
    return cast_gql_engine_create_sdl(limits, cast_gql_schema_sdl());
}


/* the engine of a schema given as SDL text; NULL and a line on stderr */
cast_gql_engine_t *
cast_gql_engine_create_sdl(const cast_gql_limits_t *limits, cast_str_t sdl)
{
    cast_gql_engine_t  *eng;

    eng = calloc(1, sizeof(cast_gql_engine_t));
    if (eng == NULL) {
        return NULL;
    }

    eng->lim = *limits;

    if (cast_gql_schema_init(&eng->schema, sdl) != 0) {
        fprintf(stderr, "cast graphql: the schema does not build: %s\n",
                eng->schema.error[0] ? eng->schema.error : "out of memory");
        cast_gql_engine_destroy(eng);
        return NULL;
    }

    if (limits->cache_entries) {
        eng->cache = cast_gql_cache_create(limits->cache_entries);
        if (eng->cache == NULL) {
            cast_gql_engine_destroy(eng);
            return NULL;
        }
    }

    return eng;
}


void
cast_gql_engine_destroy(cast_gql_engine_t *eng)
{
    if (eng == NULL) {
        return;
    }

    cast_gql_cache_destroy(eng->cache);
    cast_gql_schema_free(&eng->schema);
    free(eng);
}


uint64_t
cast_gql_cache_hits(const cast_gql_engine_t *eng)
{
    return eng->hits;
}


uint64_t
cast_gql_cache_misses(const cast_gql_engine_t *eng)
{
    return eng->misses;
}


/* the engine's own failure (memory), never the client's */
static int
cast_gql_internal(cast_gql_priv_t *p)
{
    p->done = 1;
    p->resp.status = 500;
    p->resp.allow = NULL;
    p->resp.content_type = cast_gql_media_type(p->media);
    p->resp.body.data = cast_gql_oom;
    p->resp.body.len = sizeof(cast_gql_oom) - 1;

    return CAST_GQL_DONE;
}


static int
cast_gql_done(cast_gql_priv_t *p, int status, const char *allow,
    cast_json_w_t *w)
{
    p->done = 1;
    p->resp.status = status;
    p->resp.allow = allow;
    p->resp.content_type = cast_gql_media_type(p->media);

    if (w->nomem) {
        return cast_gql_internal(p);
    }

    p->resp.body.data = w->buf;
    p->resp.body.len = w->len;

    return CAST_GQL_DONE;
}


/* an HTTP-level failure: no GraphQL execution took place */
static int
cast_gql_http_error(cast_gql_priv_t *p, int status, const char *allow,
    const char *msg)
{
    cast_json_w_t  w;

    cast_json_w_init(&w, &p->arena, 256);
    cast_json_lit(&w, "{\"errors\":[{\"message\":");
    cast_json_str(&w, msg, strlen(msg));
    cast_json_lit(&w, ",\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    return cast_gql_done(p, status, allow, &w);
}


/* request errors: no data entry; 4xx only for the GraphQL media type */
static int
cast_gql_request_errors(cast_gql_priv_t *p, cast_str_t errors)
{
    cast_json_w_t  w;

    cast_json_w_init(&w, &p->arena, errors.len + 2);
    cast_json_lit(&w, "{");
    cast_json_raw(&w, errors.data, errors.len);
    cast_json_lit(&w, "}");

    return cast_gql_done(p, p->media == CAST_MEDIA_GQL || p->stream ? 400 : 200,
                         NULL, &w);
}


/* errors found for this request: written with the document's lines */
static int
cast_gql_errors(cast_gql_priv_t *p, const cast_gql_errs_t *errs,
    const cast_gql_lines_t *lines, int field)
{
    cast_json_w_t  w;

    /* a failure without an error for the client is the engine's own */
    if (errs->nomem || errs->n == 0) {
        return cast_gql_internal(p);
    }

    cast_json_w_init(&w, &p->arena, 512);
    cast_json_lit(&w, "{");
    cast_gql_write_errors(&w, errs, lines);

    /* a field error before any slot ran: every root field is non-null */
    if (field && !p->stream) {
        cast_json_lit(&w, ",\"data\":null}");
        return cast_gql_done(p, 200, NULL, &w);
    }

    cast_json_lit(&w, "}");

    return cast_gql_done(p, p->media == CAST_MEDIA_GQL || p->stream ? 400 : 200,
                         NULL, &w);
}


/*
 * Parsed, validated, its line starts found and its errors written, once
 * per document: a cached invalid document costs a request one copy.
 */
static int
cast_gql_compile(cast_gql_engine_t *eng, cast_gql_entry_t *e,
    cast_arena_t *a)
{
    cast_gql_errs_t  errs;
    cast_json_w_t    w;

    cast_gql_errs_init(&errs);
    cast_gql_errs_cap(&errs, CAST_GQL_MAX_ERRORS, "Too many validation "
                      "errors, error limit reached. Validation aborted.");

    if (cast_gql_lines_init(&e->lines, a, e->text, e->len) != 0) {
        return -1;
    }

    if (cast_gql_parse_document(a, e->text, e->len, &eng->lim, &e->doc,
                                &errs) == 0)
    {
        (void) cast_gql_validate(&eng->schema, &eng->lim, a, &e->doc,
                                 &errs);
    }

    if (errs.nomem) {
        return -1;
    }

    if (errs.n == 0) {
        return 0;
    }

    cast_json_w_init(&w, a, 512);
    cast_gql_write_errors(&w, &errs, &e->lines);

    if (w.nomem) {
        return -1;
    }

    e->errors.data = w.buf;
    e->errors.len = w.len;

    return 0;
}


static cast_gql_entry_t *
cast_gql_load(cast_gql_engine_t *eng, cast_gql_priv_t *p, cast_str_t text)
{
    cast_gql_entry_t  *e;
    cast_arena_t      *a;
    uint64_t           hash;

    if (eng->cache != NULL) {
        hash = cast_gql_hash(text.data, text.len);
        e = cast_gql_cache_get(eng->cache, text.data, text.len, hash);
        if (e != NULL) {
            eng->hits++;
            return e;
        }

        eng->misses++;
        e = cast_gql_cache_slot(eng->cache);
        e->hash = hash;
        a = &e->arena;

    } else {
        e = cast_arena_calloc(&p->arena, sizeof(cast_gql_entry_t));
        if (e == NULL) {
            return NULL;
        }
        a = &p->arena;
    }

    e->len = text.len;
    e->text = cast_arena_dup(a, text.data, text.len);

    if (e->text == NULL || cast_gql_compile(eng, e, a) != 0) {
        /* the entry stays unlinked: the clock hand takes it back */
        return NULL;
    }

    if (eng->cache != NULL) {
        cast_gql_cache_put(eng->cache, e);
    }

    return e;
}


/* GetOperation(): by name, or the only one */
static cast_gql_op_t *
cast_gql_select(cast_gql_priv_t *p, cast_gql_doc_t *doc, cast_str_t name,
    cast_gql_errs_t *errs)
{
    char            q[CAST_JSON_EXCERPT];
    cast_gql_op_t  *op;

    if (name.data == NULL) {
        if (doc->nops == 1) {
            return doc->ops;
        }

        cast_gql_error(&p->arena, errs, "OPERATION_RESOLUTION_FAILURE",
                       CAST_GQL_NOLOC, "Must provide operation name if "
                       "query contains multiple operations.");
        return NULL;
    }

    for (op = doc->ops; op != NULL; op = op->next) {
        if (op->name.len == name.len
            && memcmp(op->name.data, name.data, name.len) == 0)
        {
            return op;
        }
    }

    /* a name holding a NUL (no GraphQL name does) is quoted as any value */
    cast_gql_error(&p->arena, errs, "OPERATION_RESOLUTION_FAILURE",
                   CAST_GQL_NOLOC, "Unknown operation named \"%s\".",
                   cast_json_excerpt(q, name));

    return NULL;
}


/* the context of an operation's execution: -1 without memory */
static int
cast_gql_ctx_init(cast_gql_ctx_t *c, cast_gql_engine_t *eng,
    cast_gql_priv_t *p, cast_gql_entry_t *e, cast_gql_errs_t *errs)
{
    c->arena = &p->arena;
    c->schema = &eng->schema;
    c->lim = &eng->lim;
    c->lines = &e->lines;
    c->errs = errs;
    c->seen.cur = 0;
    c->seen.gen = cast_arena_calloc(&p->arena, (e->doc.nfrags + 1)
                                                * sizeof(uint32_t));

    return c->seen.gen ? 0 : -1;
}


/*
 * Whether the operation may be served as the request asks (a stream, a
 * GET): 0, or -1 with *rc the HTTP error.  A stream carries
 * subscriptions, and only a stream does.  A client that accepts a JSON
 * type too gets a query or a mutation answered in it, as Accept allows.
 */
static int
cast_gql_transport(cast_gql_priv_t *p, const cast_gql_http_t *in,
    const cast_gql_op_t *op, int media, int *rc)
{
    if (in->stream && op->kind != CAST_OP_SUBSCRIPTION && media >= 0) {
        p->stream = 0;

    } else if (in->stream && op->kind != CAST_OP_SUBSCRIPTION) {
        *rc = cast_gql_http_error(p, 400, NULL, "Only subscription "
                                  "operations are served as "
                                  "text/event-stream; send queries and "
                                  "mutations with Accept: "
                                  "application/json.");
        return -1;
    }

    if (!in->stream && op->kind == CAST_OP_SUBSCRIPTION) {
        *rc = cast_gql_http_error(p, 400, NULL, "Subscriptions are served "
                                  "over Server-Sent Events: send Accept: "
                                  "text/event-stream.");
        return -1;
    }

    if (op->kind == CAST_OP_MUTATION && in->method == CAST_GQL_METHOD_GET) {
        *rc = cast_gql_http_error(p, 405, "POST", "Mutations are only "
                                  "accepted in POST requests.");
        return -1;
    }

    return 0;
}


static int
cast_gql_run(cast_gql_engine_t *eng, const cast_gql_http_t *in,
    cast_gql_exec_t *exec)
{
    cast_gql_priv_t    *p;
    cast_gql_params_t   params;
    cast_gql_entry_t   *e;
    cast_gql_op_t      *op;
    cast_gql_errs_t     errs;
    cast_gql_ctx_t      c;
    int                 media, rc;
    char                msg[96];

    p = exec->priv;
    media = cast_gql_media(in->accept);
    p->media = media < 0 ? CAST_MEDIA_JSON : media;
    p->stream = in->stream;

    cast_gql_http_params(&p->arena, in, &params);

    if (params.status == 405) {
        return cast_gql_http_error(p, 405, params.allow, params.error);
    }

    if (media < 0 && !in->stream) {
        return cast_gql_http_error(p, 406, NULL, "The Accept header allows "
                                   "neither application/graphql-response+json"
                                   " nor application/json.");
    }

    if (params.status == 500) {
        return cast_gql_internal(p);
    }

    if (params.status) {
        return cast_gql_http_error(p, params.status, NULL, params.error);
    }

    if (params.query.len > eng->lim.max_query_len) {
        snprintf(msg, sizeof(msg), "The query is longer than the limit of "
                 "%zu bytes (max_query_len).", eng->lim.max_query_len);
        return cast_gql_http_error(p, 400, NULL, msg);
    }

    e = cast_gql_load(eng, p, params.query);
    if (e == NULL) {
        return cast_gql_internal(p);
    }

    if (e->errors.len) {
        return cast_gql_request_errors(p, e->errors);
    }

    cast_gql_errs_init(&errs);

    op = cast_gql_select(p, &e->doc, params.opname, &errs);
    if (op == NULL) {
        return cast_gql_errors(p, &errs, &e->lines, 0);
    }

    if (cast_gql_transport(p, in, op, media, &rc) != 0) {
        return rc;
    }

    if (cast_gql_ctx_init(&c, eng, p, e, &errs) != 0) {
        return cast_gql_internal(p);
    }

    cast_gql_errs_cap(&errs, CAST_GQL_MAX_VAR_ERRORS, "Too many errors "
                      "processing variables, error limit reached. "
                      "Execution aborted.");

    if (cast_gql_coerce_variables(&c, op, params.vars) != 0) {
        return cast_gql_errors(p, &errs, &e->lines, 0);
    }

    p->op = op->kind == CAST_OP_QUERY ? CAST_GQL_OP_QUERY
            : op->kind == CAST_OP_MUTATION ? CAST_GQL_OP_MUTATION
            : CAST_GQL_OP_SUBSCRIPTION;
    exec->op = p->op;

    if (cast_gql_plan(&c, op, &p->plan) != 0) {
        return cast_gql_errors(p, &errs, &e->lines, 1);
    }

    exec->slots = p->plan.slots;
    exec->nslots = p->plan.nslots;

    if (exec->nslots) {
        return CAST_GQL_RESOLVE;
    }

    if (cast_gql_respond(exec, &p->resp) != 0) {
        return cast_gql_internal(p);
    }

    p->done = 1;

    return CAST_GQL_DONE;
}


int
cast_gql_prepare(cast_gql_engine_t *eng, const cast_gql_http_t *in,
    const cast_gql_alloc_t *a, cast_gql_exec_t **exec)
{
    cast_gql_priv_t  *p;
    cast_gql_exec_t  *x;

    *exec = NULL;

    p = a->alloc(a->ctx, sizeof(cast_gql_priv_t) + sizeof(cast_gql_exec_t));
    if (p == NULL) {
        return -1;
    }

    memset(p, 0, sizeof(cast_gql_priv_t) + sizeof(cast_gql_exec_t));
    cast_arena_init(&p->arena, a);

    x = (cast_gql_exec_t *) (p + 1);
    x->priv = p;
    *exec = x;

    return cast_gql_run(eng, in, x);
}


int
cast_gql_finish(cast_gql_exec_t *exec, cast_gql_response_t *out)
{
    cast_gql_priv_t  *p;

    p = exec->priv;

    if (p->done) {
        *out = p->resp;
        return 0;
    }

    if (cast_gql_respond(exec, out) != 0) {
        out->status = 500;
        out->content_type = cast_gql_media_type(p->media);
        out->allow = NULL;
        out->body.data = cast_gql_oom;
        out->body.len = sizeof(cast_gql_oom) - 1;
    }

    return 0;
}
