/*
 * The outbox event codec: valid events decode to the expected fields and
 * survive an encode/decode round trip; each kind of invalid event is
 * refused with the expected reason.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cast_event.h"


typedef struct {
    const char  *json;
    const char  *reason;        /* a substring of the expected reason */
} bad_case_t;


#define GOOD  "{\"v\":1,\"id\":\"1234567-17\",\"ts\":1764096000123,"       \
              "\"ticket\":1234567,\"voter\":\"dave\",\"votes\":"           \
              "[{\"u\":\"alice\",\"n\":1,\"c\":5,\"ver\":3},"              \
              "{\"u\":\"bob\",\"n\":2,\"c\":2,\"ver\":1}]}"

#define HEAD  "{\"v\":1,\"id\":\"9-1\",\"ts\":1,\"ticket\":9,\"voter\":null,"
#define VOTE  "{\"u\":\"a\",\"n\":1,\"c\":1,\"ver\":1}"


static const bad_case_t  bad_cases[] = {
    { "", "not valid JSON" },
    { "{", "not valid JSON" },
    { "nonsense", "not valid JSON" },
    { "[1,2]", "not a JSON object" },
    { "\"str\"", "not a JSON object" },
    { "null", "not a JSON object" },
    { HEAD "\"votes\":[" VOTE "]} x", "trailing data" },
    { "{\"id\":\"9-1\"}", "missing field \"v\"" },
    { "{\"v\":\"1\"}", "\"v\" is not a number" },
    { "{\"v\":2,\"id\":\"9-1\"}", "unsupported event version 2" },
    { "{\"v\":0}", "unsupported event version 0" },
    { "{\"v\":1.5}", "\"v\" is not an integer" },
    { "{\"v\":1,\"id\":\"9-1\",\"ticket\":9,\"voter\":null,\"votes\":["
      VOTE "]}", "missing field \"ts\"" },
    { "{\"v\":1,\"ts\":-5,\"ticket\":9}", "\"ts\" is below 0" },
    { "{\"v\":1,\"ts\":1e300,\"ticket\":9}", "\"ts\" is not an integer" },
    { "{\"v\":1,\"ts\":1,\"ticket\":true}", "\"ticket\" is not a number" },
    { "{\"v\":1,\"ts\":1,\"ticket\":0}", "\"ticket\" is below 1" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9}", "missing field \"id\"" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":9}", "\"id\" is not a string" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":\"9\"}", "<seq>-<use>" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":\"9-\"}", "<seq>-<use>" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":\"-1\"}", "<seq>-<use>" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":\"9-1x\"}", "<seq>-<use>" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":\"9-0\"}", "<seq>-<use>" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":\"9x-1\"}", "<seq>-<use>" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,\"id\":\"8-1\"}",
      "does not match the ticket" },
    { "{\"v\":1,\"ts\":1,\"ticket\":9,"
      "\"id\":\"9-11111111111111111111111111111111111111111111111\"}",
      "\"id\" is too long" },
    { "{\"v\":1,\"id\":\"9-1\",\"ts\":1,\"ticket\":9,\"votes\":[" VOTE "]}",
      "missing field \"voter\"" },
    { "{\"v\":1,\"id\":\"9-1\",\"ts\":1,\"ticket\":9,\"voter\":5,"
      "\"votes\":[" VOTE "]}", "\"voter\" is not a string" },
    { "{\"v\":1,\"id\":\"9-1\",\"ts\":1,\"ticket\":9,\"voter\":\"\","
      "\"votes\":[" VOTE "]}", "\"voter\" is empty" },
    { HEAD "\"x\":1}", "missing field \"votes\"" },
    { HEAD "\"votes\":{}}", "\"votes\" is not an array" },
    { HEAD "\"votes\":[]}", "\"votes\" is empty" },
    { HEAD "\"votes\":[1]}", "votes[0] is not an object" },
    { HEAD "\"votes\":[{\"n\":1,\"c\":1,\"ver\":1}]}", "votes[0].u is not" },
    { HEAD "\"votes\":[{\"u\":7,\"n\":1,\"c\":1,\"ver\":1}]}",
      "votes[0].u is not a string" },
    { HEAD "\"votes\":[{\"u\":\"\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "votes[0].u is empty" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"c\":1,\"ver\":1}]}",
      "missing field \"n\"" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":0,\"c\":1,\"ver\":1}]}",
      "\"n\" is below 1" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":-3,\"c\":1,\"ver\":1}]}",
      "\"n\" is below 1" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":1,\"c\":-1,\"ver\":1}]}",
      "\"c\" is below 1" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":1,\"c\":1,\"ver\":0}]}",
      "\"ver\" is below 1" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":1,\"c\":1,\"ver\":\"2\"}]}",
      "\"ver\" is not a number" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":1,\"c\":1,\"ver\":2.5}]}",
      "\"ver\" is not an integer" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":1,\"c\":1e17,\"ver\":2}]}",
      "\"c\" is not an integer" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"n\":3,\"c\":2,\"ver\":2}]}",
      "total below votes added" },
    { HEAD "\"votes\":[" VOTE "," VOTE "]}", "votes[1]: duplicate" },
    { HEAD "\"votes\":[{\"u\":\"\xc3\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "not valid UTF-8" },
    { HEAD "\"votes\":[{\"u\":\"\xc0\xaf\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "not valid UTF-8" },
    { HEAD "\"votes\":[{\"u\":\"\xed\xa0\x80\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "not valid UTF-8" },
    { HEAD "\"votes\":[{\"u\":\"\xff\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "not valid UTF-8" },
    { HEAD "\"votes\":[{\"u\":\"a\\u0000b\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "\\u0000" },

    /* control characters: raw ones are not JSON, escaped ones no name */
    { HEAD "\"votes\":[{\"u\":\"a\x01" "b\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "raw control character 0x01" },
    { HEAD "\"votes\":[{\"u\":\"a\tb\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "raw control character 0x09" },
    { HEAD "\"votes\":[{\"u\":\"a\\\x1f\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "raw control character 0x1f" },
    { "{\"v\":1,\"id\":\"9-1\",\"ts\":1,\"ticket\":9,\"voter\":\"d\x7f\","
      "\"votes\":[" VOTE "]}", "\"voter\" is not valid UTF-8 without control" },
    { HEAD "\"votes\":[{\"u\":\"a\\u0001\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "without control characters" },
    { HEAD "\"votes\":[{\"u\":\"a\xc2\x85\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "without control characters" },

    /* duplicate keys, wherever they are and however they are written */
    { HEAD "\"v\":1,\"votes\":[" VOTE "]}", "duplicate key \"v\"" },
    { HEAD "\"\\u0076\":1,\"votes\":[" VOTE "]}", "duplicate key \"v\"" },
    { HEAD "\"votes\":[{\"u\":\"a\",\"u\":\"b\",\"n\":1,\"c\":1,\"ver\":1}]}",
      "duplicate key \"u\"" },
    { HEAD "\"x\":[{\"k\":1,\"k\":2}],\"votes\":[" VOTE "]}",
      "duplicate key \"k\"" },
};


/* raw bytes strlen() would stop at: a NUL inside a name */

static void
test_nul(void)
{
    char          reason[CAST_EVENT_REASON_MAX];
    cast_event_t  ev;

    static const char  js[] =
        HEAD "\"votes\":[{\"u\":\"alice\0evil\",\"n\":1,\"c\":1,\"ver\":1}]}";

    if (cast_event_decode(js, sizeof(js) - 1, &ev, reason, sizeof(reason))
        == 0)
    {
        test_check(0, "a raw NUL in a name accepted as \"%s\"",
                   ev.votes[0].user);
        cast_event_free(&ev);
        return;
    }

    test_check(strstr(reason, "NUL byte") != NULL, "a raw NUL: %s", reason);
}


static void
test_good(void)
{
    char          reason[CAST_EVENT_REASON_MAX], *enc;
    cast_event_t  ev, ev2;

    test_check(cast_event_decode(GOOD, strlen(GOOD), &ev, reason,
                                 sizeof(reason)) == 0,
               "good event refused: %s", reason);

    test_check(strcmp(ev.id, "1234567-17") == 0, "id %s", ev.id);
    test_check(ev.ts == 1764096000123LL, "ts %lld", (long long) ev.ts);
    test_check(ev.ticket == 1234567, "ticket");
    test_check(ev.voter != NULL && strcmp(ev.voter, "dave") == 0, "voter");
    test_check(ev.nvotes == 2, "nvotes %zu", ev.nvotes);
    test_check(strcmp(ev.votes[0].user, "alice") == 0 && ev.votes[0].n == 1
               && ev.votes[0].c == 5 && ev.votes[0].ver == 3, "votes[0]");
    test_check(strcmp(ev.votes[1].user, "bob") == 0 && ev.votes[1].n == 2
               && ev.votes[1].c == 2 && ev.votes[1].ver == 1, "votes[1]");

    enc = cast_event_encode(&ev);
    test_check(enc != NULL && strcmp(enc, GOOD) == 0, "encode: %s",
               enc ? enc : "(null)");

    test_check(cast_event_decode(enc, strlen(enc), &ev2, reason, sizeof(reason))
               == 0, "round trip refused: %s", reason);
    test_check(strcmp(ev2.votes[1].user, "bob") == 0, "round trip");

    cast_event_free(&ev2);
    cast_event_free(&ev);
    free(enc);
}


/* What lib/redis/cast.lua writes: Lua cjson escapes '/', prints big numbers in
 * exponent form; the field order differs; unknown fields are ignored. */

static void
test_lua_forms(void)
{
    char          reason[CAST_EVENT_REASON_MAX], *enc;
    cast_event_t  ev;
    const char   *js = "{\"votes\":[{\"ver\":1e+14,\"u\":\"a\\/b \xe4\xb8\xad"
                       "\\u00e9\",\"c\":100000000000000,\"n\":1}],"
                       "\"id\":\"882048000-3\",\"voter\":null,\"extra\":[1],"
                       "\"ticket\":882048000,\"ts\":1764096000123,\"v\":1}\n";

    test_check(cast_event_decode(js, strlen(js), &ev, reason, sizeof(reason))
               == 0, "lua form refused: %s", reason);
    test_check(ev.voter == NULL, "voter should be NULL");
    test_check(strcmp(ev.votes[0].user, "a/b \xe4\xb8\xad\xc3\xa9") == 0,
               "user %s", ev.votes[0].user);
    test_check(ev.votes[0].ver == 100000000000000LL, "ver");

    enc = cast_event_encode(&ev);
    test_check(enc != NULL && strstr(enc, "\"voter\":null") != NULL
               && strstr(enc, "\"ver\":100000000000000") != NULL,
               "encode: %s", enc ? enc : "(null)");

    free(enc);
    cast_event_free(&ev);
}


/* 16-digit integers: cJSON's own number printer kept only 15 digits */

static void
test_big_ints(void)
{
    char          reason[CAST_EVENT_REASON_MAX], *enc;
    cast_event_t  ev, ev2;
    const char   *js = "{\"v\":1,\"id\":\"9007199254740992-1\",\"ts\":0,"
                       "\"ticket\":9007199254740992,\"voter\":null,"
                       "\"votes\":[{\"u\":\"a\",\"n\":1,"
                       "\"c\":1234567890123457,\"ver\":9007199254740991}]}";

    test_check(cast_event_decode(js, strlen(js), &ev, reason, sizeof(reason))
               == 0, "big integers refused: %s", reason);

    enc = cast_event_encode(&ev);
    test_check(enc != NULL && strcmp(enc, js) == 0,
               "encode: %s", enc ? enc : "(null)");

    if (enc != NULL
        && cast_event_decode(enc, strlen(enc), &ev2, reason, sizeof(reason))
           == 0)
    {
        test_check(ev2.ticket == ev.ticket && ev2.votes[0].c == ev.votes[0].c
                   && ev2.votes[0].ver == ev.votes[0].ver,
                   "round trip changed");
        cast_event_free(&ev2);

    } else {
        test_check(0, "round trip refused: %s", reason);
    }

    free(enc);
    cast_event_free(&ev);
}


static void
test_limits(void)
{
    char          reason[CAST_EVENT_REASON_MAX], *buf, *p;
    size_t        i, size;
    cast_event_t  ev;

    size = CAST_EVENT_MAX_BYTES + 64;
    buf = malloc(size);

    /* the largest allowed name, then one byte more */
    p = buf + sprintf(buf, HEAD "\"votes\":[{\"u\":\"");
    memset(p, 'x', CAST_EVENT_NAME_MAX);
    strcpy(p + CAST_EVENT_NAME_MAX, "\",\"n\":1,\"c\":1,\"ver\":1}]}");
    test_check(cast_event_decode(buf, strlen(buf), &ev, reason, sizeof(reason))
               == 0, "longest name refused: %s", reason);
    cast_event_free(&ev);

    memset(p, 'x', CAST_EVENT_NAME_MAX + 1);
    strcpy(p + CAST_EVENT_NAME_MAX + 1, "\",\"n\":1,\"c\":1,\"ver\":1}]}");
    test_check(cast_event_decode(buf, strlen(buf), &ev, reason, sizeof(reason))
               != 0 && strstr(reason, "longer than") != NULL,
               "oversize name: %s", reason);

    /* too many votes */
    p = buf + sprintf(buf, HEAD "\"votes\":[");
    for (i = 0; i <= CAST_EVENT_MAX_VOTES; i++) {
        p += sprintf(p, "%s{\"u\":\"u%zu\",\"n\":1,\"c\":1,\"ver\":1}",
                     i ? "," : "", i);
    }
    strcpy(p, "]}");
    test_check(cast_event_decode(buf, strlen(buf), &ev, reason, sizeof(reason))
               != 0 && strstr(reason, "more than") != NULL,
               "too many votes: %s", reason);

    /* oversize event */
    memset(buf, ' ', size);
    test_check(cast_event_decode(buf, size, &ev, reason, sizeof(reason)) != 0
               && strstr(reason, "larger than") != NULL,
               "oversize event: %s", reason);

    free(buf);
}


static void
test_bad(void)
{
    char          reason[CAST_EVENT_REASON_MAX];
    size_t        i;
    cast_event_t  ev;

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        strcpy(reason, "(none)");

        if (cast_event_decode(bad_cases[i].json, strlen(bad_cases[i].json),
                              &ev, reason, sizeof(reason))
            == 0)
        {
            test_check(0, "case %zu accepted: %s", i, bad_cases[i].json);
            cast_event_free(&ev);
            continue;
        }

        test_check(strstr(reason, bad_cases[i].reason) != NULL,
                   "case %zu: reason \"%s\", expected \"%s\"", i, reason,
                   bad_cases[i].reason);
    }
}


/*
 * The writer's escapes are cJSON's (the bytes the persister stored before
 * it wrote the JSON itself): '"', '\\' and \b \f \n \r \t by letter,
 * other bytes below 0x20 as \u00xx, '/', DEL and UTF-8 as they are.  A
 * buffer too small is left alone and the length still returned.
 */

static void
test_write(void)
{
    char                buf[256], *enc;
    size_t              len;
    cast_event_t        ev;
    cast_event_vote_t   v[2];
    static const char  *want =
        "{\"v\":1,\"id\":\"5-2\",\"ts\":-1,\"ticket\":5,"
        "\"voter\":\"q\\\"b\\\\s\\b\\f\\n\\r\\t\\u0001\\u001f/\x7f\xc3\xa9\","
        "\"votes\":[{\"u\":\"x\",\"n\":1,\"c\":9007199254740992,"
        "\"ver\":-9223372036854775808},"
        "{\"u\":\"\",\"n\":0,\"c\":10,\"ver\":1}]}";

    memset(&ev, 0, sizeof(ev));
    strcpy(ev.id, "5-2");
    ev.ts = -1;
    ev.ticket = 5;
    ev.voter = "q\"b\\s\b\f\n\r\t\x01\x1f/\x7f\xc3\xa9";
    ev.votes = v;
    ev.nvotes = 2;
    v[0].user = "x";
    v[0].n = 1;
    v[0].c = 9007199254740992LL;
    v[0].ver = INT64_MIN;
    v[1].user = "";
    v[1].n = 0;
    v[1].c = 10;
    v[1].ver = 1;

    enc = cast_event_encode(&ev);
    test_check(enc != NULL && strcmp(enc, want) == 0, "write: %s",
               enc ? enc : "(null)");
    free(enc);

    memset(buf, '#', sizeof(buf));
    len = cast_event_write(&ev, buf, 10);
    test_check(len == strlen(want), "length with a short buffer: %zu", len);
    test_check(buf[0] == '{' && buf[9] == '#',
               "a short buffer is written up to what fits, at most");

    len = cast_event_write(&ev, buf, sizeof(buf));
    test_check(len == strlen(want) && memcmp(buf, want, len) == 0
               && buf[len] == '#', "written in place, no NUL");
}


int
main(void)
{
    test_good();
    test_lua_forms();
    test_big_ints();
    test_limits();
    test_bad();
    test_nul();
    test_write();

    return test_done("test_event");
}
