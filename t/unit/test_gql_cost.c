/*
 * The answer's size bound (max_result_items, cast_gql_cost.c): exact
 * counts at the limit and one past it, top's limit from a literal, its
 * default or a variable (the same cached document, two sizes), aliases
 * and long keys inside a list, votes and vote lists, subscriptions
 * refused before a stream; past the limit no slot is handed to the host.
 */

#include "test_gql.h"


/* response keys of 61 to 64 bytes */
#define TEST_A61                                                             \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TEST_A62  TEST_A61 "a"
#define TEST_A63  TEST_A62 "a"
#define TEST_A64  TEST_A63 "a"


static cast_gql_engine_t *
test_items_engine(size_t items)
{
    cast_gql_limits_t   lim;
    cast_gql_engine_t  *e;

    lim = test_limits();
    lim.max_result_items = items;

    e = cast_gql_engine_create(&lim);
    if (e == NULL) {
        fprintf(stderr, "engine create failed\n");
        exit(1);
    }

    return e;
}


/* the answer of a request refused for its size, items counted */
static void
test_refused(test_resp_t r, unsigned long long items, size_t max,
    const char *what)
{
    char  want[512];

    snprintf(want, sizeof(want), "{\"errors\":[{\"message\":\"The answer "
             "could hold %llu items, more than the limit of %zu "
             "(max_result_items).\",\"locations\":[{\"line\":1,\"column\":"
             "1}],\"extensions\":{\"code\":\"RESPONSE_TOO_LARGE\"}}],"
             "\"data\":null}", items, max);

    test_check(r.rc == CAST_GQL_DONE && r.nslots == 0,
               "%s: no slot for the host (rc %d, %zu slots)", what, r.rc,
               r.nslots);
    test_status(r, 200);
    test_body(r, want);
}


static void
test_resolved(test_resp_t r, size_t nslots, const char *what)
{
    test_check(r.rc == CAST_GQL_RESOLVE && r.nslots == nslots
               && r.body != NULL && strncmp(r.body, "{\"data\":{", 9) == 0,
               "%s: resolved (rc %d, %zu slots, body %s)", what, r.rc,
               r.nslots, test_or(r.body));
}


/* 1 + 5L for top(limit: L) { username votes }: 501 at 100 */
static void
test_top(void)
{
    cast_gql_engine_t  *e;
    test_resp_t         r;

    e = test_items_engine(501);

    r = test_post(e, "{\"query\":\"{ top(limit: 100) { username votes } }\"}");
    test_resolved(r, 1, "top(limit: 100) within 501");
    test_body(r, "{\"data\":{\"top\":[{\"username\":\"zed\",\"votes\":9},"
              "{\"username\":\"al\",\"votes\":5},{\"username\":\"bo\","
              "\"votes\":5}]}}");

    r = test_post(e, "{\"query\":\"{ top(limit: 101) { username votes } }\"}");
    test_refused(r, 506, 501, "top(limit: 101)");

    /* the same cached document, its size from each request's variable */
    r = test_post(e, "{\"query\":\"query($n: Int) { top(limit: $n) { "
                  "username votes } }\",\"variables\":{\"n\":100}}");
    test_resolved(r, 1, "$n = 100");
    r = test_post(e, "{\"query\":\"query($n: Int) { top(limit: $n) { "
                  "username votes } }\",\"variables\":{\"n\":101}}");
    test_refused(r, 506, 501, "$n = 101, the document from the cache");
    r = test_post(e, "{\"query\":\"query($n: Int = 101) { top(limit: $n) "
                  "{ username votes } }\"}");
    test_refused(r, 506, 501, "$n's default");

    /* limit absent or null: 10, as the schema says */
    r = test_post(e, "{\"query\":\"query($n: Int) { a: top { username } "
                  "b: top(limit: $n) { username } }\"}");
    test_resolved(r, 2, "two default limits, 2 x 41");

    /* a negative limit answers nothing: the host refuses it */
    r = test_request(e, CAST_GQL_METHOD_POST, "application/json", NULL,
                     "{\"query\":\"{ top(limit: -5) { username } }\"}",
                     NULL, test_resolve_err);
    test_check(r.rc == CAST_GQL_RESOLVE && r.nslots == 1
               && r.slots[0].limit == -5, "limit -5: the host's to refuse");

    /* the largest Int, times 64 aliases of a field: no wrap-around */
    r = test_post(e, "{\"query\":\"{ top(limit: 2147483647) { a: username "
                  "b: username c: username } }\"}");
    test_refused(r, 1 + 2147483647ULL * 10, 501, "limit 2^31 - 1");

    cast_gql_engine_destroy(e);
}


/* aliases and long response keys inside a list count for each item */
static void
test_keys(void)
{
    cast_gql_engine_t  *e;
    test_resp_t         r;

    e = test_items_engine(81);

    /* a username 1 + (8 + 130) / 64, votes 1: 1 + 10 x (1 + 3 + 3 + 1) */
    r = test_post(e, "{\"query\":\"{ top(limit: 10) { a: username "
                  "b: username c: votes } }\"}");
    test_resolved(r, 1, "three fields an item, 1 + 10 x 8");

    r = test_post(e, "{\"query\":\"{ top(limit: 10) { a: username "
                  "b: username c: votes d: __typename } }\"}");
    test_refused(r, 91, 81, "four fields an item");

    /* the key and the longest value, per 64 bytes: 61 + 130 is 2, 62 3 */
    r = test_post(e, "{\"query\":\"{ top(limit: 10) { " TEST_A62 ": "
                  "username b: username votes } }\"}");
    test_refused(r, 91, 81, "a 62-byte alias of username");
    r = test_post(e, "{\"query\":\"{ top(limit: 10) { " TEST_A61 ": "
                  "username b: username votes } }\"}");
    test_resolved(r, 1, "a 61-byte alias of username");

    /* a list's own key: 63 bytes count 1, 64 bytes 2 */
    r = test_post(e, "{\"query\":\"{ " TEST_A64 ": top(limit: 10) { "
                  "a: username b: username c: votes } }\"}");
    test_refused(r, 82, 81, "a 64-byte alias of top");
    r = test_post(e, "{\"query\":\"{ " TEST_A63 ": top(limit: 10) { "
                  "a: username b: username c: votes } }\"}");
    test_resolved(r, 1, "a 63-byte alias of top");

    cast_gql_engine_destroy(e);
}


/*
 * every field counts: cas 1, its ticket 2 (88 bytes), validUntil 1;
 * query, totalVotes, __typename 1 each
 */
static void
test_fields(void)
{
    cast_gql_engine_t  *e;
    test_resp_t         r;

    e = test_items_engine(7);

    r = test_post(e, "{\"query\":\"{ cas { ticket validUntil } "
                  "query(username: \\\"x\\\") totalVotes __typename }\"}");
    test_resolved(r, 3, "seven items");
    test_body(r, "{\"data\":{\"cas\":{\"ticket\":\"T-abc\",\"validUntil\":"
              "\"2024-01-01T00:00:02Z\"},\"query\":1,\"totalVotes\":42,"
              "\"__typename\":\"Query\"}}");

    r = test_post(e, "{\"query\":\"{ cas { ticket validUntil } "
                  "query(username: \\\"x\\\") totalVotes __typename "
                  "t: __typename }\"}");
    test_refused(r, 8, 7, "eight items");

    /* a vote's lists, a name 3, a count 1: 1 + 1 + (1 + 9) + (1 + 3) */
    cast_gql_engine_destroy(e);
    e = test_items_engine(16);

    r = test_post(e, "{\"query\":\"mutation { vote(usernames: [\\\"a\\\", "
                  "\\\"b\\\", \\\"c\\\"], ticket: \\\"t\\\") { success "
                  "usernames votes } }\"}");
    test_resolved(r, 1, "a vote of three names");
    r = test_post(e, "{\"query\":\"mutation { vote(usernames: [\\\"a\\\", "
                  "\\\"b\\\", \\\"c\\\", \\\"d\\\"], ticket: \\\"t\\\") { "
                  "success usernames votes } }\"}");
    test_refused(r, 20, 16, "a vote of four names");

    cast_gql_engine_destroy(e);
}


/* a subscription is refused before its stream, 400 as its other errors */
static void
test_subscriptions(void)
{
    cast_gql_engine_t  *e;
    test_resp_t         r;

    e = test_items_engine(16);

    r = test_request(e, CAST_GQL_METHOD_POST, "application/json",
                     "text/event-stream", "{\"query\":\"subscription { "
                     "votes(usernames: [\\\"a\\\", \\\"b\\\", \\\"c\\\"]) { "
                     "username votes } }\"}", NULL, test_resolve_ok);
    test_resolved(r, 1, "votes of three names, 1 + 3 x 5");

    r = test_request(e, CAST_GQL_METHOD_POST, "application/json",
                     "text/event-stream", "{\"query\":\"subscription { "
                     "votes(usernames: [\\\"a\\\", \\\"b\\\", \\\"c\\\", "
                     "\\\"d\\\"]) { username votes } }\"}", NULL,
                     test_resolve_ok);
    test_check(r.rc == CAST_GQL_DONE && r.nslots == 0,
               "votes of four names: no slot");
    test_status(r, 400);
    test_body(r, "{\"errors\":[{\"message\":\"The answer could hold 21 "
              "items, more than the limit of 16 (max_result_items).\","
              "\"locations\":[{\"line\":1,\"column\":1}],\"extensions\":"
              "{\"code\":\"RESPONSE_TOO_LARGE\"}}]}");

    r = test_request(e, CAST_GQL_METHOD_GET, NULL, "text/event-stream", NULL,
                     "query=subscription%7Btop(limit%3A4)%7Busername+votes"
                     "%7D%7D", test_resolve_ok);
    test_status(r, 400);
    test_body_has(r, "The answer could hold 21 items");

    cast_gql_engine_destroy(e);
}


/*
 * With the nginx defaults (64 aliases, 5000 items): nine top(limit: 100)
 * and a few fields are answered, 64 of them (a 3 KB request that
 * answered about 1 MB) are refused before the host resolves anything.
 */
static void
test_defaults(void)
{
    char                body[8192], *d;
    cast_gql_limits_t   lim;
    cast_gql_engine_t  *e;
    test_resp_t         r;
    int                 i;

    lim = test_limits();
    lim.max_aliases = 64;
    lim.max_result_items = 5000;

    e = cast_gql_engine_create(&lim);
    test_check(e != NULL, "engine with the nginx defaults");
    if (e == NULL) {
        return;
    }

    d = body + sprintf(body, "{\"query\":\"{");
    for (i = 0; i < 9; i++) {
        d += sprintf(d, " t%d: top(limit: 100) { username votes }", i);
    }
    sprintf(d, " cas { ticket validUntil remainingUsage } totalVotes }\"}");

    r = test_post(e, body);
    test_resolved(r, 11, "nine top(limit: 100), cas and totalVotes");

    d = body + sprintf(body, "{\"query\":\"{");
    for (i = 0; i < 64; i++) {
        d += sprintf(d, " t%d: top(limit: 100) { username votes }", i);
    }
    sprintf(d, " }\"}");

    r = test_post(e, body);
    test_refused(r, 64 * 501, 5000, "64 top(limit: 100)");

    cast_gql_engine_destroy(e);
}


int
main(void)
{
    test_top();
    test_keys();
    test_fields();
    test_subscriptions();
    test_defaults();

    return test_gql_done("test_gql_cost");
}
