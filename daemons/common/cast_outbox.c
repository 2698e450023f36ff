#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_outbox.h"


typedef struct {
    char         *data;
    size_t        len;
    size_t        size;
    int           failed;
} cast_outbox_buf_t;


static int cast_outbox_fail(char *reason, size_t reasonlen,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cast_outbox_number(const cast_outbox_str_t *s, int positive);
static int cast_outbox_count(const cast_outbox_str_t *s, size_t max,
    size_t *out);
static void cast_outbox_add(cast_outbox_buf_t *b, const char *p,
    size_t len);
static void cast_outbox_str(cast_outbox_buf_t *b, const cast_outbox_str_t *s);
static size_t cast_outbox_event(const cast_outbox_str_t *f, size_t n,
    size_t i, const cast_outbox_str_t *ts, cast_outbox_event_t *ev,
    char *reason, size_t reasonlen);
static int cast_outbox_token(cast_outbox_str_t *rest, cast_outbox_str_t *t);
static int cast_outbox_sized(cast_outbox_str_t *rest, cast_outbox_str_t *t);
static int cast_outbox_packed(const cast_outbox_str_t *value,
    cast_outbox_event_t **events, size_t *nevents, char *reason,
    size_t reasonlen);


#define cast_outbox_lit(b, s)  cast_outbox_add(b, s, sizeof(s) - 1)


static int
cast_outbox_fail(char *reason, size_t reasonlen, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(reason, reasonlen, fmt, ap);
    va_end(ap);

    return -1;
}


/*
 * A number as cast.lua's %d writes it: decimal digits, no sign, no
 * leading zero, at most 16 digits (counts stop at 2^53 - 1).  It is
 * copied into the JSON as it is, so it stays exact.
 */

static int
cast_outbox_number(const cast_outbox_str_t *s, int positive)
{
    size_t  i;

    if (s->len == 0 || s->len > CAST_OUTBOX_NUM_MAX
        || (s->data[0] == '0' && (s->len > 1 || positive)))
    {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return 0;
        }
    }

    return 1;
}


static int
cast_outbox_count(const cast_outbox_str_t *s, size_t max, size_t *out)
{
    size_t  i, v;

    if (!cast_outbox_number(s, 1) || s->len > 9) {
        return 0;
    }

    v = 0;
    for (i = 0; i < s->len; i++) {
        v = v * 10 + (size_t) (s->data[i] - '0');
    }

    *out = v;
    return v <= max;
}


static void
cast_outbox_add(cast_outbox_buf_t *b, const char *p, size_t len)
{
    char    *data;
    size_t   size;

    if (b->failed) {
        return;
    }

    if (b->len + len + 1 > b->size) {
        size = b->size ? b->size : 256;
        while (size < b->len + len + 1) {
            size *= 2;
        }

        data = realloc(b->data, size);
        if (data == NULL) {
            b->failed = 1;
            return;
        }

        b->data = data;
        b->size = size;
    }

    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
}


/*
 * cast.lua wrote a name as it is between quotes, unless it held a
 * control character (Lua's %c: below 0x20, and DEL), a quote or a
 * backslash; then cjson.encode() wrote it, which also escapes '/'.
 */

int
cast_outbox_needs_escape(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            return 1;
        }
    }

    return 0;
}


static void
cast_outbox_str(cast_outbox_buf_t *b, const cast_outbox_str_t *s)
{
    char           u[8];
    size_t         i;
    unsigned char  c;

    cast_outbox_lit(b, "\"");

    if (!cast_outbox_needs_escape(s->data, s->len)) {
        cast_outbox_add(b, s->data, s->len);
        cast_outbox_lit(b, "\"");
        return;
    }

    /* cjson's table: \" \\ \/ \b \t \n \f \r, \u00xx for the rest */
    for (i = 0; i < s->len; i++) {
        c = (unsigned char) s->data[i];

        switch (c) {
        case '"':
            cast_outbox_lit(b, "\\\"");
            break;

        case '\\':
            cast_outbox_lit(b, "\\\\");
            break;

        case '/':
            cast_outbox_lit(b, "\\/");
            break;

        case '\b':
            cast_outbox_lit(b, "\\b");
            break;

        case '\t':
            cast_outbox_lit(b, "\\t");
            break;

        case '\n':
            cast_outbox_lit(b, "\\n");
            break;

        case '\f':
            cast_outbox_lit(b, "\\f");
            break;

        case '\r':
            cast_outbox_lit(b, "\\r");
            break;

        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(u, sizeof(u), "\\u%04x", c);
                cast_outbox_add(b, u, 6);

            } else {
                cast_outbox_add(b, (const char *) &s->data[i], 1);
            }
        }
    }

    cast_outbox_lit(b, "\"");
}


/*
 * The k names of a vote, 4 fields each (name, votes, count, version),
 * as the event's "votes" items; how many were well formed (k if all).
 */

static size_t
cast_outbox_votes(cast_outbox_buf_t *b, const cast_outbox_str_t *v, size_t k)
{
    size_t  j;

    for (j = 0; j < k; j++, v += 4) {

        if (v[0].len == 0 || !cast_outbox_number(&v[1], 1)
            || !cast_outbox_number(&v[2], 1) || !cast_outbox_number(&v[3], 1))
        {
            return j;
        }

        if (j > 0) {
            cast_outbox_lit(b, ",");
        }

        cast_outbox_lit(b, "{\"u\":");
        cast_outbox_str(b, &v[0]);
        cast_outbox_lit(b, ",\"n\":");
        cast_outbox_add(b, v[1].data, v[1].len);
        cast_outbox_lit(b, ",\"c\":");
        cast_outbox_add(b, v[2].data, v[2].len);
        cast_outbox_lit(b, ",\"ver\":");
        cast_outbox_add(b, v[3].data, v[3].len);
        cast_outbox_lit(b, "}");
    }

    return k;
}


/*
 * The event of the vote at f[i]: its JSON into ev; the index after it,
 * or 0 with reason set.
 */

static size_t
cast_outbox_event(const cast_outbox_str_t *f, size_t n, size_t i,
    const cast_outbox_str_t *ts, cast_outbox_event_t *ev, char *reason,
    size_t reasonlen)
{
    size_t              k, j;
    cast_outbox_buf_t   b;
    const cast_outbox_str_t  *seq, *use, *voter;

    if (i + 4 > n) {
        cast_outbox_fail(reason, reasonlen, "vote at field %zu: cut short",
                         i);
        return 0;
    }

    seq = &f[i];
    use = &f[i + 1];
    voter = &f[i + 2];

    if (!cast_outbox_number(seq, 1) || !cast_outbox_number(use, 1)) {
        cast_outbox_fail(reason, reasonlen, "vote at field %zu: bad ticket "
                         "seq or use", i);
        return 0;
    }

    if (!cast_outbox_count(&f[i + 3], CAST_EVENT_MAX_VOTES, &k) || k == 0) {
        cast_outbox_fail(reason, reasonlen, "vote at field %zu: bad number "
                         "of names", i);
        return 0;
    }

    i += 4;

    if (k > (n - i) / 4) {
        cast_outbox_fail(reason, reasonlen, "vote at field %zu: %zu names "
                         "cut short", i - 4, k);
        return 0;
    }

    if (seq->len + 1 + use->len >= CAST_EVENT_ID_MAX) {
        cast_outbox_fail(reason, reasonlen, "vote at field %zu: id too long",
                         i - 4);
        return 0;
    }

    memcpy(ev->id, seq->data, seq->len);
    ev->id[seq->len] = '-';
    memcpy(ev->id + seq->len + 1, use->data, use->len);
    ev->id[seq->len + 1 + use->len] = '\0';

    memset(&b, 0, sizeof(cast_outbox_buf_t));

    /* cast.lua's format, field for field */
    cast_outbox_lit(&b, "{\"v\":1,\"id\":\"");
    cast_outbox_add(&b, ev->id, strlen(ev->id));
    cast_outbox_lit(&b, "\",\"ts\":");
    cast_outbox_add(&b, ts->data, ts->len);
    cast_outbox_lit(&b, ",\"ticket\":");
    cast_outbox_add(&b, seq->data, seq->len);
    cast_outbox_lit(&b, ",\"voter\":");

    if (voter->len == 0) {
        cast_outbox_lit(&b, "null");

    } else {
        cast_outbox_str(&b, voter);
    }

    cast_outbox_lit(&b, ",\"votes\":[");

    j = cast_outbox_votes(&b, &f[i], k);
    if (j < k) {
        free(b.data);
        cast_outbox_fail(reason, reasonlen, "vote at field %zu: bad name "
                         "or number at field %zu", i - 4, i + 4 * j);
        return 0;
    }

    i += 4 * k;

    cast_outbox_lit(&b, "]}");

    if (b.failed) {
        free(b.data);
        cast_outbox_fail(reason, reasonlen, "out of memory");
        return 0;
    }

    ev->json = b.data;
    ev->len = b.len;

    return i;
}


/*
 * The next string of a packed entry's value: up to its '\n' or the end;
 * `rest` moves past it and its '\n' (NULL data: nothing left).
 */

static int
cast_outbox_token(cast_outbox_str_t *rest, cast_outbox_str_t *t)
{
    const char  *nl;

    if (rest->data == NULL) {
        return 0;
    }

    nl = memchr(rest->data, '\n', rest->len);

    t->data = rest->data;
    t->len = (nl != NULL) ? (size_t) (nl - rest->data) : rest->len;

    if (nl == NULL) {
        rest->data = NULL;
        rest->len = 0;

    } else {
        rest->len -= t->len + 1;
        rest->data = nl + 1;
    }

    return 1;
}


/*
 * A voter or a name of a packed entry: its length, then exactly that many
 * bytes (which may hold a '\n'), then a '\n'.  Its length is not held to
 * a name's here, as in a batch entry: the persister judges the event.
 */

static int
cast_outbox_sized(cast_outbox_str_t *rest, cast_outbox_str_t *t)
{
    size_t             i, len;
    cast_outbox_str_t  n;

    /* 0 for an absent voter; 9 digits at most, so no overflow */
    if (!cast_outbox_token(rest, &n) || !cast_outbox_number(&n, 0)
        || n.len > 9)
    {
        return 0;
    }

    len = 0;
    for (i = 0; i < n.len; i++) {
        len = len * 10 + (size_t) (n.data[i] - '0');
    }

    if (rest->data == NULL || rest->len < len + 1 || rest->data[len] != '\n')
    {
        return 0;
    }

    t->data = rest->data;
    t->len = len;

    rest->data += len + 1;
    rest->len -= len + 1;

    return 1;
}


/*
 * A packed entry: its value holds, joined by '\n', the time, the ticket's
 * seq and its first use, then six strings a vote (cast_outbox.h).  Each
 * vote is given the eight strings of a batch entry's vote, its use the
 * one after the vote before it, and formatted by cast_outbox_event(): its
 * event is byte for byte the one a batch entry gives.
 */

static int
cast_outbox_packed(const cast_outbox_str_t *value,
    cast_outbox_event_t **events, size_t *nevents, char *reason,
    size_t reasonlen)
{
    char                  use[24];
    size_t                count, max, k;
    unsigned long long    first;
    cast_outbox_str_t     rest, ts, seq, start, v[8];
    cast_outbox_event_t  *ev;

    rest = *value;

    if (!cast_outbox_token(&rest, &ts) || !cast_outbox_number(&ts, 0)) {
        return cast_outbox_fail(reason, reasonlen, "bad ts");
    }

    if (!cast_outbox_token(&rest, &seq) || !cast_outbox_token(&rest, &start)
        || !cast_outbox_number(&seq, 1) || !cast_outbox_number(&start, 1))
    {
        return cast_outbox_fail(reason, reasonlen, "bad ticket seq or first "
                                "use");
    }

    if (rest.data == NULL) {
        return cast_outbox_fail(reason, reasonlen, "no vote in the entry");
    }

    first = strtoull(start.data, NULL, 10);

    /* a vote takes 10 bytes at least, its '\n' before it included */
    max = value->len / 10 + 1;

    ev = calloc(max, sizeof(cast_outbox_event_t));
    if (ev == NULL) {
        return cast_outbox_fail(reason, reasonlen, "out of memory");
    }

    v[0] = seq;
    v[1].data = use;
    v[3].data = "1";
    v[3].len = 1;
    v[5] = v[3];

    for (count = 0; rest.data != NULL; count++) {
        k = count;

        if (count == max
            || !cast_outbox_sized(&rest, &v[2])
            || !cast_outbox_sized(&rest, &v[4])
            || !cast_outbox_token(&rest, &v[6])
            || !cast_outbox_token(&rest, &v[7]))
        {
            cast_outbox_free(ev, count);
            return cast_outbox_fail(reason, reasonlen, "vote %zu: cut short "
                                    "or malformed", k);
        }

        v[1].len = (size_t) snprintf(use, sizeof(use), "%llu", first + k);

        if (cast_outbox_event(v, 8, 0, &ts, &ev[count], reason, reasonlen)
            == 0)
        {
            cast_outbox_free(ev, count);
            return -1;
        }
    }

    *events = ev;
    *nevents = count;

    return 0;
}


int
cast_outbox_split(const cast_outbox_str_t *f, size_t n,
    cast_outbox_event_t **events, size_t *nevents, char *reason,
    size_t reasonlen)
{
    size_t               i, count, next;
    cast_outbox_event_t *ev;

    *events = NULL;
    *nevents = 0;

    if (n == 2 && f[0].len == 1 && f[0].data[0] == CAST_OUTBOX_PACKED[0]) {
        return cast_outbox_packed(&f[1], events, nevents, reason, reasonlen);
    }

    if (n < 2 || f[0].len != 1 || f[0].data[0] != CAST_OUTBOX_TAG[0]) {
        return cast_outbox_fail(reason, reasonlen, "not a batch entry");
    }

    if (!cast_outbox_number(&f[1], 0)) {
        return cast_outbox_fail(reason, reasonlen, "bad ts");
    }

    if (n == 2) {
        return cast_outbox_fail(reason, reasonlen, "no vote in the entry");
    }

    /* a vote takes 8 fields at least */
    ev = calloc((n - 2) / 8 + 1, sizeof(cast_outbox_event_t));
    if (ev == NULL) {
        return cast_outbox_fail(reason, reasonlen, "out of memory");
    }

    count = 0;

    for (i = 2; i < n; i = next) {
        next = cast_outbox_event(f, n, i, &f[1], &ev[count], reason,
                                 reasonlen);
        if (next == 0) {
            cast_outbox_free(ev, count);
            return -1;
        }

        count++;
    }

    *events = ev;
    *nevents = count;

    return 0;
}


void
cast_outbox_free(cast_outbox_event_t *events, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(events[i].json);
    }

    free(events);
}
