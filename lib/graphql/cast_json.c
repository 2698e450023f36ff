/*
 * CAST JSON reader and writer.
 *
 * The reader is a recursive descent over RFC 8259 with bounded nesting;
 * strings without escapes point into the input, others are decoded into
 * the arena.  An object may not have two members of the same name (as
 * decoded): with no rule for which one counts, no reader can disagree
 * with another about what a request says.  The writer appends to one
 * buffer that doubles in the arena.
 */

#include <stdio.h>
#include <string.h>

#include "cast_json.h"
#include "cast_dec.h"


/* keys of the object being checked: a generation per object */
typedef struct {
    const cast_json_t        *member;
    uint32_t                  gen;
} cast_json_key_t;

typedef struct {
    const char               *p;
    const char               *end;
    cast_arena_t             *arena;
    const char               *err;
    int                       depth;
    int                       nomem;
    int                       dup;
    cast_json_key_t          *keys;     /* grows, never shrinks */
    size_t                    mask;
    uint32_t                  gen;
} cast_json_rd_t;


static cast_json_t *cast_json_value(cast_json_rd_t *r);


/*
 * s as a message quotes it, into buf (CAST_JSON_EXCERPT bytes): at
 * most 64 bytes, cut between code points and before a NUL ("\u0000" in
 * JSON, where %.*s would stop without a word), then "..." when cut; the
 * text ends in a NUL.
 */
const char *
cast_json_excerpt(char *buf, cast_str_t s)
{
    size_t       n;
    const char  *nul;

    n = s.len <= 64 ? s.len : cast_utf8_cut(s.data, 64);

    nul = memchr(s.data, '\0', n);
    if (nul != NULL) {
        n = (size_t) (nul - s.data);
    }

    memcpy(buf, s.data, n);

    if (n < s.len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }

    buf[n] = '\0';

    return buf;
}


static void
cast_json_ws(cast_json_rd_t *r)
{
    while (r->p < r->end
           && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n'
               || *r->p == '\r'))
    {
        r->p++;
    }
}


static int
cast_json_hex4(const char *p, uint32_t *v)
{
    int  i;
    char c;

    *v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];
        *v <<= 4;

        if (c >= '0' && c <= '9') {
            *v |= (uint32_t) (c - '0');
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            *v |= (uint32_t) ((c | 0x20) - 'a' + 10);
        } else {
            return -1;
        }
    }

    return 0;
}


static int
cast_json_unescape(cast_json_rd_t *r, const char *s, const char *e,
    cast_str_t *out)
{
    char      *d;
    uint32_t   c, lo;

    d = cast_arena_alloc(r->arena, (size_t) (e - s) + 1);
    if (d == NULL) {
        r->err = "out of memory";
        r->nomem = 1;
        return -1;
    }

    out->data = d;

    while (s < e) {
        if (*s != '\\') {
            *d++ = *s++;
            continue;
        }

        s++;

        switch (*s++) {
        case '"': *d++ = '"'; continue;
        case '\\': *d++ = '\\'; continue;
        case '/': *d++ = '/'; continue;
        case 'b': *d++ = '\b'; continue;
        case 'f': *d++ = '\f'; continue;
        case 'n': *d++ = '\n'; continue;
        case 'r': *d++ = '\r'; continue;
        case 't': *d++ = '\t'; continue;
        case 'u': break;
        default:
            r->err = "invalid escape in JSON string";
            return -1;
        }

        if (e - s < 4 || cast_json_hex4(s, &c) != 0) {
            r->err = "invalid \\u escape in JSON string";
            return -1;
        }

        s += 4;

        if (c >= 0xd800 && c <= 0xdbff) {
            if (e - s < 6 || s[0] != '\\' || s[1] != 'u'
                || cast_json_hex4(s + 2, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff)
            {
                r->err = "unpaired surrogate in JSON string";
                return -1;
            }

            s += 6;
            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);

        } else if (c >= 0xdc00 && c <= 0xdfff) {
            r->err = "unpaired surrogate in JSON string";
            return -1;
        }

        d = cast_utf8_put(d, c);
    }

    out->len = (size_t) (d - out->data);

    return 0;
}


/*
 * The run of plain bytes from p (before end): neither '"', '\\' nor a
 * control character; *high collects their bits (0x80: not ASCII).  Local
 * pointers: a char store through r->p could alias r->p itself, which
 * would reload it each byte.
 */

/* a byte of 1 in each of a 64-bit word's eight */
#define CAST_JSON_ONES  0x0101010101010101ULL

/* the top bit set in some byte of the result when some byte of x is < n */
#define cast_json_below(x, n)  (((x) - CAST_JSON_ONES * (n)) & ~(x))

static const unsigned char  cast_json_stop[256] = {
    [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1
};


static const char *
cast_json_plain(const char *p, const char *end, unsigned *high)
{
    uint64_t       x, h8;
    unsigned char  c;
    unsigned       h;

    /*
     * Eight bytes at a time while none stops the run: a byte below 0x20
     * (the borrow of x - 0x20.. reaches the top bit of such a byte, never
     * of one with its top bit set), or one equal to '"' or '\\' (a zero
     * byte of x xor their pattern); the rest byte by byte.
     */
    h8 = 0;

    while (end - p >= 8) {
        memcpy(&x, p, 8);

        if ((cast_json_below(x, 0x20)
             | cast_json_below(x ^ (CAST_JSON_ONES * '"'), 1)
             | cast_json_below(x ^ (CAST_JSON_ONES * '\\'), 1))
            & (CAST_JSON_ONES * 0x80))
        {
            break;
        }

        h8 |= x;
        p += 8;
    }

    h = (h8 & (CAST_JSON_ONES * 0x80)) ? 0x80 : 0;

    while (p < end) {
        c = (unsigned char) *p;

        if (cast_json_stop[c]) {
            break;
        }

        h |= c;
        p++;
    }

    *high |= h;

    return p;
}


static int
cast_json_string(cast_json_rd_t *r, cast_str_t *out)
{
    const char  *s, *p, *end;
    unsigned     high;
    int          esc;

    s = r->p + 1;
    p = s;
    end = r->end;
    esc = 0;
    high = 0;

    for ( ;; ) {
        p = cast_json_plain(p, end, &high);

        if (p == end || *p == '"') {
            break;
        }

        if ((unsigned char) *p < 0x20) {
            r->p = p;
            r->err = "control character in JSON string";
            return -1;
        }

        /* a backslash and the byte it escapes, checked when decoded */
        esc = 1;
        p++;

        if (p == end) {
            break;
        }

        p++;
    }

    r->p = p;

    if (p >= end) {
        r->err = "unterminated JSON string";
        return -1;
    }

    if ((high & 0x80) && !cast_utf8_valid(s, (size_t) (p - s))) {
        r->err = "invalid UTF-8 in JSON string";
        return -1;
    }

    if (esc) {
        if (cast_json_unescape(r, s, p, out) != 0) {
            return -1;
        }

    } else {
        out->data = s;
        out->len = (size_t) (p - s);
    }

    r->p++;

    return 0;
}


static int
cast_json_number(cast_json_rd_t *r, cast_str_t *out)
{
    const char  *s;

    s = r->p;

    if (r->p < r->end && *r->p == '-') {
        r->p++;
    }

    if (r->p < r->end && *r->p == '0') {
        r->p++;

    } else if (r->p < r->end && *r->p >= '1' && *r->p <= '9') {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            r->p++;
        }

    } else {
        goto bad;
    }

    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p == r->end || *r->p < '0' || *r->p > '9') {
            goto bad;
        }
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            r->p++;
        }
    }

    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) {
            r->p++;
        }
        if (r->p == r->end || *r->p < '0' || *r->p > '9') {
            goto bad;
        }
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            r->p++;
        }
    }

    out->data = s;
    out->len = (size_t) (r->p - s);

    return 0;

bad:

    r->err = "invalid JSON number";
    return -1;
}


static int
cast_json_word(cast_json_rd_t *r, const char *w, size_t n)
{
    if ((size_t) (r->end - r->p) < n || memcmp(r->p, w, n) != 0) {
        r->err = "unexpected character in JSON";
        return -1;
    }

    r->p += n;

    return 0;
}


static int
cast_json_duplicate(cast_json_rd_t *r, const cast_json_t *m)
{
    char        q[CAST_JSON_EXCERPT];
    cast_str_t  msg;

    msg = cast_arena_printf(r->arena, "duplicate key \"%s\"",
                            cast_json_excerpt(q, m->key));
    r->err = msg.data != NULL ? msg.data : "duplicate key";
    r->dup = 1;

    return -1;
}


/* every member name of an object once: pairs when few, a table else */
static int
cast_json_unique(cast_json_rd_t *r, const cast_json_t *obj)
{
    const cast_json_t  *m, *o;
    cast_json_key_t    *k;
    size_t              size, i;

    if (obj->n <= 8) {
        for (m = obj->child; m != NULL; m = m->next) {
            for (o = obj->child; o != m; o = o->next) {
                if (o->key.len == m->key.len
                    && memcmp(o->key.data, m->key.data, m->key.len) == 0)
                {
                    return cast_json_duplicate(r, m);
                }
            }
        }
        return 0;
    }

    if (r->keys == NULL || obj->n * 2 > r->mask + 1) {
        for (size = 32; size < obj->n * 2; size *= 2) {
            /* void */
        }

        r->keys = cast_arena_calloc(r->arena, size * sizeof(cast_json_key_t));
        if (r->keys == NULL) {
            r->err = "out of memory";
            r->nomem = 1;
            return -1;
        }

        r->mask = size - 1;
        r->gen = 0;
    }

    r->gen++;

    for (m = obj->child; m != NULL; m = m->next) {
        i = (size_t) cast_gql_hash(m->key.data, m->key.len) & r->mask;

        for ( ;; ) {
            k = &r->keys[i];

            if (k->gen != r->gen) {
                k->member = m;
                k->gen = r->gen;
                break;
            }

            if (k->member->key.len == m->key.len
                && memcmp(k->member->key.data, m->key.data, m->key.len) == 0)
            {
                return cast_json_duplicate(r, m);
            }

            i = (i + 1) & r->mask;
        }
    }

    return 0;
}


static int
cast_json_members(cast_json_rd_t *r, cast_json_t *v, char close)
{
    cast_json_t  **tail, *item;
    cast_str_t     key;

    tail = &v->child;
    r->p++;
    cast_json_ws(r);

    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 0;
    }

    for ( ;; ) {
        cast_json_ws(r);

        if (close == '}') {
            if (r->p == r->end || *r->p != '"') {
                r->err = "expected a string key in JSON object";
                return -1;
            }

            if (cast_json_string(r, &key) != 0) {
                return -1;
            }

            cast_json_ws(r);

            if (r->p == r->end || *r->p != ':') {
                r->err = "expected ':' in JSON object";
                return -1;
            }

            r->p++;
        }

        item = cast_json_value(r);
        if (item == NULL) {
            return -1;
        }

        if (close == '}') {
            item->key = key;
        }

        *tail = item;
        tail = &item->next;
        v->n++;

        cast_json_ws(r);

        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }

        if (r->p < r->end && *r->p == close) {
            r->p++;
            return close == '}' ? cast_json_unique(r, v) : 0;
        }

        r->err = close == '}' ? "expected ',' or '}' in JSON object"
                              : "expected ',' or ']' in JSON array";
        return -1;
    }
}


static cast_json_t *
cast_json_value(cast_json_rd_t *r)
{
    int           rc;
    cast_json_t  *v;

    cast_json_ws(r);

    if (r->p == r->end) {
        r->err = "unexpected end of JSON";
        return NULL;
    }

    v = cast_arena_calloc(r->arena, sizeof(cast_json_t));
    if (v == NULL) {
        r->err = "out of memory";
        r->nomem = 1;
        return NULL;
    }

    switch (*r->p) {

    case '{':
    case '[':
        if (++r->depth > CAST_GQL_MAX_NEST) {
            r->err = "JSON nested too deeply";
            return NULL;
        }
        v->type = *r->p == '{' ? CAST_JSON_OBJECT : CAST_JSON_ARRAY;
        rc = cast_json_members(r, v, *r->p == '{' ? '}' : ']');
        r->depth--;
        break;

    case '"':
        v->type = CAST_JSON_STRING;
        rc = cast_json_string(r, &v->str);
        break;

    case 't':
        v->type = CAST_JSON_TRUE;
        rc = cast_json_word(r, "true", 4);
        break;

    case 'f':
        v->type = CAST_JSON_FALSE;
        rc = cast_json_word(r, "false", 5);
        break;

    case 'n':
        v->type = CAST_JSON_NULL;
        rc = cast_json_word(r, "null", 4);
        break;

    default:
        v->type = CAST_JSON_NUMBER;
        rc = cast_json_number(r, &v->str);
    }

    return rc == 0 ? v : NULL;
}


int
cast_json_parse(cast_arena_t *a, const char *s, size_t n, cast_json_t **out,
    const char **err)
{
    cast_json_rd_t  r;

    r.p = s;
    r.end = s + n;
    r.arena = a;
    r.err = NULL;
    r.depth = 0;
    r.nomem = 0;
    r.dup = 0;
    r.keys = NULL;
    r.mask = 0;
    r.gen = 0;

    *out = cast_json_value(&r);

    if (*out != NULL) {
        cast_json_ws(&r);
        if (r.p != r.end) {
            r.err = "unexpected data after JSON value";
            *out = NULL;
        }
    }

    *err = r.err;

    return *out != NULL ? 0
           : r.nomem ? CAST_JSON_NOMEM
           : r.dup ? CAST_JSON_DUPLICATE : -1;
}


void
cast_json_w_init(cast_json_w_t *w, cast_arena_t *a, size_t cap)
{
    static char  none[1];

    w->arena = a;
    w->len = 0;
    w->cap = cap;
    w->nomem = 0;
    w->buf = cast_arena_alloc(a, cap);

    /* nothing fits, but an empty write still has somewhere to go */
    if (w->buf == NULL) {
        w->buf = none;
        w->cap = 0;
        w->nomem = 1;
    }
}


static int
cast_json_grow(cast_json_w_t *w, size_t need)
{
    char    *nb;
    size_t   cap;

    if (w->nomem) {
        return -1;
    }

    cap = w->cap * 2;
    while (cap < w->len + need) {
        cap *= 2;
    }

    nb = cast_arena_alloc(w->arena, cap);
    if (nb == NULL) {
        w->nomem = 1;
        return -1;
    }

    memcpy(nb, w->buf, w->len);
    w->buf = nb;
    w->cap = cap;

    return 0;
}


void
cast_json_append(cast_json_w_t *w, const char *s, size_t n)
{
    if (w->cap - w->len < n && cast_json_grow(w, n) != 0) {
        return;
    }

    memcpy(w->buf + w->len, s, n);
    w->len += n;
}


void
cast_json_str(cast_json_w_t *w, const char *s, size_t n)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      c;
    char              *d;
    size_t             i;

    /* the worst case is six bytes per input byte */
    if (w->cap - w->len < n * 6 + 2 && cast_json_grow(w, n * 6 + 2) != 0) {
        return;
    }

    d = w->buf + w->len;
    *d++ = '"';

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            *d++ = (char) c;
            continue;
        }

        *d++ = '\\';

        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        default:
            *d++ = 'u'; *d++ = '0'; *d++ = '0';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 0xf];
        }
    }

    *d++ = '"';
    w->len = (size_t) (d - w->buf);
}


void
cast_json_int(cast_json_w_t *w, int64_t v)
{
    /* the sign and the digits of INT64_MIN at most */
    if (w->cap - w->len < CAST_DEC_LEN
        && cast_json_grow(w, CAST_DEC_LEN) != 0)
    {
        return;
    }

    w->len = (size_t) (cast_dec_signed(w->buf + w->len, v) - w->buf);
}
