/*
 * GraphQL over HTTP (graphql-over-http draft): the response media type
 * from Accept, the POST Content-Type, and the request parameters from a
 * JSON body or from the URL query string.
 */

#include <strings.h>

#include "cast_gql_exec.h"


#define CAST_GQL_GQL_TYPE   "application/graphql-response+json"
#define CAST_GQL_JSON_TYPE  "application/json"


const char *
cast_gql_media_type(int media)
{
    /* JSON is UTF-8 by definition: RFC 8259 defines no charset */
    return media == CAST_MEDIA_GQL ? CAST_GQL_GQL_TYPE : CAST_GQL_JSON_TYPE;
}


static cast_str_t
cast_gql_trim(const char *s, const char *e)
{
    cast_str_t  t;

    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }

    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }

    t.data = s;
    t.len = (size_t) (e - s);

    return t;
}


static int
cast_gql_ieq(cast_str_t s, const char *lit)
{
    return s.len == strlen(lit) && strncasecmp(s.data, lit, s.len) == 0;
}


/* a q-value ("0", "0.5", "1.000") in thousandths */
static int
cast_gql_qvalue(cast_str_t v)
{
    size_t  i;
    int     q, scale;

    if (v.len == 0 || v.data[0] != '0') {
        return 1000;
    }

    q = 0;
    scale = 100;

    for (i = 2; i < v.len && i < 5 && v.data[1] == '.'; i++) {
        if (v.data[i] < '0' || v.data[i] > '9') {
            break;
        }
        q += (v.data[i] - '0') * scale;
        scale /= 10;
    }

    return q;
}


/* q in thousandths; -1 when a parameter makes the range unacceptable */
static int
cast_gql_range_params(const char *p, const char *e)
{
    const char  *semi, *eq;
    cast_str_t   name, val;
    int          q;

    q = 1000;

    while (p < e) {
        semi = memchr(p, ';', (size_t) (e - p));
        semi = semi ? semi : e;
        eq = memchr(p, '=', (size_t) (semi - p));

        if (eq != NULL) {
            name = cast_gql_trim(p, eq);
            val = cast_gql_trim(eq + 1, semi);

            if (val.len >= 2 && val.data[0] == '"') {
                val.data++;
                val.len -= 2;
            }

            if (cast_gql_ieq(name, "charset") && !cast_gql_ieq(val, "utf-8")
                && !cast_gql_ieq(val, "utf8"))
            {
                return -1;
            }

            if (cast_gql_ieq(name, "q")) {
                q = cast_gql_qvalue(val);
            }
        }

        p = semi + 1;
    }

    return q;
}


/*
 * The media range at *pp of an Accept header that ends at e: its type,
 * trimmed, and its q (cast_gql_range_params) in *rq; *pp moves past its
 * comma.
 */
static cast_str_t
cast_gql_range_next(const char **pp, const char *e, int *rq)
{
    const char  *p, *comma, *semi;

    p = *pp;
    comma = memchr(p, ',', (size_t) (e - p));
    comma = comma ? comma : e;
    semi = memchr(p, ';', (size_t) (comma - p));

    *rq = cast_gql_range_params(semi ? semi + 1 : comma, comma);
    *pp = comma + 1;

    return cast_gql_trim(p, semi ? semi : comma);
}


/*
 * The media type of the response: application/json for clients that
 * send no Accept or only wildcards (legacy clients), the GraphQL
 * response type when preferred, -1 when neither is acceptable.
 */
int
cast_gql_media(cast_str_t accept)
{
    static const char  *types[2] = { CAST_GQL_JSON_TYPE, CAST_GQL_GQL_TYPE };
    const char         *p, *e;
    cast_str_t          range;
    int                 q[2], spec[2], s, i, rq;

    if (accept.len == 0) {
        return CAST_MEDIA_JSON;
    }

    q[0] = q[1] = -1;
    spec[0] = spec[1] = 0;
    p = accept.data;
    e = accept.data + accept.len;

    while (p < e) {
        range = cast_gql_range_next(&p, e, &rq);

        for (i = 0; i < 2 && rq >= 0; i++) {
            s = cast_gql_ieq(range, types[i]) ? 3
                : cast_gql_ieq(range, "application/*") ? 2
                : cast_gql_ieq(range, "*/*") ? 1 : 0;

            if (s > spec[i]) {
                spec[i] = s;
                q[i] = rq;
            }
        }
    }

    if (q[0] <= 0 && q[1] <= 0) {
        return -1;
    }

    if (q[0] != q[1]) {
        return q[1] > q[0] ? CAST_MEDIA_GQL : CAST_MEDIA_JSON;
    }

    return spec[1] > spec[0] ? CAST_MEDIA_GQL
           : spec[1] == 3 && spec[0] == 3 ? CAST_MEDIA_GQL : CAST_MEDIA_JSON;
}


/*
 * The q of one media type under an Accept header, in thousandths, taken
 * from its most specific range (the type itself, then its major type's
 * wildcard, then the wildcard of all types, as RFC 9110 says; the type
 * itself only when major is NULL); -1 when no range matches it.
 */
static int
cast_gql_type_q(cast_str_t accept, const char *type, const char *major)
{
    const char  *p, *e;
    cast_str_t   range;
    int          q, s, spec, rq;

    q = -1;
    spec = 0;
    p = accept.data;
    e = accept.data + accept.len;

    while (p < e) {
        range = cast_gql_range_next(&p, e, &rq);

        s = cast_gql_ieq(range, type) ? 3
            : major == NULL ? 0
            : cast_gql_ieq(range, major) ? 2
            : cast_gql_ieq(range, "*/*") ? 1 : 0;

        if (s > spec) {
            spec = s;
            q = rq < 0 ? 0 : rq;
        }
    }

    return q;
}


/*
 * A browser asking for a page: text/html acceptable and preferred to both
 * JSON types, each type's q taken from its most specific range.  A tie
 * (the wildcard of all types alone, or text/html and application/json at
 * the same q) keeps the API's answer, and so does an absent Accept.
 */
int
cast_gql_prefers_html(cast_str_t accept)
{
    int  html, json, gql;

    if (accept.len == 0) {
        return 0;
    }

    html = cast_gql_type_q(accept, "text/html", "text/*");
    json = cast_gql_type_q(accept, CAST_GQL_JSON_TYPE, "application/*");
    gql = cast_gql_type_q(accept, CAST_GQL_GQL_TYPE, "application/*");

    return html > 0 && html > json && html > gql;
}


/*
 * Accept names text/event-stream itself (not with q=0; a wildcard never
 * asks for a stream): the client reads one, as GraphQL over SSE's clients
 * and a browser's EventSource ask.
 */
int
cast_gql_wants_stream(cast_str_t accept)
{
    return cast_gql_type_q(accept, "text/event-stream", NULL) > 0;
}


static int
cast_gql_json_ctype(cast_str_t ct)
{
    const char  *semi;

    if (ct.len == 0) {
        return 0;
    }

    semi = memchr(ct.data, ';', ct.len);

    if (!cast_gql_ieq(cast_gql_trim(ct.data, semi ? semi : ct.data + ct.len),
                      CAST_GQL_JSON_TYPE))
    {
        return 0;
    }

    return semi == NULL
           || cast_gql_range_params(semi + 1, ct.data + ct.len) >= 0;
}


static void
cast_gql_bad(cast_gql_params_t *p, int status, const char *error)
{
    p->status = status;
    p->error = error;
}


/* a JSON text refused: 400, or 500 when memory ran out */
static void
cast_gql_json_bad(cast_arena_t *a, cast_gql_params_t *p, int rc,
    const char *err, const char *invalid, const char *what)
{
    cast_str_t  msg;

    if (rc == CAST_JSON_NOMEM) {
        cast_gql_bad(p, 500, "Internal server error.");
        return;
    }

    if (rc == CAST_JSON_DUPLICATE) {
        msg = cast_arena_printf(a, "%s has a %s; keys must be unique.", what,
                                err);
        if (msg.data == NULL) {
            cast_gql_bad(p, 500, "Internal server error.");
            return;
        }
        cast_gql_bad(p, 400, msg.data);
        return;
    }

    cast_gql_bad(p, 400, invalid);
}


static void
cast_gql_post_params(cast_arena_t *a, cast_str_t body, cast_gql_params_t *p)
{
    cast_json_t        *root;
    const cast_json_t  *q, *v, *o, *x, *m;
    const char         *err;
    int                 rc;

    if (body.len == 0) {
        cast_gql_bad(p, 400, "The request body is empty.");
        return;
    }

    rc = cast_json_parse(a, body.data, body.len, &root, &err);

    if (rc != 0) {
        cast_gql_json_bad(a, p, rc, err, "The request body is not valid "
                          "JSON.", "The request body");
        return;
    }

    if (root->type != CAST_JSON_OBJECT) {
        cast_gql_bad(p, 400, "The request body must be a JSON object.");
        return;
    }

    q = v = o = x = NULL;

    /* one pass: the reader refused duplicate keys */
    for (m = root->child; m != NULL; m = m->next) {
        if (cast_gql_streq(m->key, "query")) {
            q = m;
        } else if (cast_gql_streq(m->key, "variables")) {
            v = m;
        } else if (cast_gql_streq(m->key, "operationName")) {
            o = m;
        } else if (cast_gql_streq(m->key, "extensions")) {
            x = m;
        }
    }

    if (q == NULL || q->type != CAST_JSON_STRING) {
        cast_gql_bad(p, 400, q == NULL ? "The query parameter is missing."
                     : "The query parameter must be a string.");

    } else if (v != NULL && v->type != CAST_JSON_NULL
               && v->type != CAST_JSON_OBJECT)
    {
        cast_gql_bad(p, 400, "The variables parameter must be an object.");

    } else if (o != NULL && o->type != CAST_JSON_NULL
               && o->type != CAST_JSON_STRING)
    {
        cast_gql_bad(p, 400, "The operationName parameter must be a string.");

    } else if (x != NULL && x->type != CAST_JSON_NULL
               && x->type != CAST_JSON_OBJECT)
    {
        cast_gql_bad(p, 400, "The extensions parameter must be an object.");

    } else {
        p->query = q->str;
        p->vars = v != NULL && v->type == CAST_JSON_OBJECT ? v : NULL;
        p->opname = o != NULL && o->type == CAST_JSON_STRING
                    ? o->str : (cast_str_t) { NULL, 0 };
    }
}


static int
cast_gql_unhex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


/* application/x-www-form-urlencoded: '+' is a space; CAST_JSON_NOMEM */
static int
cast_gql_urldecode(cast_arena_t *a, const char *s, const char *e,
    cast_str_t *out)
{
    char  *d;
    int    hi, lo;

    d = cast_arena_alloc(a, (size_t) (e - s) + 1);
    if (d == NULL) {
        return CAST_JSON_NOMEM;
    }

    out->data = d;

    while (s < e) {
        if (*s == '+') {
            *d++ = ' ';
            s++;

        } else if (*s == '%') {
            if (e - s < 3 || (hi = cast_gql_unhex(s[1])) < 0
                || (lo = cast_gql_unhex(s[2])) < 0)
            {
                return -1;
            }
            *d++ = (char) (hi * 16 + lo);
            s += 3;

        } else {
            *d++ = *s++;
        }
    }

    out->len = (size_t) (d - out->data);

    return cast_utf8_valid(out->data, out->len) ? 0 : -1;
}


/* an object or null; else what cast_json_parse() says, or -1 */
static int
cast_gql_get_json(cast_arena_t *a, cast_str_t text, const cast_json_t **out,
    const char **err)
{
    cast_json_t  *j;
    int           rc;

    rc = cast_json_parse(a, text.data, text.len, &j, err);
    if (rc != 0) {
        return rc;
    }

    if (j->type != CAST_JSON_OBJECT && j->type != CAST_JSON_NULL) {
        return -1;
    }

    *out = j->type == CAST_JSON_OBJECT ? j : NULL;

    return 0;
}


static void
cast_gql_get_params(cast_arena_t *a, cast_str_t args, cast_gql_params_t *p)
{
    static const char  *dup[] = {
        "The query string has the query parameter twice.",
        "The query string has the operationName parameter twice.",
        "The query string has the variables parameter twice.",
        "The query string has the extensions parameter twice."
    };
    const char         *s, *e, *amp, *eq, *err;
    const cast_json_t  *ext;
    cast_str_t          key, val;
    unsigned            seen;
    size_t              i;
    int                 rc;

    seen = 0;

    if (args.len == 0) {
        cast_gql_bad(p, 400, "The query parameter is missing.");
        return;
    }

    s = args.data;
    e = args.data + args.len;

    for ( /* void */ ; s < e; s = amp + 1) {
        amp = memchr(s, '&', (size_t) (e - s));
        amp = amp ? amp : e;
        eq = memchr(s, '=', (size_t) (amp - s));
        eq = eq ? eq : amp;

        rc = cast_gql_urldecode(a, s, eq, &key);
        if (rc == 0) {
            rc = cast_gql_urldecode(a, eq < amp ? eq + 1 : amp, amp, &val);
        }

        if (rc != 0) {
            cast_gql_bad(p, rc == CAST_JSON_NOMEM ? 500 : 400,
                         "The query string is not valid URL-encoded UTF-8.");
            return;
        }

        if (cast_gql_streq(key, "query")) {
            i = 0;
        } else if (cast_gql_streq(key, "operationName")) {
            i = 1;
        } else if (cast_gql_streq(key, "variables")) {
            i = 2;
        } else if (cast_gql_streq(key, "extensions")) {
            i = 3;
        } else {
            continue;
        }

        /* each parameter once, as each key of a JSON body */
        if (seen & (1u << i)) {
            cast_gql_bad(p, 400, dup[i]);
            return;
        }

        seen |= 1u << i;

        if (i == 0) {
            p->query = val;

        } else if (i == 1) {
            p->opname = val;

        } else if (i == 2) {
            rc = cast_gql_get_json(a, val, &p->vars, &err);
            if (rc != 0) {
                cast_gql_json_bad(a, p, rc, err, "The variables parameter "
                                  "must be a JSON object.", "The variables "
                                  "parameter");
                return;
            }

        } else {
            rc = cast_gql_get_json(a, val, &ext, &err);
            if (rc != 0) {
                cast_gql_json_bad(a, p, rc, err, "The extensions parameter "
                                  "must be a JSON object.", "The extensions "
                                  "parameter");
                return;
            }
        }
    }

    if (p->query.data == NULL) {
        cast_gql_bad(p, 400, "The query parameter is missing.");
    }
}


/* a Content-Encoding that leaves the body as it is: empty or identity */
int
cast_gql_identity_coding(cast_str_t coding)
{
    coding = cast_gql_trim(coding.data, coding.data + coding.len);

    return coding.len == 0 || cast_gql_ieq(coding, "identity");
}


void
cast_gql_http_params(cast_arena_t *a, const cast_gql_http_t *in,
    cast_gql_params_t *p)
{
    memset(p, 0, sizeof(cast_gql_params_t));

    if (in->method == CAST_GQL_METHOD_GET) {
        cast_gql_get_params(a, in->args, p);
        return;
    }

    if (in->method != CAST_GQL_METHOD_POST) {
        p->allow = "GET, POST";
        cast_gql_bad(p, 405, "Only GET and POST requests are supported.");
        return;
    }

    if (in->content_encoding.len) {
        cast_gql_bad(p, 415, "The request body must not be compressed; "
                     "send it without a Content-Encoding.");
        return;
    }

    if (!cast_gql_json_ctype(in->content_type)) {
        cast_gql_bad(p, 415, in->content_type.len
                     ? "The Content-Type must be application/json."
                     : "The Content-Type header is missing; send "
                       "application/json.");
        return;
    }

    cast_gql_post_params(a, in->body, p);
}
