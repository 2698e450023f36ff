/*
 * The JSON reader and writer of the GraphQL engine: values, escapes,
 * UTF-8 checks, nesting bound and exact output.
 */

#include "test_gql.h"
#include "cast_json.h"


static cast_gql_alloc_t  alloc = { test_alloc, NULL };


/* the last member of that name */
static const cast_json_t *
test_member(const cast_json_t *obj, const char *key)
{
    const cast_json_t  *m, *found;

    found = NULL;

    for (m = obj->child; m != NULL; m = m->next) {
        if (m->key.len == strlen(key) && memcmp(m->key.data, key, m->key.len)
            == 0)
        {
            found = m;
        }
    }

    return found;
}


static void
test_read(const char *src, int ok)
{
    cast_arena_t   a;
    cast_json_t   *j;
    const char    *err;
    int            rc;

    cast_arena_init(&a, &alloc);
    rc = cast_json_parse(&a, src, strlen(src), &j, &err);
    test_check((rc == 0) == ok, "%s: %s", src, ok ? err : "accepted");
}


static void
test_reader(void)
{
    cast_arena_t        a;
    cast_json_t        *j;
    const cast_json_t  *m;
    const char         *err;
    static const char   src[] =
        " {\"s\":\"a\\\"\\u00e9\\ud83c\\udfc3\\n\",\"n\":-1.5e2,\"t\":true,"
        "\"f\":false,\"z\":null,\"l\":[1,[2],{}],\"S\":\"other\"} ";

    cast_arena_init(&a, &alloc);
    test_check(cast_json_parse(&a, src, sizeof(src) - 1, &j, &err) == 0
               && j->type == CAST_JSON_OBJECT && j->n == 7, "object");

    m = test_member(j, "S");
    test_check(m != NULL && cast_gql_streq(m->str, "other"),
               "keys are case-sensitive");
    m = j->child;
    test_check(m->str.len == 9
               && memcmp(m->str.data, "a\"\xc3\xa9\xf0\x9f\x8f\x83\n", 9) == 0,
               "escapes decoded");
    m = test_member(j, "n");
    test_check(m->type == CAST_JSON_NUMBER && cast_gql_streq(m->str, "-1.5e2"),
               "number text");
    m = test_member(j, "l");
    test_check(m->type == CAST_JSON_ARRAY && m->n == 3
               && m->child->next->type == CAST_JSON_ARRAY, "array");

    test_read("0", 1);
    test_read("\"\"", 1);
    test_read("[]", 1);
    test_read("", 0);
    test_read("01", 0);
    test_read("1.", 0);
    test_read("-", 0);
    test_read("+1", 0);
    test_read("[1,]", 0);
    test_read("{\"a\" 1}", 0);
    test_read("{\"a\":1,}", 0);
    test_read("{a:1}", 0);
    test_read("\"tab\there\"", 0);
    test_read("\"\\x\"", 0);
    test_read("\"\\ud800\"", 0);
    test_read("\"\\udc00\"", 0);
    test_read("\"\xc3\x28\"", 0);
    test_read("\"\xed\xa0\x80\"", 0);
    test_read("\"\xc0\xaf\"", 0);
    test_read("\"\xf4\x90\x80\x80\"", 0);
    test_read("tru", 0);
    test_read("null x", 0);
    test_read("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
              "[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
              "]]]]]]]", 0);
    test_pool_free();
}


/* no object may name a member twice, whichever way it is spelt */
static void
test_duplicates(void)
{
    cast_arena_t   a;
    cast_json_t   *j;
    const char    *err;
    char           big[4096], *w;
    const char    *d;
    int            i, k, rc;

    cast_arena_init(&a, &alloc);

    d = "{\"a\":1,\"b\":2,\"a\":3}";
    rc = cast_json_parse(&a, d, strlen(d), &j, &err);
    test_check(rc == CAST_JSON_DUPLICATE
               && strcmp(err, "duplicate key \"a\"") == 0, "top level: %s",
               rc ? err : "accepted");

    /* a NUL in the key: the message says it is cut there */
    d = "{\"a\\u0000b\":1,\"a\\u0000b\":2}";
    rc = cast_json_parse(&a, d, strlen(d), &j, &err);
    test_check(rc == CAST_JSON_DUPLICATE
               && strcmp(err, "duplicate key \"a...\"") == 0,
               "a key holding a NUL: %s", rc ? err : "accepted");

    d = "[{\"x\":{\"\\u0061\":1,\"a\":2}}]";
    rc = cast_json_parse(&a, d, strlen(d), &j, &err);
    test_check(rc == CAST_JSON_DUPLICATE
               && strcmp(err, "duplicate key \"a\"") == 0,
               "nested, one of them escaped: %s", rc ? err : "accepted");

    d = "{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}";
    rc = cast_json_parse(&a, d, strlen(d), &j, &err);
    test_check(rc == 0, "one name in different objects: %s",
               rc ? err : "accepted");

    /* objects of more than eight members are checked through a table */
    for (i = 0; i < 2; i++) {
        w = big + sprintf(big, "{\"v\":{\"k\":0");
        for (k = 1; k < 300; k++) {
            w += sprintf(w, ",\"k%d\":%d", k, k);
        }
        w += sprintf(w, "%s}}", i ? ",\"k17\":1" : "");
        rc = cast_json_parse(&a, big, (size_t) (w - big), &j, &err);
        test_check(i ? rc == CAST_JSON_DUPLICATE
                       && strcmp(err, "duplicate key \"k17\"") == 0
                     : rc == 0 && j->child->n == 300,
                   "300 members%s: %s", i ? " and a duplicate" : "",
                   rc ? err : "accepted");
    }

    w = big + sprintf(big, "{\"");
    memset(w, 'k', 100);
    w += 100;
    w += sprintf(w, "\":0,\"");
    memset(w, 'k', 100);
    w += 100;
    w += sprintf(w, "\":1}");
    rc = cast_json_parse(&a, big, (size_t) (w - big), &j, &err);
    test_check(rc == CAST_JSON_DUPLICATE && strlen(err) == 15 + 64 + 4
               && strcmp(err + 15 + 64, "...\"") == 0,
               "a long key is cut: %s", rc ? err : "accepted");

    test_pool_free();
}


static void
test_writer(void)
{
    cast_arena_t   a;
    cast_json_w_t  w;
    size_t         i;
    char           big[3000];

    cast_arena_init(&a, &alloc);
    cast_json_w_init(&w, &a, 4);
    cast_json_lit(&w, "[");
    cast_json_str(&w, "q\"b\\n\n\t\x01\x1f\xc3\xa9/", 12);
    cast_json_lit(&w, ",");
    cast_json_int(&w, INT64_MIN);
    cast_json_lit(&w, ",");
    cast_json_int(&w, 0);
    cast_json_lit(&w, ",");
    cast_json_int(&w, 2147483647);
    cast_json_lit(&w, "]");

    test_check(!w.nomem && w.len == strlen("[\"q\\\"b\\\\n\\n\\t\\u0001"
               "\\u001f\xc3\xa9/\",-9223372036854775808,0,2147483647]")
               && memcmp(w.buf, "[\"q\\\"b\\\\n\\n\\t\\u0001\\u001f\xc3\xa9/\","
                         "-9223372036854775808,0,2147483647]", w.len) == 0,
               "writer output %.*s", (int) w.len, w.buf);

    /* a number grows a buffer it does not fit in */
    cast_json_w_init(&w, &a, 1);
    cast_json_lit(&w, "[");
    cast_json_int(&w, INT64_MIN);
    cast_json_lit(&w, ",");
    cast_json_int(&w, INT64_MAX);
    cast_json_lit(&w, "]");
    test_check(!w.nomem && w.len == strlen("[-9223372036854775808,"
               "9223372036854775807]")
               && memcmp(w.buf, "[-9223372036854775808,9223372036854775807]",
                         w.len) == 0,
               "writer grows for a number: %.*s", (int) w.len, w.buf);

    for (i = 0; i < sizeof(big); i++) {
        big[i] = (char) ('a' + i % 26);
    }

    cast_json_w_init(&w, &a, 8);
    cast_json_str(&w, big, sizeof(big));
    test_check(w.len == sizeof(big) + 2 && w.buf[0] == '"'
               && w.buf[w.len - 1] == '"', "writer grows");
    test_pool_free();
}


/* what a message quotes: 64 bytes, cut between code points, before a NUL */
static void
test_excerpt(void)
{
    size_t       i;
    cast_str_t   s;
    char         q[CAST_JSON_EXCERPT + 1], v[80];
    const char  *r;

    static const struct {
        const char  *tail;      /* after 62 bytes of 'a' */
        size_t       len;
        const char  *want;      /* after the same 62 */
    } cases[] = {
        { "bc", 2, "bc" },                              /* 64: whole */
        { "bcd", 3, "bc..." },                          /* 65: cut */
        { "b\xc3\xa9", 3, "b..." },                    /* é over byte 64 */
        { "\xc3\xa9", 2, "\xc3\xa9" },                 /* é ends at 64 */
        { "\xe2\x82\xac", 3, "..." },                  /* € from byte 62 */
        { "b\xf0\x9f\x98\x80", 5, "b..." },            /* 4 bytes at 63 */
        { "bc\xf0\x9f\x98\x80", 6, "bc..." },
        { "b\0", 2, "b..." },                           /* NUL at 63 */
        { "bc\0", 3, "bc..." }                          /* NUL past 64 */
    };

    memset(v, 'a', 62);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(v + 62, cases[i].tail, cases[i].len);
        s.data = v;
        s.len = 62 + cases[i].len;
        memset(q, 0x5a, sizeof(q));
        r = cast_json_excerpt(q, s);
        test_check(r == q && strlen(q) == 62 + strlen(cases[i].want)
                   && memcmp(q, v, 62) == 0
                   && strcmp(q + 62, cases[i].want) == 0
                   && q[CAST_JSON_EXCERPT] == 0x5a,
                   "excerpt %zu: %s", i, q);
    }

    /* bytes 62-64 continuation bytes: cut before them all */
    memset(v + 62, 0x80, 3);
    s.data = v;
    s.len = 65;
    test_check(strlen(cast_json_excerpt(q, s)) == 64
               && memcmp(q, v, 61) == 0 && strcmp(q + 61, "...") == 0,
               "bad UTF-8: %s", q);

    s.data = "a\0b";
    s.len = 3;
    test_check(strcmp(cast_json_excerpt(q, s), "a...") == 0, "NUL: %s", q);
    s.len = 1;
    test_check(strcmp(cast_json_excerpt(q, s), "a") == 0, "one: %s", q);
    s.data = "\0";
    test_check(strcmp(cast_json_excerpt(q, s), "...") == 0, "NUL: %s", q);
    s.data = "";
    s.len = 0;
    test_check(strcmp(cast_json_excerpt(q, s), "") == 0, "empty: %s", q);
}


int
main(void)
{
    test_reader();
    test_duplicates();
    test_writer();
    test_excerpt();

    return test_gql_done("test_gql_json");
}
