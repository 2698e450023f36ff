#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cast_event.h"
#include "cast_name.h"


typedef struct {
    char         *buf;
    size_t        size;
} cast_event_reason_t;


typedef struct {
    char         *buf;
    size_t        len;          /* written, or that would have been */
    size_t        size;
} cast_event_out_t;


static int cast_event_fail(cast_event_reason_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int cast_event_text(const char *p, size_t len,
    cast_event_reason_t *r);
static int cast_event_key_cmp(const void *a, const void *b);
static int cast_event_unique_keys(const cJSON *item,
    cast_event_reason_t *r);
static int cast_event_int(const cJSON *obj, const char *name, int64_t min,
    int64_t *out, cast_event_reason_t *r);
static int cast_event_name(const cJSON *item, const char *what,
    char **out, cast_event_reason_t *r);
static int cast_event_check_id(cast_event_t *ev, const cJSON *root,
    cast_event_reason_t *r);
static int cast_event_vote(const cJSON *item, size_t i, cast_event_vote_t *v,
    cast_event_reason_t *r);
static int cast_event_votes(const cJSON *root, cast_event_t *ev,
    cast_event_reason_t *r);
static int cast_event_fields(const cJSON *root, cast_event_t *ev,
    cast_event_reason_t *r);
static void cast_event_put(cast_event_out_t *o, const char *s, size_t n);
static void cast_event_put_int(cast_event_out_t *o, int64_t v);
static void cast_event_put_str(cast_event_out_t *o, const char *s);


static int
cast_event_fail(cast_event_reason_t *r, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(r->buf, r->size, fmt, ap);
    va_end(ap);

    return -1;
}


/*
 * What cJSON lets through: a raw NUL ends its string early ("alice\0evil"
 * was stored as "alice"), raw control bytes inside a string are not JSON,
 * and "\u0000" becomes a NUL that truncates the string (PostgreSQL text
 * cannot hold one either).  Such events are refused outright.
 */

static int
cast_event_text(const char *p, size_t len, cast_event_reason_t *r)
{
    int            in_string;
    size_t         i;
    unsigned char  c;

    in_string = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if (c == '\0') {
            return cast_event_fail(r, "event contains a NUL byte at %zu", i);
        }

        if (!in_string) {
            in_string = (c == '"');
            continue;
        }

        if (c < 0x20) {
            return cast_event_fail(r, "raw control character 0x%02x in a "
                                   "string at byte %zu", c, i);
        }

        if (c == '"') {
            in_string = 0;

        } else if (c == '\\' && i + 1 < len) {
            if (p[i + 1] == 'u' && i + 5 < len
                && memcmp(&p[i + 2], "0000", 4) == 0)
            {
                return cast_event_fail(r, "event contains \\u0000");
            }

            if ((unsigned char) p[i + 1] < 0x20) {
                continue;       /* the next turn refuses it */
            }

            i++;                /* the escaped character */
        }
    }

    return 0;
}


static int
cast_event_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}


/*
 * No object anywhere in the event holds a key twice: cJSON would keep
 * both and its lookups take the first, where other readers take the
 * last.  The rule of the GraphQL request parser too: duplicates refused.
 */

static int
cast_event_unique_keys(const cJSON *item, cast_event_reason_t *r)
{
    int            rc;
    size_t         n, i;
    const char   **keys;
    const cJSON   *child;

    n = 0;
    cJSON_ArrayForEach(child, item) {
        if (cast_event_unique_keys(child, r) != 0) {
            return -1;
        }
        n++;
    }

    if (!cJSON_IsObject(item) || n < 2) {
        return 0;
    }

    keys = malloc(n * sizeof(const char *));
    if (keys == NULL) {
        return cast_event_fail(r, "out of memory");
    }

    i = 0;
    cJSON_ArrayForEach(child, item) {
        keys[i++] = child->string;
    }

    qsort(keys, n, sizeof(const char *), cast_event_key_cmp);

    rc = 0;

    for (i = 1; i < n; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            rc = cast_event_fail(r, "duplicate key \"%.32s\"", keys[i]);
            break;
        }
    }

    free(keys);
    return rc;
}


static int
cast_event_int(const cJSON *obj, const char *name, int64_t min, int64_t *out,
    cast_event_reason_t *r)
{
    double        d;
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (item == NULL) {
        return cast_event_fail(r, "missing field \"%s\"", name);
    }

    if (!cJSON_IsNumber(item)) {
        return cast_event_fail(r, "field \"%s\" is not a number", name);
    }

    d = item->valuedouble;

    if (d != floor(d) || fabs(d) > (double) CAST_EVENT_INT_MAX) {
        return cast_event_fail(r, "field \"%s\" is not an integer", name);
    }

    if ((int64_t) d < min) {
        return cast_event_fail(r, "field \"%s\" is below %lld", name,
                               (long long) min);
    }

    *out = (int64_t) d;
    return 0;
}


static int
cast_event_name(const cJSON *item, const char *what, char **out,
    cast_event_reason_t *r)
{
    size_t  len;

    if (!cJSON_IsString(item)) {
        return cast_event_fail(r, "%s is not a string", what);
    }

    len = strlen(item->valuestring);

    if (len == 0) {
        return cast_event_fail(r, "%s is empty", what);
    }

    if (len > CAST_EVENT_NAME_MAX) {
        return cast_event_fail(r, "%s is longer than %d bytes", what,
                               CAST_EVENT_NAME_MAX);
    }

    /* the names nginx accepts: no control characters either */
    if (!cast_name_valid(item->valuestring, len, CAST_EVENT_NAME_MAX)) {
        return cast_event_fail(r, "%s is not valid UTF-8 without control "
                               "characters", what);
    }

    *out = strdup(item->valuestring);
    if (*out == NULL) {
        return cast_event_fail(r, "out of memory");
    }

    return 0;
}


/* "<ticket seq>-<use number>", the seq being the event's ticket */

static int
cast_event_check_id(cast_event_t *ev, const cJSON *root,
    cast_event_reason_t *r)
{
    char          *end, *dash;
    long long      seq, use;
    const cJSON   *item;

    item = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (item == NULL) {
        return cast_event_fail(r, "missing field \"id\"");
    }

    if (!cJSON_IsString(item)) {
        return cast_event_fail(r, "field \"id\" is not a string");
    }

    if (strlen(item->valuestring) >= CAST_EVENT_ID_MAX) {
        return cast_event_fail(r, "field \"id\" is too long");
    }

    strcpy(ev->id, item->valuestring);

    dash = strchr(ev->id, '-');
    if (dash == NULL || dash == ev->id || dash[1] == '\0'
        || ev->id[0] < '0' || ev->id[0] > '9'
        || dash[1] < '0' || dash[1] > '9')
    {
        return cast_event_fail(r, "field \"id\" is not <seq>-<use>");
    }

    seq = strtoll(ev->id, &end, 10);
    if (end != dash) {
        return cast_event_fail(r, "field \"id\" is not <seq>-<use>");
    }

    use = strtoll(dash + 1, &end, 10);
    if (*end != '\0' || use < 1) {
        return cast_event_fail(r, "field \"id\" is not <seq>-<use>");
    }

    if (seq != ev->ticket) {
        return cast_event_fail(r, "field \"id\" does not match the ticket");
    }

    return 0;
}


static int
cast_event_vote(const cJSON *item, size_t i, cast_event_vote_t *v,
    cast_event_reason_t *r)
{
    char  what[48];

    if (!cJSON_IsObject(item)) {
        return cast_event_fail(r, "votes[%zu] is not an object", i);
    }

    if (cast_event_int(item, "n", 1, &v->n, r) != 0
        || cast_event_int(item, "c", 1, &v->c, r) != 0
        || cast_event_int(item, "ver", 1, &v->ver, r) != 0)
    {
        return -1;
    }

    if (v->c < v->n) {
        return cast_event_fail(r, "votes[%zu]: total below votes added", i);
    }

    snprintf(what, sizeof(what), "votes[%zu].u", i);

    return cast_event_name(cJSON_GetObjectItemCaseSensitive(item, "u"),
                           what, &v->user, r);
}


static int
cast_event_votes(const cJSON *root, cast_event_t *ev, cast_event_reason_t *r)
{
    int           n;
    size_t        i, j;
    const cJSON  *arr, *item;

    arr = cJSON_GetObjectItemCaseSensitive(root, "votes");
    if (arr == NULL) {
        return cast_event_fail(r, "missing field \"votes\"");
    }

    if (!cJSON_IsArray(arr)) {
        return cast_event_fail(r, "field \"votes\" is not an array");
    }

    n = cJSON_GetArraySize(arr);
    if (n == 0) {
        return cast_event_fail(r, "field \"votes\" is empty");
    }

    if (n > CAST_EVENT_MAX_VOTES) {
        return cast_event_fail(r, "more than %d votes", CAST_EVENT_MAX_VOTES);
    }

    ev->votes = calloc(n, sizeof(cast_event_vote_t));
    if (ev->votes == NULL) {
        return cast_event_fail(r, "out of memory");
    }

    i = 0;
    cJSON_ArrayForEach(item, arr) {
        ev->nvotes = i + 1;

        if (cast_event_vote(item, i, &ev->votes[i], r) != 0) {
            return -1;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(ev->votes[j].user, ev->votes[i].user) == 0) {
                return cast_event_fail(r, "votes[%zu]: duplicate username",
                                       i);
            }
        }

        i++;
    }

    return 0;
}


static int
cast_event_fields(const cJSON *root, cast_event_t *ev, cast_event_reason_t *r)
{
    int64_t       v;
    const cJSON  *voter;

    if (!cJSON_IsObject(root)) {
        return cast_event_fail(r, "event is not a JSON object");
    }

    if (cast_event_int(root, "v", 0, &v, r) != 0) {
        return -1;
    }

    if (v != CAST_EVENT_VERSION) {
        return cast_event_fail(r, "unsupported event version %lld",
                               (long long) v);
    }

    if (cast_event_int(root, "ts", 0, &ev->ts, r) != 0
        || cast_event_int(root, "ticket", 1, &ev->ticket, r) != 0
        || cast_event_check_id(ev, root, r) != 0)
    {
        return -1;
    }

    voter = cJSON_GetObjectItemCaseSensitive(root, "voter");
    if (voter == NULL) {
        return cast_event_fail(r, "missing field \"voter\"");
    }

    if (!cJSON_IsNull(voter)
        && cast_event_name(voter, "field \"voter\"", &ev->voter, r) != 0)
    {
        return -1;
    }

    return cast_event_votes(root, ev, r);
}


int
cast_event_decode(const char *data, size_t len, cast_event_t *ev,
    char *reason, size_t reasonlen)
{
    int                  rc;
    cJSON               *root;
    const char          *end;
    cast_event_reason_t  r;

    memset(ev, 0, sizeof(cast_event_t));
    r.buf = reason;
    r.size = reasonlen;

    if (len > CAST_EVENT_MAX_BYTES) {
        return cast_event_fail(&r, "event larger than %d bytes",
                               CAST_EVENT_MAX_BYTES);
    }

    if (cast_event_text(data, len, &r) != 0) {
        return -1;
    }

    root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (root == NULL) {
        return cast_event_fail(&r, "event is not valid JSON");
    }

    while (end < data + len
           && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
    {
        end++;
    }

    if (end != data + len) {
        cJSON_Delete(root);
        return cast_event_fail(&r, "trailing data after the event");
    }

    rc = cast_event_unique_keys(root, &r);

    if (rc == 0) {
        rc = cast_event_fields(root, ev, &r);
    }

    cJSON_Delete(root);

    if (rc != 0) {
        cast_event_free(ev);
    }

    return rc;
}


void
cast_event_free(cast_event_t *ev)
{
    size_t  i;

    for (i = 0; i < ev->nvotes; i++) {
        free(ev->votes[i].user);
    }

    free(ev->votes);
    free(ev->voter);

    ev->votes = NULL;
    ev->voter = NULL;
    ev->nvotes = 0;
}


/*
 * The canonical form is written directly, without a cJSON tree (a
 * persister wrote one per event: a dozen allocations): the bytes cJSON's
 * unformatted printer made of the same object, keys in the order v, id,
 * ts, ticket, voter, votes (u, n, c, ver), strings escaped as cJSON does
 * ('"', '\\', \b \f \n \r \t, other bytes below 0x20 as \u00xx,
 * everything else as is), integers in decimal (cJSON's own number printer
 * kept only 15 digits, so they were written raw already).
 */

static void
cast_event_put(cast_event_out_t *o, const char *s, size_t n)
{
    if (n > 0 && o->len + n <= o->size) {
        memcpy(o->buf + o->len, s, n);
    }

    o->len += n;
}


/* decimal, by hand: snprintf() was a fifth of a persister's own CPU */

static void
cast_event_put_int(cast_event_out_t *o, int64_t v)
{
    char      num[24], *p;
    uint64_t  u;

    u = (v < 0) ? 0 - (uint64_t) v : (uint64_t) v;
    p = num + sizeof(num);

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);

    if (v < 0) {
        *--p = '-';
    }

    cast_event_put(o, p, (size_t) (num + sizeof(num) - p));
}


static void
cast_event_put_str(cast_event_out_t *o, const char *s)
{
    char                  esc[8];
    size_t                n;
    const char           *q;
    const unsigned char  *p;
    static const char     from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";

    cast_event_put(o, "\"", 1);

    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        for (n = 0; p[n] >= 0x20 && p[n] != '"' && p[n] != '\\'; n++) {
            /* void */
        }

        cast_event_put(o, (const char *) p, n);
        p += n;

        if (*p == '\0') {
            break;
        }

        q = memchr(from, *p, sizeof(from) - 1);

        if (q != NULL) {
            esc[0] = '\\';
            esc[1] = to[q - from];
            cast_event_put(o, esc, 2);

        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            cast_event_put(o, esc, 6);
        }
    }

    cast_event_put(o, "\"", 1);
}


size_t
cast_event_write(const cast_event_t *ev, char *buf, size_t size)
{
    size_t             i;
    cast_event_out_t   o;
    cast_event_vote_t *v;

    o.buf = buf;
    o.len = 0;
    o.size = size;

    cast_event_put(&o, "{\"v\":", 5);
    cast_event_put_int(&o, CAST_EVENT_VERSION);
    cast_event_put(&o, ",\"id\":", 6);
    cast_event_put_str(&o, ev->id);
    cast_event_put(&o, ",\"ts\":", 6);
    cast_event_put_int(&o, ev->ts);
    cast_event_put(&o, ",\"ticket\":", 10);
    cast_event_put_int(&o, ev->ticket);
    cast_event_put(&o, ",\"voter\":", 9);

    if (ev->voter == NULL) {
        cast_event_put(&o, "null", 4);

    } else {
        cast_event_put_str(&o, ev->voter);
    }

    cast_event_put(&o, ",\"votes\":[", 10);

    for (i = 0; i < ev->nvotes; i++) {
        v = &ev->votes[i];

        cast_event_put(&o, i ? ",{\"u\":" : "{\"u\":", i ? 6 : 5);
        cast_event_put_str(&o, v->user);
        cast_event_put(&o, ",\"n\":", 5);
        cast_event_put_int(&o, v->n);
        cast_event_put(&o, ",\"c\":", 5);
        cast_event_put_int(&o, v->c);
        cast_event_put(&o, ",\"ver\":", 7);
        cast_event_put_int(&o, v->ver);
        cast_event_put(&o, "}", 1);
    }

    cast_event_put(&o, "]}", 2);

    return o.len;
}


char *
cast_event_encode(const cast_event_t *ev)
{
    char    *out;
    size_t   len;

    len = cast_event_write(ev, NULL, 0);

    out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }

    cast_event_write(ev, out, len);
    out[len] = '\0';

    return out;
}
