/*
 * GraphQL lexer and parser (spec section 2): tokens, strings, block
 * strings, escapes, ignored tokens, every definition and literal kind,
 * and syntax errors with their line and column.
 */

#include "test_gql.h"
#include "cast_gql.h"


static cast_gql_engine_t  *eng;


static void
test_tokens(void)
{
    static const char  src[] =
        "\xef\xbb\xbf{ a , # comment\n b(x: -12.5e3) ... on @ $ & | = ! [ ] }";
    static const cast_tok_e  want[] = {
        CAST_TOK_LBRACE, CAST_TOK_NAME, CAST_TOK_NAME, CAST_TOK_LPAREN,
        CAST_TOK_NAME, CAST_TOK_COLON, CAST_TOK_FLOAT, CAST_TOK_RPAREN,
        CAST_TOK_SPREAD, CAST_TOK_NAME, CAST_TOK_AT, CAST_TOK_DOLLAR,
        CAST_TOK_AMP, CAST_TOK_PIPE, CAST_TOK_EQUALS, CAST_TOK_BANG,
        CAST_TOK_LBRACKET, CAST_TOK_RBRACKET, CAST_TOK_RBRACE, CAST_TOK_EOF
    };
    cast_gql_lexer_t   lx;
    size_t             i;
    cast_tok_e         k;

    cast_gql_lex_init(&lx, src, sizeof(src) - 1, 100);

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        k = cast_gql_lex_next(&lx);
        test_check(k == want[i], "token %zu: %d, want %d", i, k, want[i]);
    }

    cast_gql_lex_init(&lx, "0 -0 12 1.5 2e10", 16, 100);
    test_check(cast_gql_lex_next(&lx) == CAST_TOK_INT, "0 is Int");
    test_check(cast_gql_lex_next(&lx) == CAST_TOK_INT, "-0 is Int");
    test_check(cast_gql_lex_next(&lx) == CAST_TOK_INT, "12 is Int");
    test_check(cast_gql_lex_next(&lx) == CAST_TOK_FLOAT, "1.5 is Float");
    test_check(cast_gql_lex_next(&lx) == CAST_TOK_FLOAT, "2e10 is Float");

    cast_gql_lex_init(&lx, "a b c", 5, 2);
    cast_gql_lex_next(&lx);
    cast_gql_lex_next(&lx);
    test_check(cast_gql_lex_next(&lx) == CAST_TOK_ERROR, "token limit");
}


static void
test_string(const char *src, const char *want)
{
    cast_gql_lexer_t   lx;
    cast_gql_alloc_t   a;
    cast_arena_t       arena;
    cast_str_t         v;
    cast_tok_e         k;

    a.alloc = test_alloc;
    a.ctx = NULL;
    cast_arena_init(&arena, &a);
    cast_gql_lex_init(&lx, src, strlen(src), 100);

    k = cast_gql_lex_next(&lx);

    if (want == NULL) {
        test_check(k == CAST_TOK_ERROR, "%s must not lex", src);
        test_pool_free();
        return;
    }

    test_check((k == CAST_TOK_STRING || k == CAST_TOK_BLOCK_STRING)
               && cast_gql_string_value(&lx, &arena, &v) == 0
               && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0,
               "string %s: got [%.*s] want [%s]", src,
               (int) (k == CAST_TOK_ERROR ? 0 : v.len), v.data, want);
    test_pool_free();
}


static void
test_strings(void)
{
    test_string("\"plain\"", "plain");
    test_string("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "a\"b\\c/d\b\f\n\r\t");
    test_string("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac");
    test_string("\"\\uD83C\\uDFC3\"", "\xf0\x9f\x8f\x83");
    test_string("\"\\u{1F3CA}\"", "\xf0\x9f\x8f\x8a");
    test_string("\"Run\xf0\x9f\x8f\x83\"", "Run\xf0\x9f\x8f\x83");
    test_string("\"\\uD83C\"", NULL);
    test_string("\"\\uDFC3\"", NULL);
    test_string("\"\\x\"", NULL);
    test_string("\"open", NULL);
    test_string("\"line\nbreak\"", NULL);
    test_string("\"ctl\x01\"", NULL);
    test_string("\"\"\"\n    hello\n      world\n    \"\"\"", "hello\n  world");
    test_string("\"\"\"  first\n  second\n\n\"\"\"", "  first\nsecond");
    test_string("\"\"\"a \\\"\"\" b\"\"\"", "a \"\"\" b");
    test_string("\"\"\"no \\n escape\"\"\"", "no \\n escape");
    test_string("\"\"\"\r\n  x\r\n  y\r\n\"\"\"", "x\ny");
    test_string("\"\"\"open", NULL);
}


/* a request's full response body for one query */
static void
test_query(const char *query, const char *want)
{
    char         body[2048];
    char        *d;
    const char  *s;
    test_resp_t  r;

    d = body;
    d += sprintf(d, "{\"query\":\"");

    for (s = query; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *d++ = '\\';
            *d++ = *s;
        } else if (*s == '\n') {
            *d++ = '\\';
            *d++ = 'n';
        } else {
            *d++ = *s;
        }
    }

    sprintf(d, "\"}");

    r = test_post(eng, body);
    test_body(r, want);
}


#define PARSE_ERR(msg, line, col)                                            \
    "{\"errors\":[{\"message\":\"Syntax Error: " msg "\",\"locations\":"     \
    "[{\"line\":" #line ",\"column\":" #col "}],\"extensions\":{\"code\":"   \
    "\"GRAPHQL_PARSE_FAILED\"}}]}"


static void
test_syntax_errors(void)
{
    test_query("{", PARSE_ERR("Expected Name, found <EOF>.", 1, 2));
    test_query("", PARSE_ERR("Expected Name, found <EOF>.", 1, 1));
    test_query("{ a }}", PARSE_ERR("Unexpected \\\"}\\\".", 1, 6));
    test_query("query {\n  cas {\n    ticket(\n  }\n}",
               PARSE_ERR("Expected Name, found \\\"}\\\".", 4, 3));
    test_query("{ query(username: \"x) }",
               PARSE_ERR("Unterminated string.", 1, 24));
    test_query("{ query(username: 012) }",
               PARSE_ERR("Invalid number, unexpected digit after 0.", 1, 20));
    test_query("{ query(username: 1.) }",
               PARSE_ERR("Invalid number, expected digit after \\\".\\\".",
                         1, 21));
    test_query("{ query(username: 12abc) }",
               PARSE_ERR("Invalid number, unexpected character after "
                         "number.", 1, 21));
    test_query("{ a ? }", PARSE_ERR("Unexpected character.", 1, 5));
    test_query("{ a .. }", PARSE_ERR("Unexpected character: \\\".\\\".", 1, 5));
    test_query("fragment on on Query { a }",
               PARSE_ERR("Unexpected Name \\\"on\\\".", 1, 10));
    test_query("fragment F Query { a }",
               PARSE_ERR("Expected \\\"on\\\", found Name \\\"Query\\\".",
                         1, 12));
    test_query("type Query { a: Int }",
               PARSE_ERR("Unexpected Name \\\"type\\\".", 1, 1));
    test_query("query ($a: Int = $b) { __typename }",
               PARSE_ERR("Unexpected \\\"$\\\".", 1, 18));
    test_query("{ a(x: ) }", PARSE_ERR("Unexpected \\\")\\\".", 1, 8));
    test_query("{ }", PARSE_ERR("Expected Name, found \\\"}\\\".", 1, 3));
    test_query("\xc3\xa9{ a }", PARSE_ERR("Unexpected character.", 1, 1));
    test_query("# only a comment\n",
               PARSE_ERR("Expected Name, found <EOF>.", 2, 1));
    test_query("{ a(\n\n    x: \"\xc3\xa9\xc3\xa9\" y: ]) }",
               PARSE_ERR("Unexpected \\\"]\\\".", 3, 16));
}


static void
test_nesting_limit(void)
{
    char         q[600];
    char         body[700];
    size_t       i;
    test_resp_t  r;

    for (i = 0; i < 200; i++) {
        q[i] = '[';
    }
    q[i] = '\0';

    snprintf(body, sizeof(body), "{\"query\":\"{ query(username: %s) }\"}",
             q);
    r = test_post(eng, body);
    test_body_has(r, "Document nested deeper than 64 levels.");

    for (i = 0; i < 100; i++) {
        memcpy(q + i * 4, "{a{a", 4);
    }
    q[400] = '\0';
    snprintf(body, sizeof(body), "{\"query\":\"%s\"}", q);
    r = test_post(eng, body);
    test_body_has(r, "Document nested deeper than 64 levels.");
}


/* documents that parse (and validate): every construct at least once */
static void
test_parse_ok(void)
{
    test_query("{ __typename }", "{\"data\":{\"__typename\":\"Query\"}}");
    test_query("query { __typename }",
               "{\"data\":{\"__typename\":\"Query\"}}");
    test_query("query Q { t: __typename, }",
               "{\"data\":{\"t\":\"Query\"}}");
    test_query("query Q($u: String! = \"b\\u00e9\" @skip(if: true)) "
               "{ n: query(username: $u) }",
               "{\"errors\":[{\"message\":\"Directive \\\"@skip\\\" may not "
               "be used on VARIABLE_DEFINITION.\",\"locations\":[{\"line\":1,"
               "\"column\":33}],\"extensions\":{\"code\":"
               "\"GRAPHQL_VALIDATION_FAILED\"}}]}");
    test_query("query Q($u: String! = \"\"\"blocks\"\"\") "
               "{ n: query(username: $u) }",
               "{\"data\":{\"n\":6}}");
    test_query("{ ...F } fragment F on Query { __typename }",
               "{\"data\":{\"__typename\":\"Query\"}}");
    test_query("{ ... on Query { a: __typename } ... @include(if: true) "
               "{ b: __typename } }",
               "{\"data\":{\"a\":\"Query\",\"b\":\"Query\"}}");
    test_query("mutation M { __typename }",
               "{\"data\":{\"__typename\":\"Mutation\"}}");
}


int
main(void)
{
    eng = test_engine();

    test_tokens();
    test_strings();
    test_syntax_errors();
    test_nesting_limit();
    test_parse_ok();

    cast_gql_engine_destroy(eng);

    return test_gql_done("test_gql_parse");
}
