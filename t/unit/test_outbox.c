/*
 * The outbox batch entries: cast_outbox_split() formats each vote's event
 * exactly as cast.lua did before it wrote batch entries (string.format
 * with %d, names between quotes or through cjson.encode when they hold a
 * quote, a backslash or a control character), the events decode, and
 * every malformed entry is refused with its reason.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cast_event.h"
#include "cast_outbox.h"


#define MAX_FIELDS  64


typedef struct {
    const char  *fields[MAX_FIELDS];   /* NULL-terminated */
    const char  *reason;
} bad_case_t;


static size_t
fields_of(const char *const *in, cast_outbox_str_t *f)
{
    size_t  n;

    for (n = 0; in[n] != NULL; n++) {
        f[n].data = in[n];
        f[n].len = strlen(in[n]);
    }

    return n;
}


/* splits the entry; its events' JSON must be `want` (NULL-terminated) */
static void
check_split(const char *what, const char *const *in, const char *const *ids,
    const char *const *want)
{
    char                  reason[CAST_EVENT_REASON_MAX];
    size_t                i, n, nev;
    cast_event_t          ev;
    cast_outbox_str_t     f[MAX_FIELDS];
    cast_outbox_event_t  *events;

    n = fields_of(in, f);

    if (cast_outbox_split(f, n, &events, &nev, reason, sizeof(reason))
        != 0)
    {
        test_check(0, "%s: refused: %s", what, reason);
        return;
    }

    for (i = 0; want[i] != NULL; i++) { /* void */ }
    test_check(nev == i, "%s: %zu events, expected %zu", what, nev, i);

    for (i = 0; i < nev && want[i] != NULL; i++) {
        test_check(events[i].len == strlen(events[i].json)
                   && strcmp(events[i].json, want[i]) == 0,
                   "%s: event %zu\n  got  %s\n  want %s", what, i,
                   events[i].json, want[i]);
        test_check(strcmp(events[i].id, ids[i]) == 0, "%s: id %s, want %s",
                   what, events[i].id, ids[i]);

        /* what the persister does with it */
        if (cast_event_decode(events[i].json, events[i].len, &ev, reason,
                              sizeof(reason))
            != 0)
        {
            test_check(0, "%s: event %zu does not decode: %s", what, i,
                       reason);
            continue;
        }

        test_check(strcmp(ev.id, ids[i]) == 0, "%s: decoded id %s", what,
                   ev.id);
        cast_event_free(&ev);
    }

    cast_outbox_free(events, nev);
}


static void
test_one(void)
{
    static const char *const in[] = {
        "b", "1764096000123", "1234567", "17", "", "1", "alice", "1", "5",
        "3", NULL
    };
    static const char *const ids[] = { "1234567-17" };
    static const char *const want[] = {
        "{\"v\":1,\"id\":\"1234567-17\",\"ts\":1764096000123,"
        "\"ticket\":1234567,\"voter\":null,"
        "\"votes\":[{\"u\":\"alice\",\"n\":1,\"c\":5,\"ver\":3}]}",
        NULL
    };

    check_split("one vote", in, ids, want);
}


static void
test_many(void)
{
    static const char *const in[] = {
        "b", "1764096000123",
        "1234567", "17", "dave", "2",
            "alice", "1", "5", "3",
            "bob", "2", "2", "1",
        "1234566", "100", "", "1",
            "alice", "3", "8", "4",
        NULL
    };
    static const char *const ids[] = { "1234567-17", "1234566-100" };
    static const char *const want[] = {
        "{\"v\":1,\"id\":\"1234567-17\",\"ts\":1764096000123,"
        "\"ticket\":1234567,\"voter\":\"dave\",\"votes\":["
        "{\"u\":\"alice\",\"n\":1,\"c\":5,\"ver\":3},"
        "{\"u\":\"bob\",\"n\":2,\"c\":2,\"ver\":1}]}",
        "{\"v\":1,\"id\":\"1234566-100\",\"ts\":1764096000123,"
        "\"ticket\":1234566,\"voter\":null,\"votes\":["
        "{\"u\":\"alice\",\"n\":3,\"c\":8,\"ver\":4}]}",
        NULL
    };

    check_split("two votes, two tickets", in, ids, want);
}


/* the escapes of cjson.encode in Redis 7 (t/055 compares with it live) */

static void
test_escapes(void)
{
    static const char *const in[] = {
        "b", "5",
        "9", "1", "v\"o/ter", "6",
            "a/b", "1", "1", "1",
            "q\"uote", "1", "1", "1",
            "back\\slash/", "1", "1", "1",
            "ctl\b\t\n\f\r\x01\x1f\x7f.", "1", "1", "1",
            "caf\xc3\xa9 \xe2\x82\xac", "1", "1", "1",
            "tab\tand/slash", "1", "1", "1",
        NULL
    };
    static const char *const want[] = {
        "{\"v\":1,\"id\":\"9-1\",\"ts\":5,\"ticket\":9,"
        "\"voter\":\"v\\\"o\\/ter\",\"votes\":["
        "{\"u\":\"a/b\",\"n\":1,\"c\":1,\"ver\":1},"
        "{\"u\":\"q\\\"uote\",\"n\":1,\"c\":1,\"ver\":1},"
        "{\"u\":\"back\\\\slash\\/\",\"n\":1,\"c\":1,\"ver\":1},"
        "{\"u\":\"ctl\\b\\t\\n\\f\\r\\u0001\\u001f\\u007f.\",\"n\":1,"
        "\"c\":1,\"ver\":1},"
        "{\"u\":\"caf\xc3\xa9 \xe2\x82\xac\",\"n\":1,\"c\":1,\"ver\":1},"
        "{\"u\":\"tab\\tand\\/slash\",\"n\":1,\"c\":1,\"ver\":1}]}",
        NULL
    };

    test_ok(!cast_outbox_needs_escape("a/b", 3));
    test_ok(cast_outbox_needs_escape("a\x7f", 2));
    test_ok(cast_outbox_needs_escape("\"", 1));
    test_ok(!cast_outbox_needs_escape("\xc3\xa9", 2));

    /* the control characters' event does not decode (the persister
     * dead-letters it, as it did the same JSON from cast.lua): format only */
    {
        char                  reason[CAST_EVENT_REASON_MAX];
        size_t                n, nev;
        cast_outbox_str_t     f[MAX_FIELDS];
        cast_outbox_event_t  *events;

        n = fields_of(in, f);
        test_ok(cast_outbox_split(f, n, &events, &nev, reason,
                                  sizeof(reason)) == 0);
        if (nev == 1) {
            test_ok(strcmp(events[0].id, "9-1") == 0);
            test_check(strcmp(events[0].json, want[0]) == 0,
                       "escapes\n  got  %s\n  want %s", events[0].json,
                       want[0]);
        }
        cast_outbox_free(events, nev);
    }
}


/* %d exactness: 2^53 - 1 and its neighbours copied digit for digit */

static void
test_huge(void)
{
    static const char *const in[] = {
        "b", "9007199254740991",
        "9007199254740991", "9007199254740991", "", "2",
            "x", "1000000", "9007199254740991", "9007199254740991",
            "y", "1", "9007199254740990", "4503599627370497",
        NULL
    };
    static const char *const ids[] = {
        "9007199254740991-9007199254740991"
    };
    static const char *const want[] = {
        "{\"v\":1,\"id\":\"9007199254740991-9007199254740991\","
        "\"ts\":9007199254740991,\"ticket\":9007199254740991,"
        "\"voter\":null,\"votes\":["
        "{\"u\":\"x\",\"n\":1000000,\"c\":9007199254740991,"
        "\"ver\":9007199254740991},"
        "{\"u\":\"y\",\"n\":1,\"c\":9007199254740990,"
        "\"ver\":4503599627370497}]}",
        NULL
    };
    char                  reason[CAST_EVENT_REASON_MAX];
    cast_event_t          ev;
    cast_outbox_str_t     f[MAX_FIELDS];
    cast_outbox_event_t  *events;
    size_t                n, nev;

    check_split("2^53 - 1", in, ids, want);

    n = fields_of(in, f);
    if (cast_outbox_split(f, n, &events, &nev, reason, sizeof(reason)) == 0)
    {
        if (cast_event_decode(events[0].json, events[0].len, &ev, reason,
                              sizeof(reason))
            == 0)
        {
            test_ok(ev.votes[0].c == 9007199254740991LL);
            test_ok(ev.votes[0].ver == 9007199254740991LL);
            test_ok(ev.votes[1].ver == 4503599627370497LL);
            test_ok(ev.ts == 9007199254740991LL);
            cast_event_free(&ev);
        }
        cast_outbox_free(events, nev);
    }
}


/* a vote of 1000 names, the most cast.lua takes */

static void
test_big_vote(void)
{
    char                  reason[CAST_EVENT_REASON_MAX];
    char                  names[1001][8];
    size_t                i, n, nev;
    cast_event_t          ev;
    cast_outbox_str_t    *f;
    cast_outbox_event_t  *events;

    f = calloc(6 + 4 * 1001, sizeof(cast_outbox_str_t));
    if (f == NULL) {
        test_check(0, "out of memory");
        return;
    }

    for (i = 0; i < 1001; i++) {
        snprintf(names[i], sizeof(names[i]), "n%zu", i);
    }

    for (i = 0; i < 6; i++) {
        f[i].data = (const char *[]) { "b", "7", "3", "1", "", "1000" }[i];
        f[i].len = strlen(f[i].data);
    }

    for (i = 0; i < 1001; i++) {
        f[6 + 4 * i].data = names[i];
        f[6 + 4 * i].len = strlen(names[i]);
        f[7 + 4 * i].data = f[8 + 4 * i].data = f[9 + 4 * i].data = "1";
        f[7 + 4 * i].len = f[8 + 4 * i].len = f[9 + 4 * i].len = 1;
    }

    n = 6 + 4 * 1000;
    test_ok(cast_outbox_split(f, n, &events, &nev, reason, sizeof(reason))
            == 0 && nev == 1);
    if (nev == 1) {
        test_ok(cast_event_decode(events[0].json, events[0].len, &ev,
                                  reason, sizeof(reason)) == 0
                && ev.nvotes == 1000);
        cast_event_free(&ev);
        cast_outbox_free(events, nev);
    }

    /* 1001 names: refused */
    f[5].data = "1001";
    f[5].len = 4;
    n += 4;
    test_ok(cast_outbox_split(f, n, &events, &nev, reason, sizeof(reason))
            == -1 && strstr(reason, "number of names") != NULL);

    free(f);
}


/*
 * A packed entry: its votes' events are byte for byte those of the batch
 * entry of the same votes (uses one after the other from its first), a
 * voter or a name read by its length, '\n' in it or not.
 */

static void
test_packed(void)
{
    static const char *const batch[] = {
        "b", "1764096000123",
        "1234567", "17", "", "1", "alice", "1", "5", "3",
        "1234567", "18", "dave", "1", "b\nob", "1", "2", "1",
        "1234567", "19", "v\n", "1", "alice", "1", "6", "4",
        NULL
    };
    static const char *const packed[] = {
        "p",
        "1764096000123\n1234567\n17\n"
        "0\n\n5\nalice\n5\n3\n"
        "4\ndave\n4\nb\nob\n2\n1\n"
        "2\nv\n\n5\nalice\n6\n4",
        NULL
    };
    static const char *const ids[] = {
        "1234567-17", "1234567-18", "1234567-19"
    };
    char                  reason[CAST_EVENT_REASON_MAX];
    size_t                i, n, nb, np;
    cast_outbox_str_t     f[MAX_FIELDS];
    cast_outbox_event_t  *b, *p;

    n = fields_of(batch, f);
    test_ok(cast_outbox_split(f, n, &b, &nb, reason, sizeof(reason)) == 0
            && nb == 3);

    n = fields_of(packed, f);
    test_ok(cast_outbox_split(f, n, &p, &np, reason, sizeof(reason)) == 0
            && np == 3);

    /* the names with a '\n' do not decode (dead-lettered): format only */
    for (i = 0; i < 3 && i < nb && i < np; i++) {
        test_check(strcmp(p[i].id, ids[i]) == 0
                   && strcmp(b[i].id, ids[i]) == 0,
                   "packed: id %s, want %s", p[i].id, ids[i]);
        test_check(p[i].len == b[i].len && strcmp(p[i].json, b[i].json) == 0,
                   "packed: event %zu\n  got  %s\n  want %s", i, p[i].json,
                   b[i].json);
    }

    cast_outbox_free(b, nb);
    cast_outbox_free(p, np);
}


static const bad_case_t  bad_cases[] = {
    { { "p", NULL }, "not a batch entry" },
    { { "p", "1\n9\n1\n0\n\n1\na\n1\n1", "x", NULL },
      "not a batch entry" },
    { { "p", "1\n9\n1", NULL }, "no vote" },
    { { "p", "1\n9", NULL }, "bad ticket seq or first use" },
    { { "p", "x\n9\n1\n0\n\n1\na\n1\n1", NULL }, "bad ts" },
    { { "p", "1\n0\n1\n0\n\n1\na\n1\n1", NULL },
      "bad ticket seq or first use" },
    { { "p", "1\n9\n01\n0\n\n1\na\n1\n1", NULL },
      "bad ticket seq or first use" },
    { { "p", "1\n9\n1\n0\n\n1\na\n1", NULL }, "cut short" },
    { { "p", "1\n9\n1\n0\n\n1\na\n1\n1\n", NULL }, "cut short" },
    { { "p", "1\n9\n1\n1\n\n1\na\n1\n1", NULL }, "cut short" },
    { { "p", "1\n9\n1\n0\n\n9\na\n1\n1", NULL }, "cut short" },
    { { "p", "1\n9\n1\n0\n\n2\na\n1\n1", NULL }, "cut short" },
    { { "p", "1\n9\n1\n00\n\n1\na\n1\n1", NULL }, "cut short" },
    { { "p", "1\n9\n1\n1234567890\n\n1\na\n1\n1", NULL },
      "cut short" },
    { { "p", "1\n9\n1\n0\n\n0\n\n1\n1", NULL },
      "bad name or number" },
    { { "p", "1\n9\n1\n0\n\n1\na\n1\n01", NULL },
      "bad name or number" },
    { { "p", "1\n9\n9999999999999999\n0\n\n1\na\n1\n1\n"
        "0\n\n1\nb\n1\n1", NULL }, "bad ticket seq or use" },
    { { "e", "{}", NULL }, "not a batch entry" },
    { { "bb", "1", NULL }, "not a batch entry" },
    { { "b", NULL }, "not a batch entry" },
    { { "b", "1", NULL }, "no vote" },
    { { "b", "", "9", "1", "", "1", "a", "1", "1", "1", NULL }, "bad ts" },
    { { "b", "1x", "9", "1", "", "1", "a", "1", "1", "1", NULL }, "bad ts" },
    { { "b", "-1", "9", "1", "", "1", "a", "1", "1", "1", NULL }, "bad ts" },
    { { "b", "1", "9", "1", "", NULL }, "cut short" },
    { { "b", "1", "09", "1", "", "1", "a", "1", "1", "1", NULL },
      "bad ticket seq" },
    { { "b", "1", "0", "1", "", "1", "a", "1", "1", "1", NULL },
      "bad ticket seq" },
    { { "b", "1", "9", "0", "", "1", "a", "1", "1", "1", NULL },
      "bad ticket seq or use" },
    { { "b", "1", "9", "1.0", "", "1", "a", "1", "1", "1", NULL },
      "bad ticket seq or use" },
    { { "b", "1", "12345678901234567", "1", "", "1", "a", "1", "1", "1",
        NULL }, "bad ticket seq" },
    { { "b", "1", "9", "1", "", "0", "a", "1", "1", "1", NULL },
      "number of names" },
    { { "b", "1", "9", "1", "", "x", "a", "1", "1", "1", NULL },
      "number of names" },
    { { "b", "1", "9", "1", "", "2", "a", "1", "1", "1", NULL },
      "cut short" },
    { { "b", "1", "9", "1", "", "1", "", "1", "1", "1", NULL },
      "bad name or number" },
    { { "b", "1", "9", "1", "", "1", "a", "0", "1", "1", NULL },
      "bad name or number" },
    { { "b", "1", "9", "1", "", "1", "a", "1", "1e3", "1", NULL },
      "bad name or number" },
    { { "b", "1", "9", "1", "", "1", "a", "1", "1", " 1", NULL },
      "bad name or number" },
    { { "b", "1", "9", "1", "", "1", "a", "1", "1", "1", "9", NULL },
      "cut short" },
    { { "b", "1", "9", "1", "", "1", "a", "1", "1", "1",
        "9", "2", "", "1", "a", "1", "1", NULL }, "cut short" },
};


static void
test_bad(void)
{
    char                  reason[CAST_EVENT_REASON_MAX];
    size_t                i, n, nev;
    cast_outbox_str_t     f[MAX_FIELDS];
    cast_outbox_event_t  *events;

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        strcpy(reason, "(none)");
        n = fields_of(bad_cases[i].fields, f);

        if (cast_outbox_split(f, n, &events, &nev, reason, sizeof(reason))
            == 0)
        {
            test_check(0, "case %zu accepted", i);
            cast_outbox_free(events, nev);
            continue;
        }

        test_check(events == NULL && nev == 0, "case %zu: output left", i);
        test_check(strstr(reason, bad_cases[i].reason) != NULL,
                   "case %zu: reason \"%s\", expected \"%s\"", i, reason,
                   bad_cases[i].reason);
    }
}


int
main(void)
{
    test_one();
    test_many();
    test_escapes();
    test_huge();
    test_big_vote();
    test_packed();
    test_bad();

    return test_done("test_outbox");
}
