/*
 * Micro-benchmark of the GraphQL engine: the standard vote mutation with
 * its variables in a JSON body, prepare + fill slots + finish, with and
 * without the document cache.  The request allocator is a bump pointer
 * over one buffer, reset per request, as cheap as an nginx pool.
 *
 *   build/bench/bench_gql [iterations]
 *   build/bench/bench_gql hostile [case]   the cost of hostile requests
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cast_graphql.h"
#include "../t/unit/test_introspection.h"


#define BENCH_POOL  (64 * 1024 * 1024)


static char    bench_pool[BENCH_POOL];
static size_t  bench_used;

static const char  bench_body[] =
    "{\"query\":\"mutation($u:[String!]!,$c:[Int!],$t:String!){vote("
    "usernames:$u,voteCount:$c,ticket:$t){success message usernames votes}}"
    "\",\"variables\":{\"u\":[\"alice\",\"bob\"],\"c\":[1,2],"
    "\"t\":\"1700000000.42.0a1b2c3d4e5f\"}}";

static const char  bench_want[] =
    "{\"data\":{\"vote\":{\"success\":true,\"message\":\"ok\",\"usernames\":"
    "[\"alice\",\"bob\"],\"votes\":[1,2]}}}";


static void *
bench_alloc(void *ctx, size_t size)
{
    void  *p;

    (void) ctx;

    size = (size + 15) & ~(size_t) 15;

    if (bench_used + size > BENCH_POOL) {
        return NULL;
    }

    p = bench_pool + bench_used;
    bench_used += size;

    return p;
}


static int
bench_one(cast_gql_engine_t *eng, cast_gql_response_t *out)
{
    static int64_t     votes[2];
    cast_gql_alloc_t   a;
    cast_gql_http_t    in;
    cast_gql_exec_t   *exec;
    cast_gql_slot_t   *s;
    size_t             i;

    bench_used = 0;
    a.alloc = bench_alloc;
    a.ctx = NULL;

    memset(&in, 0, sizeof(in));
    in.method = CAST_GQL_METHOD_POST;
    in.content_type.data = "application/json";
    in.content_type.len = sizeof("application/json") - 1;
    in.body.data = bench_body;
    in.body.len = sizeof(bench_body) - 1;

    if (cast_gql_prepare(eng, &in, &a, &exec) != CAST_GQL_RESOLVE) {
        return -1;
    }

    for (i = 0; i < exec->nslots; i++) {
        s = &exec->slots[i];
        s->status = CAST_RES_OK;
        s->success = 1;
        s->message.data = "ok";
        s->message.len = 2;
        s->out_usernames = s->usernames;
        s->nout = s->nusernames;
        votes[0] = s->counts[0];
        votes[1] = s->counts[1];
        s->out_votes = votes;
    }

    return cast_gql_finish(exec, out);
}


static double
bench_run(size_t cache, long n)
{
    cast_gql_limits_t     lim;
    cast_gql_engine_t    *eng;
    cast_gql_response_t   out;
    struct timespec       t0, t1;
    long                  i;

    lim.max_query_len = 8192;
    lim.max_tokens = 2000;
    lim.max_depth = 16;
    lim.max_fields = 500;
    lim.max_aliases = 30;
    lim.max_list_len = 100;
    lim.max_introspection = 64 * 1024;
    lim.max_result_items = 5000;
    lim.cache_entries = cache;
    lim.introspection = 1;

    eng = cast_gql_engine_create(&lim);
    if (eng == NULL) {
        return -1;
    }

    if (bench_one(eng, &out) != 0 || out.body.len != sizeof(bench_want) - 1
        || memcmp(out.body.data, bench_want, out.body.len) != 0)
    {
        fprintf(stderr, "bench_gql: unexpected response %.*s\n",
                (int) out.body.len, out.body.data);
        cast_gql_engine_destroy(eng);
        return -1;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < n; i++) {
        if (bench_one(eng, &out) != 0) {
            cast_gql_engine_destroy(eng);
            return -1;
        }
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    cast_gql_engine_destroy(eng);

    return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
}


/*
 * Hostile requests: each case builds a request within the nginx
 * defaults (cast_max_body_size 64k and the engine limits below) meant
 * to make the engine work, then measures the CPU time of prepare +
 * slots + finish, the request memory and the answer, without the cache
 * (every distinct document costs this) and from it.  Timings are
 * reported, never checked.
 */

#define BENCH_BODY_MAX  (64 * 1024)
#define BENCH_RUNS      15
#define BENCH_PROFILE   2000      /* runs of one case, for a profiler */


typedef struct {
    char                     *buf;
    size_t                    len;
    size_t                    cap;
} bench_buf_t;

typedef struct {
    bench_buf_t               q;        /* query text */
    bench_buf_t               v;        /* variables JSON, may be empty */
    bench_buf_t               x;        /* more body members, verbatim */
    int                       get;      /* query and variables in args */
} bench_req_t;

typedef struct {
    const char               *name;
    void                    (*build)(bench_req_t *r);
} bench_case_t;


static void
bench_cat(bench_buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    if (b->buf == NULL) {
        b->cap = 256;
        b->buf = malloc(b->cap);
        if (b->buf == NULL) {
            exit(2);
        }
    }

    for ( ;; ) {
        va_start(ap, fmt);
        n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);

        if (n >= 0 && (size_t) n < b->cap - b->len) {
            b->len += (size_t) n;
            return;
        }

        b->cap = b->cap * 2 + (size_t) n + 256;
        b->buf = realloc(b->buf, b->cap);
        if (b->buf == NULL) {
            exit(2);
        }
    }
}


/* fmt once per i < n, with i as its only argument (or none) */
static void
bench_rep(bench_buf_t *b, const char *fmt, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        bench_cat(b, fmt, i, i, i);
    }
}


static void
bench_fill(bench_buf_t *b, char c, size_t n)
{
    while (n--) {
        bench_cat(b, "%c", c);
    }
}


static void
h_issue_errors(bench_req_t *r)
{
    bench_cat(&r->q, "#");
    bench_fill(&r->q, 'c', 12000);
    bench_cat(&r->q, "\n{ ");
    bench_rep(&r->q, "x ", 1900);
    bench_cat(&r->q, "}");
}


static void
h_issue_introspection(bench_req_t *r)
{
    bench_cat(&r->q, "{");
    bench_rep(&r->q, " a%d: __schema { ...F }", 20);
    bench_cat(&r->q, " } fragment F on __Schema { types { fields { type { "
              "ofType { fields { name type { ofType { name fields { name "
              "} } } } } } } } }");
}


static void
h_full_introspection(bench_req_t *r)
{
    bench_cat(&r->q, "%s", TEST_INTROSPECTION_QUERY);
}


static void
h_type_aliases(bench_req_t *r)
{
    bench_cat(&r->q, "{");
    bench_rep(&r->q, " a%d: __type(name: \"Query\") { ...T }", 30);
    bench_cat(&r->q, " } fragment T on __Type { name fields { name args { "
              "name type { name ofType { name } } } type { name ofType { "
              "name ofType { name } } } } }");
}


static void
h_fragments_300(bench_req_t *r)
{
    bench_cat(&r->q, "{ ");
    bench_rep(&r->q, "...f%d ", 300);
    bench_cat(&r->q, "} ");
    bench_rep(&r->q, "fragment f%d on Query { __typename } ", 300);
}


static void
h_fragment_chain(bench_req_t *r)
{
    int  i;

    bench_cat(&r->q, "{ ...f0 } ");
    for (i = 0; i < 450; i++) {
        bench_cat(&r->q, "fragment f%d on Query { ...f%d } ", i, i + 1);
    }
    bench_cat(&r->q, "fragment f450 on Query { __typename }");
}


static void
h_fragment_fanout(bench_req_t *r)
{
    int  i;

    bench_cat(&r->q, "{ ...f0 } ");
    for (i = 0; i < 30; i++) {
        bench_cat(&r->q, "fragment f%d on Query { ...f%d ...f%d } ", i,
                  i + 1, i + 1);
    }
    bench_cat(&r->q, "fragment f30 on Query { cas { ticket } }");
}


static void
h_fragment_spreads(bench_req_t *r)
{
    int  i;

    /* many spreads of few fragments, each a distinct one to collect */
    bench_cat(&r->q, "{ cas { ");
    for (i = 0; i < 1300; i++) {
        bench_cat(&r->q, "...t%d ", i % 40);
    }
    bench_cat(&r->q, "} } ");
    bench_rep(&r->q, "fragment t%d on TicketInfo { ticket } ", 40);
}


static void
h_deep_inline(bench_req_t *r)
{
    bench_cat(&r->q, "{ ");
    bench_rep(&r->q, "... { ", 62);
    bench_cat(&r->q, "__typename");
    bench_rep(&r->q, " }", 62);
    bench_cat(&r->q, " }");
}


static void
h_deep_json(bench_req_t *r)
{
    bench_cat(&r->q, "{ __typename }");
    bench_cat(&r->v, "{\"junk\":");
    bench_rep(&r->v, "[", 63);
    bench_rep(&r->v, "]", 63);
    bench_cat(&r->v, "}");
}


static void
h_string_escapes(bench_req_t *r)
{
    bench_cat(&r->q, "{ query(username: \"");
    bench_rep(&r->q, "\\u00e9", 2600);
    bench_cat(&r->q, "\") }");
}


static void
h_variable_escapes(bench_req_t *r)
{
    bench_cat(&r->q, "query($u: String!) { query(username: $u) }");
    bench_cat(&r->v, "{\"u\":\"");
    bench_rep(&r->v, "\\ud83d\\ude00", 5300);
    bench_cat(&r->v, "\"}");
}


static void
h_unicode_braces(bench_req_t *r)
{
    bench_cat(&r->q, "{ query(username: \"");
    bench_rep(&r->q, "\\u{10FFFF}", 1600);
    bench_cat(&r->q, "\") }");
}


static void
h_block_string(bench_req_t *r)
{
    bench_cat(&r->q, "{ query(username: \"\"\"");
    bench_rep(&r->q, "   x\n", 3200);
    bench_cat(&r->q, "\"\"\") }");
}


static void
h_comment(bench_req_t *r)
{
    bench_cat(&r->q, "#");
    bench_fill(&r->q, 'c', 16000);
    bench_cat(&r->q, "\n{ __typename }");
}


static void
h_list_literal(bench_req_t *r)
{
    bench_cat(&r->q, "mutation { vote(usernames: [");
    bench_rep(&r->q, "\"u%d\" ", 1000);
    bench_cat(&r->q, "], ticket: \"t\") { votes } }");
}


static void
h_list_variable(bench_req_t *r)
{
    bench_cat(&r->q, "mutation($u: [String!]!) { vote(usernames: $u, "
              "ticket: \"t\") { votes } }");
    bench_cat(&r->v, "{\"u\":[");
    bench_rep(&r->v, "\"a\",", 12000);
    bench_cat(&r->v, "\"a\"]}");
}


static void
h_vote_aliases(bench_req_t *r)
{
    bench_cat(&r->q, "mutation($u: [String!]!) {");
    bench_rep(&r->q, " a%d: vote(usernames: $u, ticket: \"t\") { usernames "
              "votes }", 64);
    bench_cat(&r->q, " }");
    bench_cat(&r->v, "{\"u\":[");
    bench_rep(&r->v, "\"name-%d\",", 99);
    bench_cat(&r->v, "\"last\"]}");
}


static void
h_many_variables(bench_req_t *r)
{
    bench_cat(&r->q, "query(");
    bench_rep(&r->q, "$v%d: Boolean ", 250);
    bench_cat(&r->q, ") { ");
    bench_rep(&r->q, "... @skip(if: $v%d) { __typename } ", 250);
    bench_cat(&r->q, "}");
    bench_cat(&r->v, "{");
    bench_rep(&r->v, "\"v%d\":false,", 250);
    bench_cat(&r->v, "\"end\":0}");
}


static void
h_many_json_keys(bench_req_t *r)
{
    h_many_variables(r);
    r->v.len--;
    bench_cat(&r->v, ",");
    bench_rep(&r->v, "\"k%d\":0,", 5000);
    bench_cat(&r->v, "\"last\":0}");
}


static void
h_body_keys(bench_req_t *r)
{
    bench_cat(&r->q, "{ __typename }");
    bench_rep(&r->x, ",\"k%d\":0", 6000);
}


static void
h_many_aliases(bench_req_t *r)
{
    bench_cat(&r->q, "{ ");
    bench_rep(&r->q, "a%d: cas { t%d: ticket r%d: remainingUsage } ", 64);
    bench_cat(&r->q, "}");
}


static void
h_many_directives(bench_req_t *r)
{
    bench_cat(&r->q, "{ __typename ");
    bench_rep(&r->q, "@skip(if: false) ", 680);
    bench_cat(&r->q, "}");
}


static void
h_many_args(bench_req_t *r)
{
    bench_cat(&r->q, "{ query(");
    bench_rep(&r->q, "username: \"a\" ", 1000);
    bench_cat(&r->q, ") }");
}


static void
h_many_ops(bench_req_t *r)
{
    bench_rep(&r->q, "query q%d { __typename } ", 600);
    bench_cat(&r->x, ",\"operationName\":\"q599\"");
}


static void
h_dup_fragments(bench_req_t *r)
{
    bench_cat(&r->q, "{ ...f } ");
    bench_rep(&r->q, "fragment f on Query { __typename } ", 440);
}


static void
h_undefined_vars(bench_req_t *r)
{
    bench_rep(&r->q, "query o%d { ...F } ", 150);
    bench_cat(&r->q, "fragment F on Query { ");
    bench_rep(&r->q, "... @skip(if: $u%d) { __typename } ", 100);
    bench_cat(&r->q, "}");
}


static void
h_big_int(bench_req_t *r)
{
    bench_cat(&r->q, "{ query(username: 1");
    bench_fill(&r->q, '0', 16000);
    bench_cat(&r->q, ") }");
}


static void
h_big_json_number(bench_req_t *r)
{
    bench_cat(&r->q, "mutation($c: [Int!]) { vote(usernames: [\"a\"], "
              "voteCount: $c, ticket: \"t\") { votes } }");
    bench_cat(&r->v, "{\"c\":[1");
    bench_fill(&r->v, '0', 60000);
    bench_cat(&r->v, "]}");
}


static void
h_errors_utf8_line(bench_req_t *r)
{
    bench_cat(&r->q, "{ query(username: \"");
    bench_rep(&r->q, "\xc3\xa9", 5000);
    bench_cat(&r->q, "\") ");
    bench_rep(&r->q, "x ", 1000);
    bench_cat(&r->q, "}");
}


static void
h_merge_conflicts(bench_req_t *r)
{
    bench_cat(&r->q, "{ ");
    bench_rep(&r->q, "query(username: \"a%d\") ", 640);
    bench_cat(&r->q, "}");
}


static void
h_merge_nested(bench_req_t *r)
{
    bench_cat(&r->q, "{ ");
    bench_rep(&r->q, "cas { ticket } ", 800);
    bench_cat(&r->q, "}");
}


static void
h_typename_flood(bench_req_t *r)
{
    bench_cat(&r->q, "{ ");
    bench_rep(&r->q, "__typename ", 1400);
    bench_cat(&r->q, "}");
}


static void
h_json_zeros(bench_req_t *r)
{
    bench_cat(&r->q, "{ __typename }");
    bench_cat(&r->v, "{\"a\":[");
    bench_rep(&r->v, "0,", 31000);
    bench_cat(&r->v, "0]}");
}


static void
h_json_objects(bench_req_t *r)
{
    /* objects of nine members: each checked through the key table */
    bench_cat(&r->q, "{ __typename }");
    bench_cat(&r->v, "{\"a\":[");
    bench_rep(&r->v, "{\"a\":0,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,"
              "\"g\":0,\"h\":0,\"i\":0},", 1000);
    bench_cat(&r->v, "{}]}");
}


static void
h_json_duplicate(bench_req_t *r)
{
    bench_cat(&r->q, "{ __typename }");
    bench_cat(&r->v, "{");
    bench_rep(&r->v, "\"k%d\":0,", 6000);
    bench_cat(&r->v, "\"k0\":1}");
}


static void
h_ops_fragment(bench_req_t *r)
{
    /* every operation walks the fragment for its variables */
    bench_rep(&r->q, "query o%d($v: Boolean!) { ...F } ", 120);
    bench_cat(&r->q, "fragment F on Query { ");
    bench_rep(&r->q, "... @skip(if: $v) { __typename } ", 200);
    bench_cat(&r->q, "}");
    bench_cat(&r->x, ",\"operationName\":\"o119\"");
}


static void
h_ops_list_uses(bench_req_t *r)
{
    /* a thousand uses in one field, spread into a hundred operations */
    bench_rep(&r->q, "mutation m%d($a: String!) { ...F } ", 100);
    bench_cat(&r->q, "fragment F on Mutation { vote(ticket: \"t\", "
              "usernames: [");
    bench_rep(&r->q, "$a ", 1000);
    bench_cat(&r->q, "]) { votes } }");
    bench_cat(&r->x, ",\"operationName\":\"m99\",\"variables\":"
              "{\"a\":\"x\"}");
}


static void
h_syntax_error_end(bench_req_t *r)
{
    bench_cat(&r->q, "{ ");
    bench_rep(&r->q, "__typename ", 1400);
    bench_cat(&r->q, "\xc3\xa9");
}


static void
h_get_params(bench_req_t *r)
{
    r->get = 1;
    bench_cat(&r->q, "{ __typename }");
    bench_rep(&r->x, "&p%d=%%41%%42", 700);
}


static const bench_case_t  bench_cases[] = {
    { "issue-validation-errors", h_issue_errors },
    { "issue-introspection", h_issue_introspection },
    { "full-introspection", h_full_introspection },
    { "type-aliases", h_type_aliases },
    { "fragments-300", h_fragments_300 },
    { "fragment-chain-450", h_fragment_chain },
    { "fragment-fanout-2^30", h_fragment_fanout },
    { "fragment-spreads-1300", h_fragment_spreads },
    { "deep-inline-62", h_deep_inline },
    { "deep-json-63", h_deep_json },
    { "string-escapes", h_string_escapes },
    { "variable-escapes", h_variable_escapes },
    { "unicode-braces", h_unicode_braces },
    { "block-string-lines", h_block_string },
    { "comment-16k", h_comment },
    { "list-literal-1000", h_list_literal },
    { "list-variable-12000", h_list_variable },
    { "vote-64-aliases", h_vote_aliases },
    { "variables-250", h_many_variables },
    { "variables-250-keys-5000", h_many_json_keys },
    { "body-keys-6000", h_body_keys },
    { "aliases-64", h_many_aliases },
    { "directives-680", h_many_directives },
    { "arguments-1000", h_many_args },
    { "operations-600", h_many_ops },
    { "fragment-names-440", h_dup_fragments },
    { "undefined-vars-150-ops", h_undefined_vars },
    { "int-16000-digits", h_big_int },
    { "json-number-60000-digits", h_big_json_number },
    { "errors-utf8-line", h_errors_utf8_line },
    { "merge-conflicts-640", h_merge_conflicts },
    { "merge-nested-800", h_merge_nested },
    { "typename-1400", h_typename_flood },
    { "get-params-700", h_get_params },
    { "json-zeros-31000", h_json_zeros },
    { "json-objects-1000x9", h_json_objects },
    { "json-duplicate-6000", h_json_duplicate },
    { "operations-120-fragment", h_ops_fragment },
    { "operations-100-list-uses", h_ops_list_uses },
    { "syntax-error-at-16k", h_syntax_error_end }
};


/* the body {"query":...,"variables":...} or the GET args */
static void
bench_encode(bench_req_t *r, bench_buf_t *out)
{
    size_t          i;
    unsigned char   c;

    if (r->get) {
        bench_cat(out, "query=");
        for (i = 0; i < r->q.len; i++) {
            c = (unsigned char) r->q.buf[i];
            bench_cat(out, (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                           || (c >= '0' && c <= '9') ? "%c" : "%%%02X", c);
        }
        bench_cat(out, "%.*s", (int) r->x.len, r->x.buf);
        return;
    }

    bench_cat(out, "{\"query\":\"");

    for (i = 0; i < r->q.len; i++) {
        c = (unsigned char) r->q.buf[i];
        if (c == '"' || c == '\\') {
            bench_cat(out, "\\%c", c);
        } else if (c < 0x20) {
            bench_cat(out, "\\u%04x", c);
        } else {
            bench_cat(out, "%c", c);
        }
    }

    bench_cat(out, "\"");

    if (r->v.len) {
        bench_cat(out, ",\"variables\":%.*s", (int) r->v.len, r->v.buf);
    }

    bench_cat(out, "%.*s}", (int) r->x.len, r->x.buf);
}


/* the host's part: every slot succeeds, votes echo their names */
static void
bench_resolve(cast_gql_slot_t *s)
{
    size_t  i;

    s->status = CAST_RES_OK;

    switch (s->kind) {
    case CAST_FIELD_QUERY:
        s->count = 1;
        break;
    case CAST_FIELD_CAS:
        s->ticket_out.data = "T";
        s->ticket_out.len = 1;
        s->valid_until.data = "2026-01-01T00:00:00.000Z";
        s->valid_until.len = 24;
        break;
    case CAST_FIELD_TOTAL:
        s->count = 1;
        break;
    case CAST_FIELD_TOP:
    case CAST_FIELD_SCORES:
        s->out_usernames = s->usernames;
        s->nout = s->kind == CAST_FIELD_SCORES ? s->nusernames : 0;
        s->out_votes = bench_alloc(NULL, s->nout * sizeof(int64_t) + 8);
        for (i = 0; s->out_votes != NULL && i < s->nout; i++) {
            s->out_votes[i] = 1;
        }
        break;
    case CAST_FIELD_VOTE:
        s->success = 1;
        s->message.data = "ok";
        s->message.len = 2;
        s->out_usernames = s->usernames;
        s->nout = s->nusernames;
        s->out_votes = bench_alloc(NULL, s->nout * sizeof(int64_t) + 8);
        for (i = 0; s->out_votes != NULL && i < s->nout; i++) {
            s->out_votes[i] = 1;
        }
        break;
    }
}


static double
bench_cpu(void)
{
    struct timespec  t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);

    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}


/* one request; its CPU time in microseconds */
static double
bench_hostile_one(cast_gql_engine_t *eng, const cast_gql_http_t *in,
    cast_gql_response_t *out)
{
    cast_gql_alloc_t   a;
    cast_gql_exec_t   *exec;
    double             t0;
    size_t             i;
    int                rc;

    bench_used = 0;
    a.alloc = bench_alloc;
    a.ctx = NULL;

    t0 = bench_cpu();

    rc = cast_gql_prepare(eng, in, &a, &exec);

    if (rc == CAST_GQL_RESOLVE) {
        for (i = 0; i < exec->nslots; i++) {
            bench_resolve(&exec->slots[i]);
        }
    }

    if (rc < 0 || cast_gql_finish(exec, out) != 0) {
        out->status = -1;
        out->body.len = 0;
    }

    return bench_cpu() - t0;
}


static int
bench_cmp(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static double
bench_median(cast_gql_engine_t *eng, const cast_gql_http_t *in,
    cast_gql_response_t *out, size_t *mem)
{
    double  t[BENCH_RUNS];
    int     i;

    for (i = 0; i < BENCH_RUNS; i++) {
        t[i] = bench_hostile_one(eng, in, out);
        *mem = bench_used;
    }

    qsort(t, BENCH_RUNS, sizeof(double), bench_cmp);

    return t[BENCH_RUNS / 2];
}


static cast_gql_limits_t
bench_limits(size_t cache)
{
    cast_gql_limits_t  lim;

    /* the nginx defaults (ngx_http_cast_module.c) */
    lim.max_query_len = 16 * 1024;
    lim.max_tokens = 4096;
    lim.max_depth = 16;
    lim.max_fields = 512;
    lim.max_aliases = 64;
    lim.max_list_len = 1000;
    lim.max_introspection = 64 * 1024;
    lim.max_result_items = 5000;
    lim.cache_entries = cache;
    lim.introspection = 1;

    return lim;
}


static int
bench_hostile(const char *only)
{
    const bench_case_t   *bc;
    cast_gql_limits_t     lim;
    cast_gql_engine_t    *nocache, *cache;
    cast_gql_http_t       in;
    cast_gql_response_t   out;
    bench_req_t           r;
    bench_buf_t           enc;
    const char           *worst;
    double                miss, hit, max;
    size_t                i, k, mem;

    lim = bench_limits(0);
    nocache = cast_gql_engine_create(&lim);
    lim = bench_limits(256);
    cache = cast_gql_engine_create(&lim);

    if (nocache == NULL || cache == NULL) {
        return 1;
    }

    printf("%-26s %6s %6s %7s %7s %9s %9s\n", "case", "body", "status",
           "answer", "memory", "uncached", "cached");

    max = 0;
    worst = NULL;

    for (i = 0; i < sizeof(bench_cases) / sizeof(bench_cases[0]); i++) {
        bc = &bench_cases[i];
        if (only != NULL && strcmp(only, bc->name) != 0) {
            continue;
        }

        memset(&r, 0, sizeof(r));
        memset(&enc, 0, sizeof(enc));
        bc->build(&r);
        bench_encode(&r, &enc);

        memset(&in, 0, sizeof(in));
        in.method = r.get ? CAST_GQL_METHOD_GET : CAST_GQL_METHOD_POST;
        in.content_type.data = "application/json";
        in.content_type.len = sizeof("application/json") - 1;
        in.body.data = r.get ? NULL : enc.buf;
        in.body.len = r.get ? 0 : enc.len;
        in.args.data = r.get ? enc.buf : NULL;
        in.args.len = r.get ? enc.len : 0;

        for (k = 0; only != NULL && k < BENCH_PROFILE; k++) {
            (void) bench_hostile_one(nocache, &in, &out);
        }

        miss = bench_median(nocache, &in, &out, &mem);
        (void) bench_hostile_one(cache, &in, &out);
        hit = bench_median(cache, &in, &out, &mem);

        printf("%-26s %6zu %6d %7zu %6zuK %7.1fus %7.1fus%s\n", bc->name,
               enc.len, out.status, out.body.len, (mem + 1023) / 1024, miss,
               hit, enc.len > BENCH_BODY_MAX ? "  (over the body limit)" : "");

        if (only != NULL) {
            printf("%.*s\n", (int) (out.body.len > 400 ? 400 : out.body.len),
                   out.body.data);
        }

        if (miss > max && enc.len <= BENCH_BODY_MAX) {
            max = miss;
            worst = bc->name;
        }

        free(r.q.buf);
        free(r.v.buf);
        free(r.x.buf);
        free(enc.buf);
    }

    if (worst != NULL) {
        printf("worst: %s, %.1f us of CPU uncached\n", worst, max);
    }

    cast_gql_engine_destroy(nocache);
    cast_gql_engine_destroy(cache);

    return 0;
}


int
main(int argc, char **argv)
{
    double  cached, uncached;
    long    n;

    if (argc > 1 && strcmp(argv[1], "hostile") == 0) {
        return bench_hostile(argc > 2 ? argv[2] : NULL);
    }

    n = argc > 1 ? atol(argv[1]) : 200000;
    if (n <= 0) {
        n = 200000;
    }

    cached = bench_run(256, n);
    uncached = bench_run(0, n / 4 + 1);

    if (cached < 0 || uncached < 0) {
        return 1;
    }

    printf("bench_gql: vote mutation, prepare + slots + finish\n");
    printf("cached:   %8.0f ns/request\n", cached);
    printf("uncached: %8.0f ns/request\n", uncached);

    return 0;
}
