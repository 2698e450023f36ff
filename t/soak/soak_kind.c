
/*
 * Copyright (C) CAST developers
 *
 * The kinds of soak traffic: how each request is written.  Every request
 * carries its own token, soakq<id>q, as the alias of its fields (or in a
 * comment), so that soak_check.c can tell an answer to someone else.
 *
 * Names voted for come from two pools: <tag>_n<k> for votes whose answer
 * we read (the ledger then knows each one exactly), <tag>_x<k> for votes
 * whose client leaves on purpose (they may or may not count).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"


typedef struct {
    char   *data;
    size_t  len;
    size_t  size;
} soak_buf_t;


static void soak_buf_add(soak_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void soak_names_json(soak_buf_t *b, soak_req_t *rq,
    soak_field_t *f);
static void soak_pick_field(soak_req_t *rq, soak_field_t *f);
static void soak_vote_text(soak_buf_t *q, soak_req_t *rq, int inline_ticket);
static void soak_http_post(soak_req_t *rq, soak_buf_t *q, const char *vars);
static void soak_http_get(soak_req_t *rq, soak_buf_t *q);


soak_stats_t  soak_stats;

static const char  *soak_tag;
static unsigned     soak_names;
static uint64_t     soak_next_id = 1;
static char         soak_ticket[256];

static const char  *soak_kind_names[SOAK_NKINDS] = {
    "query", "vote", "aliased", "cas", "churn", "error", "introspection",
    "bad_ticket", "abort"
};

static const char  *soak_outcome_names[SOAK_NOUTCOMES] = {
    "ok", "rejected", "unavailable", "aborted",
    "bad_http", "bad_json", "mismatch", "foreign", "reset", "hang"
};


void
soak_kind_init(const char *tag, unsigned names)
{
    soak_tag = tag;
    soak_names = names;
    soak_ledger_init(names);
}


const char *
soak_kind_name(soak_kind_e kind)
{
    return soak_kind_names[kind];
}


const char *
soak_outcome_name(soak_outcome_e o)
{
    return soak_outcome_names[o];
}


void
soak_set_ticket(const char *ticket, size_t len)
{
    if (len < sizeof(soak_ticket)) {
        memcpy(soak_ticket, ticket, len);
        soak_ticket[len] = '\0';
    }
}


int
soak_have_ticket(void)
{
    return soak_ticket[0] != '\0';
}


static void
soak_buf_add(soak_buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    for ( ;; ) {
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->size - b->len, fmt, ap);
        va_end(ap);

        if (n >= 0 && (size_t) n < b->size - b->len) {
            b->len += n;
            return;
        }

        b->size = b->size * 2 + n + 64;
        b->data = realloc(b->data, b->size);
        if (b->data == NULL) {
            fprintf(stderr, "cast-soak: out of memory\n");
            exit(2);
        }
    }
}


/* name i of a pool: <tag>_n<i>, or <tag>_x<i> for the votes left */
const char *
soak_name(int uncertain_pool, unsigned i)
{
    static char  name[64];

    snprintf(name, sizeof(name), "%s_%c%u", soak_tag,
             uncertain_pool ? 'x' : 'n', i);
    return name;
}


/* distinct names, 1 to 3 votes each */
static void
soak_pick_field(soak_req_t *rq, soak_field_t *f)
{
    unsigned  i, j, k;

    (void) rq;
    f->n = 1 + random() % SOAK_MAX_NAMES;

    for (i = 0; i < f->n; i++) {
        do {
            k = random() % soak_names;
            for (j = 0; j < i && f->name[j] != k; j++) { /* void */ }
        } while (j < i);

        f->name[i] = k;
        f->count[i] = 1 + random() % 3;
    }
}


static void
soak_names_json(soak_buf_t *b, soak_req_t *rq, soak_field_t *f)
{
    unsigned  i;

    soak_buf_add(b, "usernames: [");
    for (i = 0; i < f->n; i++) {
        soak_buf_add(b, "%s\\\"%s\\\"", i ? ", " : "",
                     soak_name(rq->uncertain_pool, f->name[i]));
    }

    soak_buf_add(b, "], voteCount: [");
    for (i = 0; i < f->n; i++) {
        soak_buf_add(b, "%s%u", i ? ", " : "", f->count[i]);
    }

    soak_buf_add(b, "]");
}


/* the alias of field i: soakq<id>q, or soakq<id>q_<i> when several */
void
soak_alias(soak_req_t *rq, int i, char *buf, size_t size)
{
    if (rq->nfields > 1) {
        snprintf(buf, size, "soakq%lluq_%d", (unsigned long long) rq->id, i);
    } else {
        snprintf(buf, size, "soakq%lluq", (unsigned long long) rq->id);
    }
}


/* the query text of a vote request: rq->nfields fields, one alias each */
static void
soak_vote_text(soak_buf_t *q, soak_req_t *rq, int inline_ticket)
{
    int   i;
    char  alias[48];

    soak_buf_add(q, inline_ticket ? "mutation { " : "mutation($t: String!) { ");

    for (i = 0; i < rq->nfields; i++) {
        soak_alias(rq, i, alias, sizeof(alias));
        soak_buf_add(q, "%s: vote(", alias);
        soak_names_json(q, rq, &rq->field[i]);

        if (inline_ticket) {
            soak_buf_add(q, ", ticket: \\\"%s\\\"", soak_ticket);
        } else {
            soak_buf_add(q, ", ticket: $t");
        }

        if (rq->variant == 2) {
            soak_buf_add(q, ", voterUsername: \\\"%s\\\", "
                         "idempotencyKey: \\\"%s\\\"", alias, alias);
        }

        soak_buf_add(q, ") { success message usernames votes } ");
    }

    soak_buf_add(q, "}");
}


/* a POST of {"query": q, "variables": vars} */
static void
soak_http_post(soak_req_t *rq, soak_buf_t *q, const char *vars)
{
    soak_buf_t  b = { NULL, 0, 0 };
    soak_buf_t  r = { NULL, 0, 0 };

    soak_buf_add(&b, "{\"query\":\"%.*s\"", (int) q->len, q->data);
    if (vars != NULL) {
        soak_buf_add(&b, ",\"variables\":%s", vars);
    }
    soak_buf_add(&b, "}");

    soak_buf_add(&r, "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Type: application/json\r\n"
                 "Accept: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%.*s", b.len, (int) b.len,
                 b.data);

    free(b.data);
    rq->text = r.data;
    rq->len = r.len;
}


/* a GET with the query in the URL: every byte but [A-Za-z0-9_] encoded */
static void
soak_http_get(soak_req_t *rq, soak_buf_t *q)
{
    size_t       i;
    soak_buf_t   r = { NULL, 0, 0 };
    const char  *p;

    soak_buf_add(&r, "GET /graphql?query=");

    for (i = 0; i < q->len; i++) {
        p = &q->data[i];

        if (*p == '\\') {           /* the JSON escape of a quote */
            continue;
        }

        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '_')
        {
            soak_buf_add(&r, "%c", *p);
        } else {
            soak_buf_add(&r, "%%%02X", (unsigned char) *p);
        }
    }

    soak_buf_add(&r, " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Accept: application/json\r\n\r\n");
    rq->text = r.data;
    rq->len = r.len;
}


static void
soak_build_query(soak_req_t *rq, soak_buf_t *q)
{
    unsigned  k;
    char      vars[96];

    k = random() % soak_names;
    rq->variant = random() % 3;

    if (rq->variant == 1) {
        soak_buf_add(q, "query($u: String!) { soakq%lluq: "
                     "query(username: $u) }", (unsigned long long) rq->id);
        snprintf(vars, sizeof(vars), "{\"u\":\"%s\"}",
                 soak_name(rq->uncertain_pool, k));
        soak_http_post(rq, q, vars);
        return;
    }

    soak_buf_add(q, "{ soakq%lluq: query(username: \\\"%s\\\") }",
                 (unsigned long long) rq->id, soak_name(rq->uncertain_pool, k));

    if (rq->variant == 2) {
        soak_http_get(rq, q);
    } else {
        soak_http_post(rq, q, NULL);
    }
}


static void
soak_build_vote(soak_req_t *rq, soak_buf_t *q, int heavy)
{
    int   i, inline_ticket;
    char  vars[320];

    if (rq->kind == SOAK_VOTE || rq->kind == SOAK_ABORT) {
        rq->nfields = 1;
    } else {
        rq->nfields = heavy ? SOAK_MAX_FIELDS : 2 + random() % 3;
        rq->heavy = heavy;
    }

    for (i = 0; i < rq->nfields; i++) {
        soak_pick_field(rq, &rq->field[i]);
    }

    rq->variant = random() % 3;
    inline_ticket = rq->variant == 1;

    soak_vote_text(q, rq, inline_ticket);
    snprintf(vars, sizeof(vars), "{\"t\":\"%s\"}", soak_ticket);
    soak_http_post(rq, q, inline_ticket ? NULL : vars);
}


/* a well-formed ticket whose MAC cannot match: its last byte changed */
static void
soak_build_badticket(soak_req_t *rq, soak_buf_t *q)
{
    size_t  n;
    char    forged[sizeof(soak_ticket)];

    rq->nfields = 1;
    soak_pick_field(rq, &rq->field[0]);

    strcpy(forged, soak_ticket);
    n = strlen(forged);
    if (n > 0) {
        forged[n - 1] = forged[n - 1] == 'A' ? 'B' : 'A';
    }

    soak_buf_add(q, "mutation { soakq%lluq: vote(",
                 (unsigned long long) rq->id);
    soak_names_json(q, rq, &rq->field[0]);
    soak_buf_add(q, ", ticket: \\\"%s\\\") { success message } }", forged);
    soak_http_post(rq, q, NULL);
}


static void
soak_build_churn(soak_req_t *rq, soak_buf_t *q)
{
    rq->variant = random() % 2;

    if (rq->variant == 0) {
        soak_buf_add(q, "{ soakq%lluq: __typename }",
                     (unsigned long long) rq->id);
    } else {
        /* the shape of the report in issue 12: only a comment differs */
        soak_buf_add(q, "{__typename } # soakq%lluq",
                     (unsigned long long) rq->id);
    }

    soak_http_post(rq, q, NULL);
}


/*
 * Light: two unknown fields.  Heavy: the amplifier of issue 12, a long
 * comment line and then hundreds of unknown fields, each an error.
 */
static void
soak_build_error(soak_req_t *rq, soak_buf_t *q, int heavy)
{
    int  i;

    rq->heavy = heavy;

    if (!heavy) {
        soak_buf_add(q, "{ soakq%lluq_a: nosuch soakq%lluq_b(x: 1) }",
                     (unsigned long long) rq->id,
                     (unsigned long long) rq->id);
        soak_http_post(rq, q, NULL);
        return;
    }

    soak_buf_add(q, "#");
    for (i = 0; i < 6000; i++) {
        soak_buf_add(q, "c");
    }
    soak_buf_add(q, "\\n{");
    for (i = 0; i < 600; i++) {
        soak_buf_add(q, " soakq%lluq", (unsigned long long) rq->id);
    }
    soak_buf_add(q, " }");
    soak_http_post(rq, q, NULL);
}


static void
soak_build_intro(soak_req_t *rq, soak_buf_t *q, int shape)
{
    int  i;

    rq->heavy = shape == SOAK_HEAVY;

    if (shape == SOAK_WIDE) {
        /* two aliases of every type's fields, for the slow readers */
        rq->nfields = 2;
        soak_buf_add(q, "{");
        for (i = 0; i < rq->nfields; i++) {
            soak_buf_add(q, " soakq%lluq_%d: __schema { queryType { name } "
                         "types { name kind description fields { name "
                         "description args { name type { name } } type { "
                         "name kind ofType { name kind } } } } }",
                         (unsigned long long) rq->id, i);
        }
        soak_buf_add(q, " }");
        soak_http_post(rq, q, NULL);
        return;
    }

    if (shape == SOAK_LIGHT) {
        soak_buf_add(q, "{ soakq%lluq: __schema { queryType { name } "
                     "types { name kind } } }", (unsigned long long) rq->id);
        soak_http_post(rq, q, NULL);
        return;
    }

    /* 20 aliases of a deep fragment over every type's fields */
    rq->nfields = 20;
    soak_buf_add(q, "{");
    for (i = 0; i < rq->nfields; i++) {
        soak_buf_add(q, " soakq%lluq_%d: __schema { ...F }",
                     (unsigned long long) rq->id, i);
    }
    soak_buf_add(q, " } fragment F on __Schema { types { name fields { name "
                 "type { name ofType { name fields { name type { name "
                 "ofType { name fields { name } } } } } } } } }");
    soak_http_post(rq, q, NULL);
}


soak_req_t *
soak_req_new(soak_kind_e kind, int shape)
{
    soak_buf_t   q = { NULL, 0, 0 };
    soak_req_t  *rq;

    rq = calloc(1, sizeof(soak_req_t));
    if (rq == NULL) {
        fprintf(stderr, "cast-soak: out of memory\n");
        exit(2);
    }

    rq->id = soak_next_id++;
    rq->kind = kind;
    rq->uncertain_pool = kind == SOAK_ABORT;

    switch (kind) {
    case SOAK_QUERY:
        soak_build_query(rq, &q);
        break;
    case SOAK_VOTE:
    case SOAK_ALIASED:
    case SOAK_ABORT:
        soak_build_vote(rq, &q, shape == SOAK_HEAVY);
        break;
    case SOAK_CAS:
        soak_buf_add(&q, "{ soakq%lluq: cas { ticket validUntil "
                     "remainingUsage } }", (unsigned long long) rq->id);
        soak_http_post(rq, &q, NULL);
        break;
    case SOAK_CHURN:
        soak_build_churn(rq, &q);
        break;
    case SOAK_ERROR:
        soak_build_error(rq, &q, shape == SOAK_HEAVY);
        break;
    case SOAK_INTRO:
        soak_build_intro(rq, &q, shape);
        break;
    case SOAK_BADTICKET:
        soak_build_badticket(rq, &q);
        break;
    default:
        break;
    }

    free(q.data);
    soak_stats.sent[kind]++;
    return rq;
}


void
soak_req_free(soak_req_t *rq)
{
    free(rq->text);
    free(rq);
}
