/*
 * Validation (spec section 5) against the CAST schema: each rule with a
 * document it accepts and one it refuses, the message and its location.
 */

#include "test_gql.h"


static cast_gql_engine_t  *eng;


/* "a" 16, 63 and 64 times */
#define TEST_A16  "aaaaaaaaaaaaaaaa"
#define TEST_A63  TEST_A16 TEST_A16 TEST_A16 "aaaaaaaaaaaaaaa"
#define TEST_A64  TEST_A16 TEST_A16 TEST_A16 TEST_A16


static test_resp_t
test_doc(const char *query, const char *extra)
{
    char         body[4096];
    char        *d;
    const char  *s;

    d = body;
    d += sprintf(d, "{\"query\":\"");

    for (s = query; *s; s++) {
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

    sprintf(d, "\"%s}", extra ? extra : "");

    return test_post(eng, body);
}


/* the document is refused with this message at line:col */
static void
test_invalid(const char *query, const char *msg, int line, int col)
{
    char         want[1024];
    char        *d;
    const char  *s;
    test_resp_t  r;

    d = want;
    d += sprintf(d, "{\"message\":\"");

    for (s = msg; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *d++ = '\\';
        }
        *d++ = *s;
    }

    sprintf(d, "\",\"locations\":[{\"line\":%d,\"column\":%d}", line, col);

    r = test_doc(query, NULL);
    test_check(r.body != NULL && strstr(r.body, want) != NULL
               && strstr(r.body, "GRAPHQL_VALIDATION_FAILED") != NULL
               && strstr(r.body, "\"data\"") == NULL,
               "%s\n  want: %s\n  got:  %s", query, want, test_or(r.body));
}


/* the document is accepted and executes */
static void
test_valid(const char *query, const char *extra)
{
    test_resp_t  r;

    r = test_doc(query, extra);
    test_check(r.body != NULL && strncmp(r.body, "{\"data\":{", 9) == 0,
               "%s must be valid, got %s", query, test_or(r.body));
}


static void
test_fields(void)
{
    test_valid("{ cas { ticket validUntil remainingUsage } }", NULL);
    test_invalid("{ nope }", "Cannot query field \"nope\" on type \"Query\".",
                 1, 3);
    test_invalid("{ cas { vote } }",
                 "Cannot query field \"vote\" on type \"TicketInfo\".", 1, 9);
    test_invalid("mutation { cas { ticket } }",
                 "Cannot query field \"cas\" on type \"Mutation\".", 1, 12);
    test_invalid("{ cas }", "Field \"cas\" of type \"TicketInfo!\" must have "
                 "a selection of subfields. Did you mean \"cas { ... }\"?",
                 1, 3);
    test_invalid("{ query(username: \"a\") { x } }", "Field \"query\" must "
                 "not have a selection since type \"Int!\" has no "
                 "subfields.", 1, 3);
    test_invalid("{ cas { ticket { a } } }", "Field \"ticket\" must not have "
                 "a selection since type \"String!\" has no subfields.", 1, 9);
    test_valid("{ cas { __typename } __typename }", NULL);
    test_invalid("{ cas { __schema { queryType { name } } } }",
                 "Cannot query field \"__schema\" on type \"TicketInfo\".",
                 1, 9);
}


static void
test_arguments(void)
{
    test_invalid("{ query(user: \"a\") }", "Unknown argument \"user\" on "
                 "field \"Query.query\".", 1, 9);
    test_invalid("{ query }", "Field \"query\" argument \"username\" of type "
                 "\"String!\" is required, but it was not provided.", 1, 3);
    test_invalid("{ query(username: \"a\", username: \"b\") }",
                 "There can be only one argument named \"username\".", 1, 24);
    test_invalid("{ query(username: 1) }", "String cannot represent a non "
                 "string value: 1", 1, 19);
    test_invalid("{ query(username: null) }", "Expected value of type "
                 "\"String!\", found null.", 1, 19);
    test_invalid("{ query(username: [\"a\"]) }", "String cannot represent a "
                 "non string value: [\"a\"]", 1, 19);
    test_invalid("{ query(username: {a: 1}) }", "String cannot represent a "
                 "non string value: {a: 1}", 1, 19);
    test_invalid("{ query(username: RED) }", "String cannot represent a non "
                 "string value: RED", 1, 19);
    test_invalid("mutation { vote(usernames: [\"a\"], voteCount: [1.5], "
                 "ticket: \"t\") { success } }", "Int cannot represent "
                 "non-integer value: 1.5", 1, 47);
    test_invalid("mutation { vote(usernames: [\"a\"], voteCount: "
                 "[2147483648], ticket: \"t\") { success } }",
                 "Int cannot represent non 32-bit signed integer value: "
                 "2147483648", 1, 47);
    test_valid("mutation { vote(usernames: [\"a\"], voteCount: [2147483647, "
               "-2147483648], ticket: \"t\") { success } }", NULL);
    test_invalid("mutation { vote(usernames: [null], ticket: \"t\") "
                 "{ success } }", "Expected value of type \"String!\", "
                 "found null.", 1, 29);
    test_valid("mutation { vote(usernames: \"single\", ticket: \"t\", "
               "voteCount: 3, voterUsername: null) { votes } }", NULL);
    test_invalid("{ __type(name: true) { name } }", "String cannot represent "
                 "a non string value: true", 1, 16);

    /*
     * a string literal quoted as a variable's value is: never past a NUL
     * (%.*s stopped there, and "a\u0000b" read "a" as if whole), at most
     * 64 bytes, and "..." when cut
     */
    test_invalid("{ top(limit: \"a\\u0000b\") { username } }",
                 "Int cannot represent non-integer value: \"a...\"", 1, 14);
    test_invalid("{ top(limit: \"\\u0000\") { username } }",
                 "Int cannot represent non-integer value: \"...\"", 1, 14);
    test_invalid("{ top(limit: \"" TEST_A64 "\") { username } }",
                 "Int cannot represent non-integer value: \"" TEST_A64
                 "\"", 1, 14);
    test_invalid("{ top(limit: \"" TEST_A64 "b\") { username } }",
                 "Int cannot represent non-integer value: \"" TEST_A64
                 "...\"", 1, 14);
    test_invalid("{ top(limit: \"" TEST_A63 "\\u00e9\") { username } }",
                 "Int cannot represent non-integer value: \"" TEST_A63
                 "...\"", 1, 14);
}


static void
test_directives(void)
{
    test_valid("{ cas @skip(if: false) { ticket @include(if: true) } }",
               NULL);
    test_invalid("{ cas @nope { ticket } }", "Unknown directive \"@nope\".",
                 1, 7);
    test_invalid("query @skip(if: true) { __typename }", "Directive "
                 "\"@skip\" may not be used on QUERY.", 1, 7);
    test_invalid("{ __typename @deprecated }", "Directive \"@deprecated\" "
                 "may not be used on FIELD.", 1, 14);
    test_invalid("{ __typename @skip(if: true) @skip(if: false) }",
                 "The directive \"@skip\" can only be used once at this "
                 "location.", 1, 30);
    test_invalid("{ __typename @skip }", "Directive \"@skip\" argument "
                 "\"if\" of type \"Boolean!\" is required, but it was not "
                 "provided.", 1, 14);
    test_invalid("{ __typename @skip(if: true, unless: true) }", "Unknown "
                 "argument \"unless\" on directive \"@skip\".", 1, 30);
    test_invalid("{ __typename @include(if: \"yes\") }", "Boolean cannot "
                 "represent a non boolean value: \"yes\"", 1, 27);
}


static void
test_operations(void)
{
    test_valid("query A { __typename } query B { __typename }",
               ",\"operationName\":\"B\"");
    test_invalid("query A { __typename } query A { __typename }",
                 "There can be only one operation named \"A\".", 1, 24);
    test_invalid("{ __typename } query B { __typename }", "This anonymous "
                 "operation must be the only defined operation.", 1, 1);
    test_invalid("subscription { __typename }", "Anonymous Subscription "
                 "must not select an introspection top level field.", 1, 1);
    test_invalid("subscription S { totalVotes ...F } fragment F on "
                 "Subscription { top { votes } }", "Subscription \"S\" must "
                 "select only one top level field.", 1, 1);
    test_invalid("subscription { totalVotes @skip(if: true) }", "Anonymous "
                 "Subscription must not use `@skip` or `@include` "
                 "directives in the top level selection.", 1, 1);
    test_invalid("subscription S($s: Boolean!) { ... @include(if: $s) { "
                 "totalVotes } }", "Subscription \"S\" must not use "
                 "`@skip` or `@include` directives in the top level "
                 "selection.", 1, 1);
    test_invalid("subscription { ...F } fragment F on Subscription { "
                 "totalVotes @skip(if: false) }", "Anonymous Subscription "
                 "must not use `@skip` or `@include` directives in the top "
                 "level selection.", 1, 1);
}


static void
test_fragments(void)
{
    test_valid("{ cas { ...T } } fragment T on TicketInfo { ticket }", NULL);
    test_invalid("{ cas { ...T } }", "Unknown fragment \"T\".", 1, 9);
    test_invalid("{ __typename } fragment T on TicketInfo { ticket }",
                 "Fragment \"T\" is never used.", 1, 16);
    test_invalid("{ cas { ...T } } fragment T on TicketInfo { ticket } "
                 "fragment T on TicketInfo { ticket }",
                 "There can be only one fragment named \"T\".", 1, 54);
    test_invalid("{ ...T } fragment T on Nope { a }", "Unknown type "
                 "\"Nope\".", 1, 24);
    test_invalid("{ ...T } fragment T on Int { a }", "Fragment \"T\" cannot "
                 "condition on non composite type \"Int\".", 1, 24);
    test_invalid("{ ... on String { a } }", "Fragment cannot condition on "
                 "non composite type \"String\".", 1, 3);
    test_invalid("{ ...T } fragment T on TicketInfo { ticket }",
                 "Fragment \"T\" cannot be spread here as objects of type "
                 "\"Query\" can never be of type \"TicketInfo\".", 1, 3);
    test_invalid("{ cas { ... on Query { __typename } } }", "Fragment cannot "
                 "be spread here as objects of type \"TicketInfo\" can never "
                 "be of type \"Query\".", 1, 9);
    test_invalid("{ ...A } fragment A on Query { ...A }", "Cannot spread "
                 "fragment \"A\" within itself.", 1, 32);
    test_invalid("{ ...A } fragment A on Query { ...B }\n"
                 "fragment B on Query { ...A }", "Cannot spread fragment "
                 "\"A\" within itself via \"B\".", 2, 23);
}


static void
test_variables(void)
{
    test_valid("query ($u: String!) { query(username: $u) }",
               ",\"variables\":{\"u\":\"x\"}");
    test_invalid("query ($u: String!, $u: String!) { query(username: $u) }",
                 "There can be only one variable named \"$u\".", 1, 21);
    test_invalid("query ($u: Nope) { __typename }", "Unknown type \"Nope\".",
                 1, 12);
    test_invalid("query ($u: TicketInfo) { __typename }", "Variable \"$u\" "
                 "cannot be non-input type \"TicketInfo\".", 1, 8);
    test_invalid("query Q { query(username: $u) }", "Variable \"$u\" is not "
                 "defined by operation \"Q\".", 1, 27);
    test_invalid("{ ...F } fragment F on Query { query(username: $u) }",
                 "Variable \"$u\" is not defined.", 1, 48);
    test_invalid("query Q($u: String) { __typename }", "Variable \"$u\" is "
                 "never used in operation \"Q\".", 1, 9);
    test_invalid("query ($u: String) { query(username: $u) }", "Variable "
                 "\"$u\" of type \"String\" used in position expecting type "
                 "\"String!\".", 1, 38);
    test_valid("query ($u: String = \"d\") { query(username: $u) }", NULL);
    test_invalid("query ($u: Int!) { query(username: $u) }", "Variable "
                 "\"$u\" of type \"Int!\" used in position expecting type "
                 "\"String!\".", 1, 36);
    test_invalid("mutation ($u: [String]!) { vote(usernames: $u, "
                 "ticket: \"t\") { success } }", "Variable \"$u\" of type "
                 "\"[String]!\" used in position expecting type "
                 "\"[String!]!\".", 1, 44);
    test_invalid("mutation ($u: String!) { vote(usernames: $u, ticket: "
                 "\"t\") { success } }", "Variable \"$u\" of type "
                 "\"String!\" used in position expecting type "
                 "\"[String!]!\".", 1, 42);
    test_valid("mutation ($u: String!) { vote(usernames: [$u, \"b\"], ticket: "
               "$u) { success } }", ",\"variables\":{\"u\":\"x\"}");
    test_invalid("mutation ($u: String) { vote(usernames: [$u], ticket: "
                 "\"t\") { success } }", "Variable \"$u\" of type \"String\" "
                 "used in position expecting type \"String!\".", 1, 42);
    test_invalid("query ($s: Boolean) { __typename @skip(if: $s) }",
                 "Variable \"$s\" of type \"Boolean\" used in position "
                 "expecting type \"Boolean!\".", 1, 44);
    test_invalid("query ($u: String! = null) { query(username: $u) }",
                 "Expected value of type \"String!\", found null.", 1, 22);
    test_invalid("query ($u: Int = \"x\") { __typename }", "Int cannot "
                 "represent non-integer value: \"x\"", 1, 18);
}


static void
test_merging(void)
{
    test_valid("{ a: cas { ticket } a: cas { remainingUsage } }", NULL);
    test_valid("{ query(username: \"a\") query(username: \"a\") }", NULL);
    test_invalid("{ a: query(username: \"a\") a: cas { ticket } }", "Fields "
                 "\"a\" conflict because \"query\" and \"cas\" are different "
                 "fields. Use different aliases on the fields to fetch both "
                 "if this was intentional.", 1, 3);
    test_invalid("{ query(username: \"a\") query(username: \"b\") }",
                 "Fields \"query\" conflict because they have differing "
                 "arguments. Use different aliases on the fields to fetch "
                 "both if this was intentional.", 1, 3);
    test_invalid("{ cas { t: ticket } ...F } fragment F on Query "
                 "{ cas { t: validUntil } }", "Fields \"t\" conflict because "
                 "\"ticket\" and \"validUntil\" are different fields. Use "
                 "different aliases on the fields to fetch both if this was "
                 "intentional.", 1, 9);
    test_invalid("query ($a: String!, $b: String!) { query(username: $a) "
                 "query(username: $b) }", "Fields \"query\" conflict because "
                 "they have differing arguments. Use different aliases on "
                 "the fields to fetch both if this was intentional.", 1, 36);
}


static void
test_limits_refused(void)
{
    cast_gql_engine_t  *saved;
    cast_gql_limits_t   lim;
    char               *body, *d;
    int                 i;

    test_invalid("{ a: __typename b: __typename c: __typename d: __typename "
                 "e: __typename f: __typename g: __typename h: __typename "
                 "i: __typename j: __typename k: __typename l: __typename "
                 "m: __typename n: __typename o: __typename p: __typename "
                 "q: __typename r: __typename s: __typename t: __typename "
                 "u: __typename v: __typename w: __typename x: __typename "
                 "y: __typename z: __typename aa: __typename ab: __typename "
                 "ac: __typename ad: __typename ae: __typename }",
                 "Document uses 31 aliases, more than the limit of 30 "
                 "(max_aliases).", 1, 1);
    test_invalid("{ __schema { types { fields { type { ofType { ofType { "
                 "ofType { ofType { ofType { ofType { ofType { ofType { "
                 "ofType { ofType { ofType { ofType { name } } } } } } } } "
                 "} } } } } } } } }", "Selection depth 17 exceeds the limit "
                 "of 16 (max_depth).", 1, 1);
    test_invalid("{ ...A } fragment A on Query { ...B ...B ...B ...B ...B }\n"
                 "fragment B on Query { ...C ...C ...C ...C ...C }\n"
                 "fragment C on Query { ...D ...D ...D ...D ...D }\n"
                 "fragment D on Query { a: __typename b: __typename "
                 "c: __typename d: __typename e: __typename f: __typename "
                 "g: __typename h: __typename i: __typename j: __typename "
                 "k: __typename l: __typename m: __typename n: __typename "
                 "o: __typename p: __typename q: __typename }",
                 "Document selects 2125 fields, more than the limit of 2000 "
                 "(max_fields).", 1, 1);

    body = malloc(8192);
    d = body;
    for (i = 0; i < 30; i++) {
        d += sprintf(d, "mutation m%d($a: String!) { ...F }\n", i);
    }
    d += sprintf(d, "fragment F on Mutation { vote(ticket: \"t\", "
                 "usernames: [");
    for (i = 0; i < 100; i++) {
        d += sprintf(d, "$a ");
    }
    sprintf(d, "]) { votes } }");
    test_invalid(body, "Document uses variables 3000 times with its "
                 "fragments expanded, more than the limit of 2000 "
                 "(max_tokens).", 1, 1);
    free(body);

    saved = eng;
    lim = test_limits();
    lim.introspection = 0;
    eng = cast_gql_engine_create(&lim);
    test_invalid("{ __schema { queryType { name } } }", "Introspection is "
                 "disabled on this server (introspection limit): "
                 "\"__schema\" is not allowed.", 1, 3);
    test_invalid("{ t: __type(name: \"Query\") { name } }", "Introspection "
                 "is disabled on this server (introspection limit): "
                 "\"__type\" is not allowed.", 1, 3);
    test_valid("{ __typename cas { __typename } }", NULL);
    cast_gql_engine_destroy(eng);
    eng = saved;
}


static size_t
test_count(const char *s, const char *part)
{
    size_t  n;

    for (n = 0; s != NULL && (s = strstr(s, part)) != NULL; s++) {
        n++;
    }

    return n;
}


/*
 * Errors are bounded: 100 validation errors then one that says so, as
 * graphql-js; 50 variable errors likewise; messages of at most 512
 * bytes.  The issue's body: a 12,000-byte comment line, then 1,900
 * unknown fields on one line, with the nginx defaults.
 */
static void
test_error_limits(void)
{
    cast_gql_engine_t  *big;
    cast_gql_limits_t   lim;
    test_resp_t         r;
    char               *body, *d;
    int                 i;

    lim = test_limits();
    lim.max_query_len = 16384;
    lim.max_tokens = 4096;
    lim.max_aliases = 64;
    big = cast_gql_engine_create(&lim);

    body = malloc(65536);
    d = body + sprintf(body, "{\"query\":\"#");
    memset(d, 'c', 12000);
    d += 12000;
    d += sprintf(d, "\\n{ ");
    for (i = 0; i < 1900; i++) {
        d += sprintf(d, "x ");
    }
    sprintf(d, "}\"}");

    r = test_post(big, body);
    test_status(r, 200);
    test_check(test_count(r.body, "\"message\":") == 101
               && test_count(r.body, "Cannot query field \\\"x\\\" on "
                             "type \\\"Query\\\".") == 100,
               "100 validation errors and the last one, got %zu bytes",
               r.body ? strlen(r.body) : 0);
    test_body_has(r, "{\"errors\":[{\"message\":\"Cannot query field "
                  "\\\"x\\\" on type \\\"Query\\\".\",\"locations\":"
                  "[{\"line\":2,\"column\":3}],\"extensions\":{\"code\":"
                  "\"GRAPHQL_VALIDATION_FAILED\"}},{\"message\":\"Cannot "
                  "query field \\\"x\\\" on type \\\"Query\\\".\","
                  "\"locations\":[{\"line\":2,\"column\":5}]");
    test_body_has(r, "\"locations\":[{\"line\":2,\"column\":201}],"
                  "\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}},"
                  "{\"message\":\"Too many validation errors, error limit "
                  "reached. Validation aborted.\",\"extensions\":{\"code\":"
                  "\"GRAPHQL_VALIDATION_FAILED\"}}]}");

    /* the same from the cache */
    r = test_post(big, body);
    test_check(test_count(r.body, "\"message\":") == 101
               && cast_gql_cache_hits(big) == 1, "cached errors");

    d = body + sprintf(body, "{\"query\":\"query(");
    for (i = 0; i < 60; i++) {
        d += sprintf(d, "$v%d: Int ", i);
    }
    d += sprintf(d, ") { __typename ");
    for (i = 0; i < 60; i++) {
        d += sprintf(d, "@skip(if: false) ");
    }
    d += sprintf(d, "}\"}");
    r = test_post(big, body);
    test_check(test_count(r.body, "can only be used once") == 59
               && test_count(r.body, "is never used") == 41
               && test_count(r.body, "\"message\":") == 101,
               "100 errors of two rules and the last one");

    d = body + sprintf(body, "{\"query\":\"query(");
    for (i = 0; i < 60; i++) {
        d += sprintf(d, "$v%d: Boolean! ", i);
    }
    d += sprintf(d, ") { __typename ");
    for (i = 0; i < 60; i++) {
        d += sprintf(d, "a%d: __typename @skip(if: $v%d) ", i, i);
    }
    d += sprintf(d, "}\",\"variables\":{");
    for (i = 0; i < 60; i++) {
        d += sprintf(d, "%s\"v%d\": \"no\"", i ? "," : "", i);
    }
    sprintf(d, "}}");
    r = test_post(big, body);
    test_check(test_count(r.body, "\"message\":") == 51
               && test_count(r.body, "Boolean cannot represent") == 50,
               "50 variable errors and the last one");
    test_body_has(r, "{\"message\":\"Too many errors processing "
                  "variables, error limit reached. Execution aborted.\","
                  "\"extensions\":{\"code\":\"BAD_USER_INPUT\"}}]}");

    d = body + sprintf(body, "{\"query\":\"{ ");
    memset(d, 'n', 1000);
    d += 1000;
    sprintf(d, " }\"}");
    r = test_post(big, body);
    d = body + sprintf(body, "{\"errors\":[{\"message\":\"Cannot query "
                       "field \\\"");
    memset(d, 'n', 509 - 20);
    d += 509 - 20;
    sprintf(d, "...\",\"locations\":[{\"line\":1,\"column\":3}],"
            "\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}}]}");
    test_body(r, body);

    free(body);
    cast_gql_engine_destroy(big);
}


/* lines end at LF, CRLF or CR; columns count code points */
static void
test_locations(void)
{
    test_resp_t  r;

    r = test_post(eng, "{\"query\":\"\\r\\n\\r{ query(username: "
                  "\\\"\u00e9\u00e9\\\") x\\r\\r\\n\\n y }\"}");
    test_body(r, "{\"errors\":[{\"message\":\"Cannot query field "
              "\\\"x\\\" on type \\\"Query\\\".\",\"locations\":"
              "[{\"line\":3,\"column\":25}],\"extensions\":{\"code\":"
              "\"GRAPHQL_VALIDATION_FAILED\"}},{\"message\":\"Cannot query "
              "field \\\"y\\\" on type \\\"Query\\\".\",\"locations\":"
              "[{\"line\":6,\"column\":2}],\"extensions\":{\"code\":"
              "\"GRAPHQL_VALIDATION_FAILED\"}}]}");
}


int
main(void)
{
    eng = test_engine();

    test_fields();
    test_arguments();
    test_directives();
    test_operations();
    test_fragments();
    test_variables();
    test_merging();
    test_limits_refused();
    test_error_limits();
    test_locations();

    cast_gql_engine_destroy(eng);

    return test_gql_done("test_gql_validate");
}
