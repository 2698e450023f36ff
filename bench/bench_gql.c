/*
 * Micro-benchmark of the GraphQL engine: the standard vote mutation with
 * its variables in a JSON body, prepare + fill slots + finish, with and
 * without the document cache.  The request allocator is a bump pointer
 * over one buffer, reset per request, as cheap as an nginx pool.
 *
 *   build/bench/bench_gql [iterations]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cast_graphql.h"


#define BENCH_POOL  (256 * 1024)


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


int
main(int argc, char **argv)
{
    double  cached, uncached;
    long    n;

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
