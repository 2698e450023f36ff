/*
 * Stateful libFuzzer target for the GraphQL engine: many requests in
 * flight at once, each with its own memory, while other documents churn
 * a small document cache, as in an nginx worker whose requests wait for
 * Redis.  The input is a program of two-byte steps:
 *
 *   op % 4 == 0, 1   request k = arg % FUZZ_POOL: start it when idle
 *                    (shape from the op byte, one of 32 documents from
 *                    both bytes), otherwise resolve its slots and
 *                    finish it
 *   op % 4 == 2      a new distinct document, prepared and finished
 *                    (valid or not, from arg), evicting cache entries
 *   op % 4 == 3      the next arg % 48 input bytes as a query text
 *
 * Every request's arguments are checked when its slots are resolved, and
 * its response must be exactly the one its own document and variables
 * call for; every response must be well-formed JSON and never a 500.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cast_graphql.h"


#define FUZZ_POOL     16        /* requests in flight */
#define FUZZ_CACHE    4         /* cache entries, for 32 documents */
#define FUZZ_STEPS    512
#define FUZZ_TEXT     1024


typedef struct fuzz_block_s  fuzz_block_t;

struct fuzz_block_s {
    fuzz_block_t             *next;
};

typedef struct {
    fuzz_block_t             *blocks;   /* the request's own memory */
    cast_gql_exec_t          *exec;
    int                       shape;
    unsigned                  doc;
    unsigned long             serial;
    char                      body[FUZZ_TEXT];
    char                      want[FUZZ_TEXT];
} fuzz_req_t;


static cast_gql_engine_t  *fuzz_eng;
static fuzz_req_t          fuzz_reqs[FUZZ_POOL];
static unsigned long       fuzz_serial;


static void *
fuzz_alloc(void *ctx, size_t size)
{
    fuzz_block_t  *b, **pool;

    pool = ctx;

    b = malloc(sizeof(fuzz_block_t) + 8 + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = *pool;
    *pool = b;

    return (char *) b + 16;
}


static void
fuzz_free(fuzz_block_t **pool)
{
    fuzz_block_t  *b, *next;

    for (b = *pool; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    *pool = NULL;
}


static void
fuzz_fail(const char *what, const cast_gql_response_t *out)
{
    fprintf(stderr, "fuzz_inflight: %s\n", what);
    if (out != NULL) {
        fprintf(stderr, "  status %d body %.*s\n", out->status,
                (int) out->body.len, out->body.data);
    }
    abort();
}


static void
fuzz_check_json(const cast_gql_response_t *out)
{
    cJSON  *j;

    if (out->status == 500) {
        fuzz_fail("an internal error", out);
    }

    j = cJSON_ParseWithLength(out->body.data, out->body.len);
    if (j == NULL || !cJSON_IsObject(j)) {
        fuzz_fail("a response that is not a JSON object", out);
    }

    cJSON_Delete(j);
}


static int
fuzz_prepare(fuzz_block_t **pool, const char *body, size_t len,
    cast_gql_exec_t **exec)
{
    cast_gql_alloc_t  *a;
    cast_gql_http_t    in;

    /* the engine keeps the allocator: it lives in the request's memory */
    a = fuzz_alloc(pool, sizeof(cast_gql_alloc_t));
    if (a == NULL) {
        abort();
    }

    a->alloc = fuzz_alloc;
    a->ctx = pool;

    memset(&in, 0, sizeof(in));
    in.method = CAST_GQL_METHOD_POST;
    in.content_type.data = "application/json";
    in.content_type.len = sizeof("application/json") - 1;
    in.body.data = body;
    in.body.len = len;

    return cast_gql_prepare(fuzz_eng, &in, a, exec);
}


/*
 * Four shapes, each with literal aliases and strings that name its
 * document (d) and, through variables, its own request (s):
 *   0  a query slot and __typename
 *   1  a vote with every literal argument; fails for odd documents
 *   2  cas with aliased subfields
 *   3  a vote whose usernames come from variables
 */
static void
fuzz_start(fuzz_req_t *r, int shape, unsigned d)
{
    unsigned long  s;
    int            rc;

    r->shape = shape;
    r->doc = d;
    r->serial = s = fuzz_serial++;

    switch (shape) {

    case 0:
        snprintf(r->body, FUZZ_TEXT, "{\"query\":\"{ a%u: query(username: "
                 "\\\"u%u\\\\u00e9\\\") t%u: __typename }\"}", d, d, d);
        snprintf(r->want, FUZZ_TEXT, "{\"data\":{\"a%u\":%d,\"t%u\":"
                 "\"Query\"}}", d, snprintf(NULL, 0, "u%u", d) + 2, d);
        break;

    case 1:
        snprintf(r->body, FUZZ_TEXT, "{\"query\":\"mutation { v%u: vote("
                 "usernames: [\\\"n%u\\\", \\\"m\\\\u00e9%u\\\"], ticket: "
                 "\\\"t%u\\\", voterUsername: \\\"w%u\\\", idempotencyKey: "
                 "\\\"k%u\\\") { s%u: success u%u: usernames } }\"}",
                 d, d, d, d, d, d, d, d);
        if (d & 1) {
            snprintf(r->want, FUZZ_TEXT, "{\"errors\":[{\"message\":"
                     "\"down %u\",\"locations\":[{\"line\":1,\"column\":12}],"
                     "\"path\":[\"v%u\"],\"extensions\":{\"code\":"
                     "\"UNAVAILABLE\"}}],\"data\":null}", d, d);
        } else {
            snprintf(r->want, FUZZ_TEXT, "{\"data\":{\"v%u\":{\"s%u\":true,"
                     "\"u%u\":[\"n%u\",\"m\xc3\xa9%u\"]}}}", d, d, d, d, d);
        }
        break;

    case 2:
        snprintf(r->body, FUZZ_TEXT, "{\"query\":\"{ c%u: cas { x%u: ticket "
                 "r%u: remainingUsage } }\"}", d, d, d);
        snprintf(r->want, FUZZ_TEXT, "{\"data\":{\"c%u\":{\"x%u\":\"T%u\","
                 "\"r%u\":%u}}}", d, d, d, d, d);
        break;

    default:
        snprintf(r->body, FUZZ_TEXT, "{\"query\":\"mutation($n: [String!]!)"
                 " { v%u: vote(usernames: $n, ticket: \\\"t%u\\\") { u%u: "
                 "usernames } }\",\"variables\":{\"n\":[\"r%lu\",\"q%lu\"]}}",
                 d, d, d, s, s);
        snprintf(r->want, FUZZ_TEXT, "{\"data\":{\"v%u\":{\"u%u\":[\"r%lu\","
                 "\"q%lu\"]}}}", d, d, s, s);
        break;
    }

    rc = fuzz_prepare(&r->blocks, r->body, strlen(r->body), &r->exec);
    if (rc != CAST_GQL_RESOLVE) {
        fuzz_fail("a request that does not wait for its slots", NULL);
    }
}


static int
fuzz_is(cast_str_t s, const char *fmt, unsigned long v)
{
    char  buf[64];
    int   n;

    n = snprintf(buf, sizeof(buf), fmt, v);

    return s.data != NULL && s.len == (size_t) n
           && memcmp(s.data, buf, s.len) == 0;
}


/* the host's part, with the arguments checked against the document */
static void
fuzz_resolve(fuzz_req_t *r, cast_gql_slot_t *s)
{
    static const char   ticket[] = "T";
    unsigned long       d;
    int                 ok;

    d = r->doc;
    s->status = CAST_RES_OK;

    switch (r->shape) {

    case 0:
        ok = s->kind == CAST_FIELD_QUERY && s->username.len >= 3
             && memcmp(s->username.data + s->username.len - 2, "\xc3\xa9", 2)
                == 0
             && fuzz_is((cast_str_t) { s->username.data, s->username.len - 2 },
                        "u%lu", d);
        s->count = (int64_t) s->username.len;
        break;

    case 1:
        ok = s->kind == CAST_FIELD_VOTE && s->nusernames == 2
             && fuzz_is(s->usernames[0], "n%lu", d)
             && fuzz_is(s->usernames[1], "m\xc3\xa9%lu", d)
             && s->counts == NULL && fuzz_is(s->ticket, "t%lu", d)
             && fuzz_is(s->voter, "w%lu", d)
             && fuzz_is(s->idempotency_key, "k%lu", d);
        if (d & 1) {
            s->status = CAST_RES_ERROR;
            s->error_code = "UNAVAILABLE";
            s->error_message.data = fuzz_alloc(&r->blocks, 32);
            s->error_message.len = snprintf((char *) s->error_message.data,
                                            32, "down %lu", d);
        }
        s->success = 1;
        s->message.data = ticket;
        s->message.len = 1;
        s->out_usernames = s->usernames;
        s->out_votes = s->counts;
        s->nout = s->nusernames;
        break;

    case 2:
        ok = s->kind == CAST_FIELD_CAS;
        s->ticket_out.data = fuzz_alloc(&r->blocks, 32);
        s->ticket_out.len = snprintf((char *) s->ticket_out.data, 32,
                                     "T%lu", d);
        s->valid_until.data = ticket;
        s->valid_until.len = 1;
        s->remaining = (int64_t) d;
        break;

    default:
        ok = s->kind == CAST_FIELD_VOTE && s->nusernames == 2
             && fuzz_is(s->usernames[0], "r%lu", r->serial)
             && fuzz_is(s->usernames[1], "q%lu", r->serial)
             && fuzz_is(s->ticket, "t%lu", d) && s->voter.data == NULL
             && s->idempotency_key.data == NULL;
        s->success = 1;
        s->message.data = ticket;
        s->message.len = 1;
        s->out_usernames = s->usernames;
        s->out_votes = s->counts;
        s->nout = s->nusernames;
        break;
    }

    if (!ok) {
        fuzz_fail("slot arguments that are not the request's own", NULL);
    }
}


static void
fuzz_finish(fuzz_req_t *r)
{
    static int64_t        votes[2] = { 1, 1 };
    cast_gql_response_t   out;
    size_t                i;

    for (i = 0; i < r->exec->nslots; i++) {
        fuzz_resolve(r, &r->exec->slots[i]);
        if (r->exec->slots[i].kind == CAST_FIELD_VOTE) {
            r->exec->slots[i].out_votes = votes;
        }
    }

    if (cast_gql_finish(r->exec, &out) != 0) {
        fuzz_fail("finish failed", NULL);
    }

    fuzz_check_json(&out);

    if (out.body.len != strlen(r->want)
        || memcmp(out.body.data, r->want, out.body.len) != 0)
    {
        fprintf(stderr, "  want %s\n", r->want);
        fuzz_fail("a response that is not the request's own", &out);
    }

    fuzz_free(&r->blocks);
    r->exec = NULL;
}


/* one request start to end: a document that evicts cache entries */
static void
fuzz_churn(const char *query, size_t n, int valid)
{
    fuzz_block_t         *pool;
    cast_gql_exec_t      *exec;
    cast_gql_response_t   out;
    cJSON                *b;
    char                 *body;
    size_t                i;
    int                   rc;

    pool = NULL;
    b = cJSON_CreateObject();

    if (query != NULL) {
        body = fuzz_alloc(&pool, n + 1);
        memcpy(body, query, n);
        body[n] = '\0';
        cJSON_AddStringToObject(b, "query", body);

    } else {
        body = fuzz_alloc(&pool, 64);
        snprintf(body, 64, valid ? "{ z%lu: __typename }"
                                 : "{ z%lu: nothing }", fuzz_serial++);
        cJSON_AddStringToObject(b, "query", body);
    }

    body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);

    if (body == NULL) {
        abort();
    }

    rc = fuzz_prepare(&pool, body, strlen(body), &exec);

    if (rc == CAST_GQL_RESOLVE) {
        for (i = 0; i < exec->nslots; i++) {
            exec->slots[i].status = CAST_RES_ERROR;
            exec->slots[i].error_code = "UNAVAILABLE";
            exec->slots[i].error_message.data = "x";
            exec->slots[i].error_message.len = 1;
        }
    }

    if (rc < 0 || cast_gql_finish(exec, &out) != 0) {
        fuzz_fail("prepare or finish failed", NULL);
    }

    fuzz_check_json(&out);
    cJSON_free(body);
    fuzz_free(&pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cast_gql_limits_t   lim;
    fuzz_req_t         *r;
    size_t              i, n, steps;
    uint8_t             op, arg;

    if (fuzz_eng == NULL) {
        lim.max_query_len = 4096;
        lim.max_tokens = 1000;
        lim.max_depth = 16;
        lim.max_fields = 500;
        lim.max_aliases = 50;
        lim.max_list_len = 50;
        lim.max_introspection = 64 * 1024;
        lim.cache_entries = FUZZ_CACHE;
        lim.introspection = 1;
        fuzz_eng = cast_gql_engine_create(&lim);
        if (fuzz_eng == NULL) {
            abort();
        }
    }

    for (i = 0, steps = 0; i + 1 < size && steps < FUZZ_STEPS; steps++) {
        op = data[i++];
        arg = data[i++];

        switch (op % 4) {

        case 0:
        case 1:
            r = &fuzz_reqs[arg % FUZZ_POOL];
            if (r->exec == NULL) {
                fuzz_start(r, (op >> 2) % 4, (op >> 4) | (arg & 0x10));
            } else {
                fuzz_finish(r);
            }
            break;

        case 2:
            fuzz_churn(NULL, 0, arg & 1);
            break;

        default:
            n = arg % 48;
            n = n < size - i ? n : size - i;
            fuzz_churn((const char *) data + i, n, 0);
            i += n;
            break;
        }
    }

    /* the rest finish in pool order, after everything above */
    for (i = 0; i < FUZZ_POOL; i++) {
        if (fuzz_reqs[i].exec != NULL) {
            fuzz_finish(&fuzz_reqs[i]);
        }
    }

    return 0;
}
