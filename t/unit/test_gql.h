/*
 * Shared helpers for the GraphQL engine unit tests: requests in the
 * pool of test_pool.h, a resolver that fills slots the way the host
 * does, and checks of responses in the idiom of check.h.
 */

#ifndef _TEST_GQL_H_INCLUDED_
#define _TEST_GQL_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_graphql.h"
#include "cast_utf8.h"
#include "check.h"
#include "test_pool.h"


typedef struct {
    int                       status;
    const char               *ctype;
    const char               *allow;
    char                     *body;
    int                       rc;       /* of cast_gql_prepare */
    size_t                    nslots;
    cast_gql_slot_t           slots[8];
} test_resp_t;

typedef void (*test_resolver_pt)(cast_gql_slot_t *slot, size_t i);


static test_block_t  *test_bodies;


static inline cast_gql_limits_t
test_limits(void)
{
    cast_gql_limits_t  l;

    l.max_query_len = 8192;
    l.max_tokens = 2000;
    l.max_depth = 16;
    l.max_fields = 2000;
    l.max_aliases = 30;
    l.max_list_len = 100;
    l.max_introspection = 64 * 1024;
    l.max_result_items = 5000;
    l.cache_entries = 64;
    l.introspection = 1;

    return l;
}


/* the engine every test file drives, with test_limits(); exits on failure */
static inline cast_gql_engine_t *
test_engine(void)
{
    cast_gql_engine_t  *e;
    cast_gql_limits_t   lim;

    lim = test_limits();

    e = cast_gql_engine_create(&lim);
    if (e == NULL) {
        fprintf(stderr, "engine create failed\n");
        exit(1);
    }

    return e;
}


static inline cast_str_t
test_str(const char *s)
{
    cast_str_t  r;

    r.data = s;
    r.len = s ? strlen(s) : 0;

    return r;
}


/* a leaderboard of three */
static cast_str_t  test_top_names[3] = {
    { "zed", 3 }, { "al", 2 }, { "bo", 2 }
};
static int64_t     test_top_votes[3] = { 9, 5, 5 };


/* the host's part: valid results derived from the arguments */
static inline void
test_resolve_ok(cast_gql_slot_t *s, size_t i)
{
    static int64_t  votes[8];
    size_t          k;

    s->status = CAST_RES_OK;

    switch (s->kind) {
    case CAST_FIELD_QUERY:
        s->count = (int64_t) s->username.len;
        break;
    case CAST_FIELD_CAS:
        s->ticket_out = test_str("T-abc");
        s->valid_until = test_str("2024-01-01T00:00:02Z");
        s->remaining = 7;
        s->client_remaining = 2;
        s->has_client_remaining = (i == 0);    /* null from the second */
        break;
    case CAST_FIELD_VOTE:
        s->success = 1;
        s->message = test_str("ok \"voted\"");
        s->out_usernames = s->usernames;
        s->nout = s->nusernames < 8 ? s->nusernames : 8;
        for (k = 0; k < s->nout; k++) {
            votes[k] = s->counts ? s->counts[k] : 1;
        }
        s->out_votes = votes;
        break;
    case CAST_FIELD_TOP:
        s->out_usernames = test_top_names;
        s->nout = s->limit < 3 ? (size_t) s->limit : 3;
        s->out_votes = test_top_votes;
        break;
    case CAST_FIELD_TOTAL:
        s->count = 42;
        break;
    case CAST_FIELD_SCORES:
        s->out_usernames = s->usernames;
        s->nout = s->nusernames < 8 ? s->nusernames : 8;
        for (k = 0; k < s->nout; k++) {
            votes[k] = (int64_t) s->usernames[k].len;
        }
        s->out_votes = votes;
        break;
    }
}


static inline void
test_resolve_err(cast_gql_slot_t *s, size_t i)
{
    (void) i;
    s->status = CAST_RES_ERROR;
    s->error_code = "UNAVAILABLE";
    s->error_message = test_str("counts not restored");
}


/* the Content-Encoding test_request() passes (NULL: none) */
static const char  *test_coding;


static inline test_resp_t
test_request(cast_gql_engine_t *eng, cast_gql_method_e method,
    const char *ctype, const char *accept, const char *body,
    const char *args, test_resolver_pt resolve)
{
    cast_gql_alloc_t      a;
    cast_gql_http_t       in;
    cast_gql_exec_t      *exec;
    cast_gql_response_t   out;
    test_resp_t           r;
    test_block_t         *b;
    size_t                i;

    /* the previous request's memory lives until now: slots point into it */
    test_pool_free();

    memset(&r, 0, sizeof(r));
    a.alloc = test_alloc;
    a.ctx = NULL;

    memset(&in, 0, sizeof(in));
    in.method = method;
    in.content_type = test_str(ctype);
    in.accept = test_str(accept);
    in.content_encoding = test_str(test_coding);
    in.body = test_str(body);
    in.args = test_str(args);
    in.stream = accept != NULL && strstr(accept, "text/event-stream") != NULL;

    r.rc = cast_gql_prepare(eng, &in, &a, &exec);

    if (r.rc == CAST_GQL_RESOLVE) {
        r.nslots = exec->nslots;
        for (i = 0; i < exec->nslots; i++) {
            resolve(&exec->slots[i], i);
            if (i < 8) {
                r.slots[i] = exec->slots[i];
            }
        }
    }

    if (r.rc >= 0 && cast_gql_finish(exec, &out) == 0) {
        /* every answer is JSON, and JSON is UTF-8, whatever came in */
        test_check(cast_utf8_valid(out.body.data, out.body.len),
                   "the answer is not UTF-8: %.*s", (int) out.body.len,
                   out.body.data);

        r.status = out.status;
        r.ctype = out.content_type;
        r.allow = out.allow;
        b = malloc(sizeof(test_block_t) + out.body.len + 1);
        if (b != NULL) {
            b->next = test_bodies;
            test_bodies = b;
            r.body = (char *) (b + 1);
            memcpy(r.body, out.body.data, out.body.len);
            r.body[out.body.len] = '\0';
        }
    }

    return r;
}


/* POST application/json with the default resolver */
static inline test_resp_t
test_post(cast_gql_engine_t *eng, const char *body)
{
    return test_request(eng, CAST_GQL_METHOD_POST, "application/json", NULL,
                        body, NULL, test_resolve_ok);
}


#define test_body(r, want)                                                   \
    test_check((r).body != NULL && strcmp((r).body, want) == 0,              \
               "body\n  got:  %s\n  want: %s", test_or((r).body), want)

#define test_body_has(r, part)                                               \
    test_check((r).body != NULL && strstr((r).body, part) != NULL,           \
               "body lacks %s\n  got: %s", part, test_or((r).body))

#define test_status(r, want)                                                 \
    test_check((r).status == (want), "status %d, want %d (body %s)",         \
               (r).status, want, test_or((r).body))

#define test_or(s)  ((s) != NULL ? (s) : "(none)")


/* test_done() once the requests' memory is freed */
static inline int
test_gql_done(const char *name)
{
    test_pool_free();
    test_blocks_free(&test_bodies);

    return test_done(name);
}


#endif /* _TEST_GQL_H_INCLUDED_ */
