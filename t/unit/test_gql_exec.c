/*
 * Execution: slots and their coerced arguments, exact response bodies,
 * aliases and field order, __typename, fragments, @skip/@include,
 * variable coercion, null propagation of slot errors, introspection,
 * the document cache and list limits.
 */

#include "test_gql.h"
#include "test_introspection.h"


static cast_gql_engine_t  *eng;


/* e-acute (two bytes of UTF-8), 40 and 31 times */
#define TEST_E5   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define TEST_E10  TEST_E5 TEST_E5
#define TEST_E40  TEST_E10 TEST_E10 TEST_E10 TEST_E10
#define TEST_E31  TEST_E10 TEST_E10 TEST_E10 "\xc3\xa9"


#define VOTE_DOC                                                             \
    "mutation($u:[String!]!,$c:[Int!],$t:String!){vote(usernames:$u,"       \
    "voteCount:$c,ticket:$t){success message usernames votes}}"


static void
test_slots(void)
{
    test_resp_t  r;

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"al\\u00e9\",\"bo\"],\"c\":[2,3],\"t\":\"T1\"}}");
    test_check(r.rc == CAST_GQL_RESOLVE && r.nslots == 1
               && r.slots[0].kind == CAST_FIELD_VOTE
               && r.slots[0].nusernames == 2
               && r.slots[0].usernames[0].len == 4
               && memcmp(r.slots[0].usernames[0].data, "al\xc3\xa9", 4) == 0
               && r.slots[0].ncounts == 2 && r.slots[0].counts[1] == 3
               && r.slots[0].ticket.len == 2
               && r.slots[0].voter.data == NULL
               && r.slots[0].idempotency_key.data == NULL,
               "vote slot arguments");
    test_body(r, "{\"data\":{\"vote\":{\"success\":true,\"message\":"
              "\"ok \\\"voted\\\"\",\"usernames\":[\"al\xc3\xa9\",\"bo\"],"
              "\"votes\":[2,3]}}}");

    r = test_post(eng, "{\"query\":\"mutation{vote(usernames:\\\"x\\\","
                  "ticket:\\\"t\\\",voterUsername:\\\"me\\\","
                  "idempotencyKey:\\\"k1\\\"){votes}}\"}");
    test_check(r.rc == CAST_GQL_RESOLVE && r.slots[0].nusernames == 1
               && r.slots[0].counts == NULL
               && r.slots[0].voter.len == 2
               && r.slots[0].idempotency_key.len == 2,
               "single value to list, optional arguments");
    test_body(r, "{\"data\":{\"vote\":{\"votes\":[1]}}}");

    r = test_post(eng, "{\"query\":\"{ b: cas { r: remainingUsage "
                  "__typename t: ticket } a: query(username: \\\"abc\\\") "
                  "__typename }\"}");
    test_check(r.nslots == 2 && r.slots[0].kind == CAST_FIELD_CAS
               && r.slots[1].kind == CAST_FIELD_QUERY
               && r.slots[1].username.len == 3, "query slots in order");
    test_body(r, "{\"data\":{\"b\":{\"r\":7,\"__typename\":\"TicketInfo\","
              "\"t\":\"T-abc\"},\"a\":3,\"__typename\":\"Query\"}}");

    /* clientRemaining: the host's number, or null when it sets none */
    r = test_post(eng, "{\"query\":\"{ a: cas { clientRemaining "
                  "remainingUsage } b: cas { clientRemaining } }\"}");
    test_body(r, "{\"data\":{\"a\":{\"clientRemaining\":2,"
              "\"remainingUsage\":7},\"b\":{\"clientRemaining\":null}}}");
}


static void
test_collect(void)
{
    test_resp_t  r;

    r = test_post(eng, "{\"query\":\"query($no: Boolean!) { cas { ticket "
                  "@skip(if: $no) ...F validUntil @include(if: $no) } "
                  "cas { ticket } } fragment F on TicketInfo { "
                  "remainingUsage ticket }\",\"variables\":{\"no\":true}}");
    test_body(r, "{\"data\":{\"cas\":{\"remainingUsage\":7,\"ticket\":"
              "\"T-abc\",\"validUntil\":\"2024-01-01T00:00:02Z\"}}}");

    r = test_post(eng, "{\"query\":\"{ ... @skip(if: true) { cas { ticket } }"
                  " __typename }\"}");
    test_check(r.rc == CAST_GQL_DONE, "skipped fragment makes no slot");
    test_body(r, "{\"data\":{\"__typename\":\"Query\"}}");
}


static void
test_coercion(void)
{
    test_resp_t  r;

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "\"solo\",\"c\":4.0,\"t\":\"T\"}}");
    test_body(r, "{\"data\":{\"vote\":{\"success\":true,\"message\":"
              "\"ok \\\"voted\\\"\",\"usernames\":[\"solo\"],"
              "\"votes\":[4]}}}");

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"],\"t\":\"T\"}}");
    test_check(r.rc == CAST_GQL_RESOLVE && r.slots[0].counts == NULL,
               "absent nullable variable: argument absent");

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"],\"c\":[1.5],\"t\":\"T\"}}");
    test_body(r, "{\"errors\":[{\"message\":\"Variable \\\"$c\\\" got "
              "invalid value 1.5 at \\\"c[0]\\\"; Int cannot represent "
              "non-integer value\",\"locations\":[{\"line\":1,\"column\":"
              "24}],\"extensions\":{\"code\":\"BAD_USER_INPUT\"}}]}");

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"],\"c\":[3000000000],\"t\":\"T\"}}");
    test_body_has(r, "got invalid value 3000000000 at \\\"c[0]\\\"; Int "
                  "cannot represent non 32-bit signed integer value");

    /* integers past int64 and 1e15 are too large, not fractions */
    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"],\"c\":[123456789012345678901234567890],"
                  "\"t\":\"T\"}}");
    test_body_has(r, "; Int cannot represent non 32-bit signed integer "
                  "value");
    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"],\"c\":[-1e20],\"t\":\"T\"}}");
    test_body_has(r, "; Int cannot represent non 32-bit signed integer "
                  "value");
    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"],\"c\":[1e999999999],\"t\":\"T\"}}");
    test_body_has(r, "; Int cannot represent non-integer value");

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\",null],\"t\":\"T\"}}");
    test_body_has(r, "got invalid value null at \\\"u[1]\\\"; Expected "
                  "non-nullable type \\\"String!\\\" not to be null.");

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"],\"t\":7}}");
    test_body_has(r, "Variable \\\"$t\\\" got invalid value 7; String "
                  "cannot represent a non string value");

    r = test_post(eng, "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":"
                  "[\"a\"]}}");
    test_body(r, "{\"errors\":[{\"message\":\"Variable \\\"$t\\\" of "
              "required type \\\"String!\\\" was not provided.\","
              "\"locations\":[{\"line\":1,\"column\":34}],\"extensions\":"
              "{\"code\":\"BAD_USER_INPUT\"}}]}");

    r = test_post(eng, "{\"query\":\"query($b: Boolean!) { __typename "
                  "@skip(if: $b) }\",\"variables\":{\"b\":\"true\"}}");
    test_body_has(r, "Boolean cannot represent a non boolean value");

    /*
     * A client's string quoted in a message is cut between code points:
     * "a" and 40 two-byte characters, 81 bytes, cut at 64 would split one.
     */
    r = test_post(eng, "{\"query\":\"query($b: Boolean!) { __typename "
                  "@skip(if: $b) }\",\"variables\":{\"b\":\"a"
                  TEST_E40 "\"}}");
    test_body_has(r, "got invalid value \\\"a" TEST_E31 "...\\\"; Boolean");

    /* and before a NUL, which %.*s would stop at without a word */
    r = test_post(eng, "{\"query\":\"query($b: Boolean!) { __typename "
                  "@skip(if: $b) }\",\"variables\":{\"b\":\"a\\u0000b\"}}");
    test_body_has(r, "got invalid value \\\"a...\\\"; Boolean");

    r = test_post(eng, "{\"query\":\"{ __typename }\",\"operationName\":"
                  "\"a" TEST_E40 "\"}");
    test_body_has(r, "Unknown operation named \\\"a" TEST_E31 "...\\\".");

    /* 64 bytes, not cut */
    r = test_post(eng, "{\"query\":\"{ __typename }\",\"operationName\":"
                  "\"a" TEST_E31 "b\"}");
    test_body_has(r, "Unknown operation named \\\"a" TEST_E31 "b\\\".");

    /* a NUL cut the name quoted: "Unknown operation named \"a\"." */
    r = test_post(eng, "{\"query\":\"query a { __typename }\","
                  "\"operationName\":\"a\\u0000b\"}");
    test_body_has(r, "Unknown operation named \\\"a...\\\".");

    r = test_post(eng, "{\"query\":\"query($u: String = \\\"dflt\\\") "
                  "{ query(username: $u) }\"}");
    test_check(r.rc == CAST_GQL_RESOLVE && r.slots[0].username.len == 4,
               "variable default value");
    test_body(r, "{\"data\":{\"query\":4}}");

    r = test_post(eng, "{\"query\":\"query($u: String! = \\\"dflt\\\") "
                  "{ query(username: $u) }\",\"variables\":{\"u\":null}}");
    test_body_has(r, "Variable \\\"$u\\\" got invalid value null; Expected "
                  "non-nullable type \\\"String!\\\" not to be null.");

    r = test_post(eng, "{\"query\":\"{ query(username: \\\"\\\\u00e9\\\\n\\\") "
                  "}\"}");
    test_check(r.rc == CAST_GQL_RESOLVE && r.slots[0].username.len == 3
               && memcmp(r.slots[0].username.data, "\xc3\xa9\n", 3) == 0,
               "string escapes decoded in arguments");
}


static void
test_null_propagation(void)
{
    test_resp_t  r;

    r = test_request(eng, CAST_GQL_METHOD_POST, "application/json", NULL,
                     "{\"query\":\"{ a: query(username: \\\"x\\\") __typename "
                     "\\n  b: cas { ticket } }\"}", NULL, test_resolve_err);
    test_status(r, 200);
    test_body(r, "{\"errors\":[{\"message\":\"counts not restored\","
              "\"locations\":[{\"line\":1,\"column\":3}],\"path\":[\"a\"],"
              "\"extensions\":{\"code\":\"UNAVAILABLE\"}},{\"message\":"
              "\"counts not restored\",\"locations\":[{\"line\":2,\"column\":"
              "3}],\"path\":[\"b\"],\"extensions\":{\"code\":"
              "\"UNAVAILABLE\"}}],\"data\":null}");

    r = test_request(eng, CAST_GQL_METHOD_POST, "application/json",
                     "application/graphql-response+json",
                     "{\"query\":\"mutation { v: vote(usernames: [\\\"a\\\"], "
                     "ticket: \\\"t\\\") { success } w: vote(usernames: "
                     "[\\\"b\\\"], ticket: \\\"t\\\") { success } }\"}", NULL,
                     test_resolve_err);
    test_status(r, 200);
    test_body(r, "{\"errors\":[{\"message\":\"counts not restored\","
              "\"locations\":[{\"line\":1,\"column\":12}],\"path\":[\"v\"],"
              "\"extensions\":{\"code\":\"UNAVAILABLE\"}}],\"data\":null}");
}


static void
test_introspection(void)
{
    test_resp_t  r;

    r = test_post(eng, "{\"query\":\"{ __type(name: \\\"TicketInfo\\\") { "
                  "kind name fields { name type { kind ofType { name } } } "
                  "} }\"}");
    test_body(r, "{\"data\":{\"__type\":{\"kind\":\"OBJECT\",\"name\":"
              "\"TicketInfo\",\"fields\":[{\"name\":\"ticket\",\"type\":"
              "{\"kind\":\"NON_NULL\",\"ofType\":{\"name\":\"String\"}}},"
              "{\"name\":\"validUntil\",\"type\":{\"kind\":\"NON_NULL\","
              "\"ofType\":{\"name\":\"String\"}}},{\"name\":"
              "\"remainingUsage\",\"type\":{\"kind\":\"NON_NULL\","
              "\"ofType\":{\"name\":\"Int\"}}},{\"name\":"
              "\"clientRemaining\",\"type\":{\"kind\":\"SCALAR\","
              "\"ofType\":null}}]}}}");

    r = test_post(eng, "{\"query\":\"{ __type(name: \\\"Run\\\") { name } "
                  "}\"}");
    test_body(r, "{\"data\":{\"__type\":null}}");

    r = test_post(eng, "{\"query\":\"{ __schema { directives { name "
                  "isRepeatable locations args { name defaultValue } } } "
                  "}\"}");
    test_body_has(r, "{\"name\":\"deprecated\",\"isRepeatable\":false,"
                  "\"locations\":[\"FIELD_DEFINITION\",\"ARGUMENT_DEFINITION\""
                  ",\"INPUT_FIELD_DEFINITION\",\"ENUM_VALUE\"],\"args\":"
                  "[{\"name\":\"reason\",\"defaultValue\":"
                  "\"\\\"No longer supported\\\"\"}]}");

    r = test_post(eng, "{\"query\":\"{ __type(name: \\\"__TypeKind\\\") { "
                  "enumValues { name } } }\"}");
    test_body(r, "{\"data\":{\"__type\":{\"enumValues\":[{\"name\":"
              "\"SCALAR\"},{\"name\":\"OBJECT\"},{\"name\":\"INTERFACE\"},"
              "{\"name\":\"UNION\"},{\"name\":\"ENUM\"},{\"name\":"
              "\"INPUT_OBJECT\"},{\"name\":\"LIST\"},{\"name\":"
              "\"NON_NULL\"}]}}}");

    r = test_post(eng, "{\"query\":\"{ __schema { types { name } } }\"}");
    test_check(r.body != NULL && strstr(r.body, "\"Mutation\"") != NULL
               && strstr(r.body, "\"__Directive\"") != NULL
               && strstr(r.body, "__Meta") == NULL, "types listed");
}


/* a JSON string of s, with quotes */
static char *
test_json_quote(char *d, const char *s)
{
    *d++ = '"';

    for ( /* void */ ; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *d++ = '\\';
        }
        if (*s == '\n') {
            *d++ = '\\';
            *d++ = 'n';
            continue;
        }
        *d++ = *s;
    }

    *d++ = '"';
    *d = '\0';

    return d;
}


/*
 * Introspection answers within max_introspection_size: the standard
 * query fits three times over, twenty aliases of a nested fragment (a
 * 600-byte request that answered 233 KB with 2 MB of request memory)
 * get a GraphQL error naming the limit, in little memory.
 */
static void
test_introspection_budget(void)
{
    char         body[4096], *d;
    int          i;
    test_resp_t  r;
    size_t       len;

    d = body + sprintf(body, "{\"query\":");
    d = test_json_quote(d, TEST_INTROSPECTION_QUERY);
    sprintf(d, "}");

    r = test_post(eng, body);
    len = r.body ? strlen(r.body) : 0;
    test_check(r.status == 200 && strncmp(r.body, "{\"data\":{\"__schema\":"
                                          "{\"description\":null,", 37) == 0
               && strstr(r.body, "\"errors\"") == NULL
               && len > 15000 && len * 2 < 64 * 1024,
               "the standard introspection query fits with room to spare: "
               "%zu bytes", len);

    d = body + sprintf(body, "{\"query\":\"{");
    for (i = 0; i < 20; i++) {
        d += sprintf(d, " a%d: __schema { ...F }", i);
    }
    sprintf(d, " } fragment F on __Schema { types { fields { type { ofType "
            "{ fields { name type { ofType { name fields { name } } } } } } "
            "} } }\"}");

    /* which alias passes the budget depends on the schema's size */
    r = test_post(eng, body);
    test_status(r, 200);
    test_check(r.body != NULL
               && strncmp(r.body, "{\"errors\":[{\"message\":\"The "
                          "introspection answer exceeds the limit of 65536 "
                          "bytes (max_introspection_size).\",\"locations\":"
                          "[{\"line\":1,\"column\":", 140) == 0
               && strstr(r.body, "}],\"path\":[\"a") != NULL
               && strlen(r.body) < 512
               && strcmp(r.body + strlen(r.body) - 60,
                         "\"],\"extensions\":{\"code\":"
                         "\"RESPONSE_TOO_LARGE\"}}],\"data\":null}") == 0,
               "one error, RESPONSE_TOO_LARGE, no data: %s",
               r.body ? r.body : "(none)");
    test_check(test_pool_bytes < 512 * 1024, "request memory %zu bytes",
               test_pool_bytes);
}


/*
 * The budget is the whole answer's: a field whose last value takes it
 * past the limit is refused like one that passes it half-way, and what
 * is left never wraps round to a budget without end.  With 18 bytes,
 * {"name":"Query"} (16) leaves 2: a second one passes every check made
 * before a member and ends 14 bytes past the limit; null ends 2 past.
 */
static void
test_introspection_budget_end(void)
{
    cast_gql_limits_t   lim;
    cast_gql_engine_t  *small;
    test_resp_t         r;

    lim = test_limits();
    lim.max_introspection = 18;
    lim.cache_entries = 0;

    small = cast_gql_engine_create(&lim);
    test_check(small != NULL, "engine with an 18-byte introspection budget");
    if (small == NULL) {
        return;
    }

    r = test_post(small, "{\"query\":\"{ a: __type(name: \\\"Query\\\") "
                  "{ name } }\"}");
    test_body(r, "{\"data\":{\"a\":{\"name\":\"Query\"}}}");

    r = test_post(small, "{\"query\":\"{ a: __type(name: \\\"Query\\\") "
                  "{ name } b: __type(name: \\\"Query\\\") { name } "
                  "c: __schema { types { name } } }\"}");
    test_body_has(r, "\"path\":[\"b\"],\"extensions\":{\"code\":"
                  "\"RESPONSE_TOO_LARGE\"}}],\"data\":null}");

    /* a type that does not exist answers null: four bytes of the budget */
    r = test_post(small, "{\"query\":\"{ a: __type(name: \\\"Query\\\") "
                  "{ name } b: __type(name: \\\"None\\\") { name } "
                  "c: __schema { types { name } } }\"}");
    test_body_has(r, "\"path\":[\"b\"],\"extensions\":{\"code\":"
                  "\"RESPONSE_TOO_LARGE\"}}],\"data\":null}");

    cast_gql_engine_destroy(small);
}


static void
test_cache(void)
{
    cast_gql_limits_t   lim;
    cast_gql_engine_t  *small;
    test_resp_t         r;
    uint64_t            h, m;

    h = cast_gql_cache_hits(eng);
    m = cast_gql_cache_misses(eng);

    r = test_post(eng, "{\"query\":\"{ query(username: \\\"cache1\\\") }\"}");
    r = test_post(eng, "{\"query\":\"{ query(username: \\\"cache1\\\") }\"}");
    test_body(r, "{\"data\":{\"query\":6}}");
    test_check(cast_gql_cache_misses(eng) == m + 1
               && cast_gql_cache_hits(eng) == h + 1, "one miss, one hit");

    r = test_post(eng, "{\"query\":\"{ bad }\"}");
    r = test_post(eng, "{\"query\":\"{ bad }\"}");
    test_body_has(r, "Cannot query field \\\"bad\\\"");
    test_check(cast_gql_cache_hits(eng) == h + 2, "invalid documents cached");

    lim = test_limits();
    lim.cache_entries = 2;
    small = cast_gql_engine_create(&lim);
    test_post(small, "{\"query\":\"{ a: __typename }\"}");
    test_post(small, "{\"query\":\"{ b: __typename }\"}");
    test_post(small, "{\"query\":\"{ c: __typename }\"}");
    r = test_post(small, "{\"query\":\"{ a: __typename }\"}");
    test_body(r, "{\"data\":{\"a\":\"Query\"}}");
    test_check(cast_gql_cache_misses(small) == 4
               && cast_gql_cache_hits(small) == 0, "evicted by CLOCK");
    r = test_post(small, "{\"query\":\"{ a: __typename }\"}");
    test_check(cast_gql_cache_hits(small) == 1, "hit after reload");
    cast_gql_engine_destroy(small);

    lim.cache_entries = 0;
    small = cast_gql_engine_create(&lim);
    test_post(small, "{\"query\":\"{ a: __typename }\"}");
    r = test_post(small, "{\"query\":\"{ a: __typename }\"}");
    test_body(r, "{\"data\":{\"a\":\"Query\"}}");
    test_check(cast_gql_cache_hits(small) == 0, "no cache");
    cast_gql_engine_destroy(small);
}


/*
 * A request waiting for its slots must not depend on the document cache:
 * 300 other documents evict the entry of the waiting mutation, whose
 * response keys and literal arguments must still be its own.
 */
static void
test_plan_outlives_cache(void)
{
    static const char    body[] =
        "{\"query\":\"mutation { mine: vote(usernames: [\\\"alice\\\", "
        "\\\"b\\\\u00e9\\\"], ticket: \\\"T-1\\\", voterUsername: "
        "\\\"me\\\", idempotencyKey: \\\"k-1\\\") { ok: success "
        "said: message names: usernames } }\"}";
    cast_gql_alloc_t     a;
    cast_gql_http_t      in;
    cast_gql_exec_t     *exec;
    cast_gql_response_t  out;
    cast_gql_slot_t     *s;
    test_block_t        *mine;
    char                 other[64];
    int                  i, rc;

    mine = NULL;
    a.alloc = test_alloc;
    a.ctx = &mine;

    memset(&in, 0, sizeof(in));
    in.method = CAST_GQL_METHOD_POST;
    in.content_type = test_str("application/json");
    in.body = test_str(body);

    rc = cast_gql_prepare(eng, &in, &a, &exec);
    test_check(rc == CAST_GQL_RESOLVE && exec->nslots == 1,
               "waiting mutation prepared");
    if (rc != CAST_GQL_RESOLVE) {
        test_blocks_free(&mine);
        return;
    }

    for (i = 0; i < 300; i++) {
        snprintf(other, sizeof(other), "{\"query\":\"{ q%d: __typename } "
                 "#\"}", i);
        test_post(eng, other);
    }

    s = &exec->slots[0];
    test_check(s->nusernames == 2 && s->usernames[0].len == 5
               && memcmp(s->usernames[0].data, "alice", 5) == 0
               && s->usernames[1].len == 3
               && memcmp(s->usernames[1].data, "b\xc3\xa9", 3) == 0
               && s->ticket.len == 3 && memcmp(s->ticket.data, "T-1", 3) == 0
               && s->voter.len == 2 && memcmp(s->voter.data, "me", 2) == 0
               && s->idempotency_key.len == 3
               && memcmp(s->idempotency_key.data, "k-1", 3) == 0,
               "literal arguments survive the eviction of their document");

    test_resolve_ok(s, 0);
    cast_gql_finish(exec, &out);

    test_check(out.status == 200
               && out.body.len == sizeof("{\"data\":{\"mine\":{\"ok\":true,"
                                         "\"said\":\"ok \\\"voted\\\"\","
                                         "\"names\":[\"alice\",\"b\xc3\xa9\"]"
                                         "}}}") - 1
               && memcmp(out.body.data, "{\"data\":{\"mine\":{\"ok\":true,"
                         "\"said\":\"ok \\\"voted\\\"\",\"names\":"
                         "[\"alice\",\"b\xc3\xa9\"]}}}", out.body.len) == 0,
               "response keys survive the eviction: %.*s",
               (int) out.body.len, out.body.data);

    test_blocks_free(&mine);
}


/*
 * More than 256 distinct fragments are a valid document; the engine has
 * no limit of its own on them (the document limits bound them).
 */
static void
test_many_fragments(void)
{
    cast_gql_engine_t  *big;
    cast_gql_limits_t   lim;
    test_resp_t         r;
    char               *body, *d;
    int                 i;

    lim = test_limits();
    lim.max_query_len = 16384;
    lim.max_tokens = 4096;
    big = cast_gql_engine_create(&lim);
    body = malloc(65536);

    d = body + sprintf(body, "{\"query\":\"{ cas { ...t0 ...t1 } ");
    for (i = 0; i < 280; i++) {
        d += sprintf(d, "...q%d ", i);
    }
    d += sprintf(d, "} fragment t0 on TicketInfo { ticket } fragment t1 on "
                 "TicketInfo { ...t0 } ");
    for (i = 0; i < 280; i++) {
        d += sprintf(d, "fragment q%d on Query { __typename } ", i);
    }
    sprintf(d, "\"}");

    r = test_post(big, body);
    test_status(r, 200);
    test_body(r, "{\"data\":{\"cas\":{\"ticket\":\"T-abc\"},"
              "\"__typename\":\"Query\"}}");

    free(body);
    cast_gql_engine_destroy(big);
}


/* the host allocator fails after test_budget allocations */
static int  test_budget;

static void *
test_alloc_budget(void *ctx, size_t size)
{
    if (test_budget-- <= 0) {
        return NULL;
    }

    return test_alloc(ctx, size);
}


/*
 * An internal failure is never the client's: whichever allocation
 * fails, the answer is either the request's own or 500 with
 * INTERNAL_SERVER_ERROR.  The engine has no cache here, so parsing and
 * validation take their memory from the host too.
 */
static void
test_internal_errors(void)
{
    static const char    oom[] = "{\"errors\":[{\"message\":\"Internal "
        "server error.\",\"extensions\":{\"code\":"
        "\"INTERNAL_SERVER_ERROR\"}}]}";
    static const char   *bodies[] = {
        "{\"query\":\"" VOTE_DOC "\",\"variables\":{\"u\":[\"al\","
            "\"b\\u00e9\"],\"c\":[2,3],\"t\":\"T1\"}}",
        "{\"query\":\"{ a: cas { t: ticket } ...F } fragment F on Query "
            "{ query(username: \\\"x\\\") __type(name: \\\"Query\\\") "
            "{ name fields { name } } }\"}",
        "{\"query\":\"{ bad(x: 1) cas }\"}",
        "{\"query\":\"query($b: Int!) { __typename }\",\"variables\":"
            "{\"b\":\"no\"}}"
    };
    cast_gql_limits_t    lim;
    cast_gql_engine_t   *none;
    cast_gql_alloc_t     a;
    cast_gql_http_t      in;
    cast_gql_exec_t     *exec;
    cast_gql_response_t  out;
    test_block_t        *pool;
    test_resp_t          want;
    size_t               i, k;
    int                  n, rc, bad;

    lim = test_limits();
    lim.cache_entries = 0;
    none = cast_gql_engine_create(&lim);

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        want = test_post(none, bodies[i]);

        for (n = 0, bad = 0; n < 400 && !bad; n++) {
            pool = NULL;
            a.alloc = test_alloc_budget;
            a.ctx = &pool;
            test_budget = n;

            memset(&in, 0, sizeof(in));
            in.method = CAST_GQL_METHOD_POST;
            in.content_type = test_str("application/json");
            in.body = test_str(bodies[i]);

            rc = cast_gql_prepare(none, &in, &a, &exec);

            if (rc == CAST_GQL_RESOLVE) {
                for (k = 0; k < exec->nslots; k++) {
                    test_resolve_ok(&exec->slots[k], k);
                }
            }

            if (rc >= 0) {
                cast_gql_finish(exec, &out);
                bad = out.status == 500
                      ? out.body.len != sizeof(oom) - 1
                        || memcmp(out.body.data, oom, out.body.len) != 0
                      : out.status != want.status
                        || out.body.len != strlen(want.body)
                        || memcmp(out.body.data, want.body, out.body.len);
                test_check(!bad, "allocation %d failed: %d %.*s", n,
                           out.status, (int) out.body.len, out.body.data);
            }

            test_blocks_free(&pool);
        }
    }

    cast_gql_engine_destroy(none);
}


static void
test_list_limits(void)
{
    char         body[2048];
    char        *d;
    int          i;
    test_resp_t  r;

    d = body + sprintf(body, "{\"query\":\"%s\",\"variables\":{\"t\":\"T\","
                       "\"u\":[", "mutation($u:[String!]!,$t:String!)"
                       "{vote(usernames:$u,ticket:$t){votes}}");
    for (i = 0; i < 101; i++) {
        d += sprintf(d, "%s\"u%d\"", i ? "," : "", i);
    }
    sprintf(d, "]}}");

    r = test_post(eng, body);
    test_body_has(r, "Variable \\\"$u\\\" has a list of 101 elements, more "
                  "than the limit of 100 (max_list_len).");
    test_body_has(r, "BAD_USER_INPUT");

    d = body + sprintf(body, "{\"query\":\"mutation{vote(ticket:\\\"t\\\","
                       "usernames:[");
    for (i = 0; i < 101; i++) {
        d += sprintf(d, "%s\\\"u\\\"", i ? "," : "");
    }
    sprintf(d, "]){votes}}\"}");

    r = test_post(eng, body);
    test_body_has(r, "List has 101 elements, more than the limit of 100 "
                  "(max_list_len).");
}


/* top, totalVotes, subscriptions: only over a stream, one root field */
static void
test_live(void)
{
    test_resp_t       r;
    cast_gql_alloc_t  a;
    cast_gql_http_t   in;
    cast_gql_exec_t  *exec;
    cast_str_t        ev;
    int               rc;

    r = test_post(eng, "{\"query\":\"{ top { username votes __typename } "
                  "t2: top(limit: 2) { votes } totalVotes }\"}");
    test_check(r.rc == CAST_GQL_RESOLVE && r.nslots == 3
               && r.slots[0].kind == CAST_FIELD_TOP
               && r.slots[0].limit == 10 && r.slots[1].limit == 2
               && r.slots[2].kind == CAST_FIELD_TOTAL, "top slots");
    test_body(r, "{\"data\":{\"top\":[{\"username\":\"zed\",\"votes\":9,"
              "\"__typename\":\"Score\"},{\"username\":\"al\",\"votes\":5,"
              "\"__typename\":\"Score\"},{\"username\":\"bo\",\"votes\":5,"
              "\"__typename\":\"Score\"}],\"t2\":[{\"votes\":9},{\"votes\":5}],"
              "\"totalVotes\":42}}");

    r = test_post(eng, "{\"query\":\"{ top(limit: 0) { votes } }\"}");
    test_body(r, "{\"data\":{\"top\":[]}}");

    r = test_post(eng, "{\"query\":\"{ top(limit: null) { votes } }\"}");
    test_check(r.slots[0].limit == 10, "limit null is the default");

    r = test_post(eng, "{\"query\":\"subscription { totalVotes }\"}");
    test_status(r, 400);
    test_body_has(r, "Subscriptions are served over Server-Sent Events");

    r = test_request(eng, CAST_GQL_METHOD_POST, "application/json",
                     "text/event-stream", "{\"query\":\"{ totalVotes }\"}",
                     NULL, test_resolve_ok);
    test_status(r, 400);
    test_body_has(r, "Only subscription operations are served as "
                  "text/event-stream");

    r = test_request(eng, CAST_GQL_METHOD_GET, NULL, "text/event-stream",
                     NULL, "query=subscription%7Bvotes(usernames%3A%5B%22ab"
                     "%22%2C%22c%22%5D)%7Busername+votes%7D%7D",
                     test_resolve_ok);
    test_check(r.rc == CAST_GQL_RESOLVE && r.nslots == 1
               && r.slots[0].kind == CAST_FIELD_SCORES
               && r.slots[0].nusernames == 2, "votes subscription slot");
    test_body(r, "{\"data\":{\"votes\":[{\"username\":\"ab\",\"votes\":2},"
              "{\"username\":\"c\",\"votes\":1}]}}");

    r = test_request(eng, CAST_GQL_METHOD_POST, "application/json",
                     "text/event-stream", "{\"query\":\"subscription S { "
                     "totalVotes ticket { validUntil } }\"}", NULL,
                     test_resolve_ok);
    test_status(r, 400);
    test_body_has(r, "Subscription \\\"S\\\" must select only one top "
                  "level field.");

    r = test_request(eng, CAST_GQL_METHOD_POST, "application/json",
                     "text/event-stream", "{\"query\":\"subscription { "
                     "__typename }\"}", NULL, test_resolve_ok);
    test_status(r, 400);
    test_body_has(r, "must not select an introspection top level field");

    r = test_request(eng, CAST_GQL_METHOD_POST, "application/json",
                     "text/event-stream", "{\"query\":\"subscription { "
                     "nope }\"}", NULL, test_resolve_ok);
    test_status(r, 400);
    test_body_has(r, "Cannot query field \\\"nope\\\" on type "
                  "\\\"Subscription\\\".");

    /* a stream renders each event anew from its slots, in other memory */
    test_pool_free();
    a.alloc = test_alloc;
    a.ctx = NULL;
    memset(&in, 0, sizeof(in));
    in.method = CAST_GQL_METHOD_POST;
    in.content_type = test_str("application/json");
    in.accept = test_str("text/event-stream");
    in.body = test_str("{\"query\":\"subscription { t: ticket { "
                       "remainingUsage } }\"}");
    in.stream = 1;

    rc = cast_gql_prepare(eng, &in, &a, &exec);
    test_check(rc == CAST_GQL_RESOLVE && exec->op == CAST_GQL_OP_SUBSCRIPTION
               && exec->nslots == 1 && exec->slots[0].kind == CAST_FIELD_CAS,
               "ticket subscription");

    if (rc == CAST_GQL_RESOLVE) {
        test_resolve_ok(&exec->slots[0], 0);
        test_check(cast_gql_render(exec, &a, &ev) == 0 && ev.len == 35
                   && memcmp(ev.data, "{\"data\":{\"t\":{\"remainingUsage\""
                             ":7}}}", 35) == 0, "first event");

        exec->slots[0].remaining = 6;
        test_check(cast_gql_render(exec, &a, &ev) == 0
                   && memcmp(ev.data, "{\"data\":{\"t\":{\"remainingUsage\""
                             ":6}}}", 35) == 0, "next event");

        test_resolve_err(&exec->slots[0], 0);
        test_check(cast_gql_render(exec, &a, &ev) == 0
                   && strstr(ev.data, "\"UNAVAILABLE\"}}],\"data\":null}")
                      != NULL, "an error event");
    }
}


int
main(void)
{
    eng = test_engine();

    test_slots();
    test_collect();
    test_coercion();
    test_null_propagation();
    test_introspection();
    test_introspection_budget();
    test_introspection_budget_end();
    test_cache();
    test_plan_outlives_cache();
    test_many_fragments();
    test_internal_errors();
    test_list_limits();
    test_live();

    cast_gql_engine_destroy(eng);

    return test_gql_done("test_gql_exec");
}
