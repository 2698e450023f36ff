
/*
 * Copyright (C) CAST developers
 *
 * The kinds of soak traffic: how each request is written, and what its
 * answer must be.  Every request carries its own token, soakq<id>q, as the
 * alias of its fields (or in a comment); an answer that names any other
 * token, or lacks one of its own aliases, answers someone else.
 *
 * Names voted for come from two pools: <tag>_n<k> for votes whose answer
 * we read (the ledger then knows each one exactly), <tag>_x<k> for votes
 * whose client leaves on purpose (they may or may not count).
 */

#include <cjson/cJSON.h>
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
static const char *soak_name(soak_req_t *rq, unsigned i);
static int soak_foreign(soak_req_t *rq, const char *body, size_t len);
static cJSON *soak_error_for(cJSON *errors, const char *alias);
static const char *soak_error_code(cJSON *e);
static void soak_count_code(const char *code);
static soak_outcome_e soak_check_data(soak_req_t *rq, cJSON *root,
    char *why, size_t size);
static soak_outcome_e soak_check_vote(soak_req_t *rq, int i, cJSON *v,
    cJSON *errors, char *why, size_t size);
static int soak_only_keys(cJSON *obj, soak_req_t *rq);
static void soak_alias(soak_req_t *rq, int i, char *buf, size_t size);


soak_stats_t  soak_stats;

static const char  *soak_tag;
static unsigned     soak_names;
static uint64_t     soak_next_id = 1;
static char         soak_ticket[256];
static uint64_t    *soak_acked;         /* per name, both pools */
static uint64_t    *soak_maybe;

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
    soak_acked = calloc(2 * names, sizeof(uint64_t));
    soak_maybe = calloc(2 * names, sizeof(uint64_t));

    if (soak_acked == NULL || soak_maybe == NULL) {
        fprintf(stderr, "cast-soak: out of memory\n");
        exit(2);
    }
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


static const char *
soak_name(soak_req_t *rq, unsigned i)
{
    static char  name[64];

    snprintf(name, sizeof(name), "%s_%c%u", soak_tag,
             rq->uncertain_pool ? 'x' : 'n', i);
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
                     soak_name(rq, f->name[i]));
    }

    soak_buf_add(b, "], voteCount: [");
    for (i = 0; i < f->n; i++) {
        soak_buf_add(b, "%s%u", i ? ", " : "", f->count[i]);
    }

    soak_buf_add(b, "]");
}


static void
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
        snprintf(vars, sizeof(vars), "{\"u\":\"%s\"}", soak_name(rq, k));
        soak_http_post(rq, q, vars);
        return;
    }

    soak_buf_add(q, "{ soakq%lluq: query(username: \\\"%s\\\") }",
                 (unsigned long long) rq->id, soak_name(rq, k));

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


/*
 * 1 when the answer names a token soakq<n>q that is not its own.  A
 * ticket (base64url) holds such a run of letters about once in 10^11
 * positions: a soak reads some 10^6 of them.
 */
static int
soak_foreign(soak_req_t *rq, const char *body, size_t len)
{
    size_t               i;
    unsigned long long   n;
    const char          *p, *end;

    end = body + len;

    for (p = body; p + 5 < end; p++) {
        if (memcmp(p, "soakq", 5) != 0 || p[5] < '0' || p[5] > '9') {
            continue;
        }

        n = 0;
        for (i = 5; p + i < end && p[i] >= '0' && p[i] <= '9'; i++) {
            n = n * 10 + (p[i] - '0');
        }

        if (p + i < end && p[i] == 'q' && n != rq->id) {
            return 1;
        }
    }

    return 0;
}


/* 0 when the bytes are UTF-8 without raw control characters */
static int
soak_bad_bytes(const char *body, size_t len)
{
    size_t          i, k, n;
    const uint8_t  *p = (const uint8_t *) body;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') {
            return 1;
        }

        if (p[i] < 0x80) {
            continue;
        }

        n = (p[i] & 0xe0) == 0xc0 ? 1 : (p[i] & 0xf0) == 0xe0 ? 2
            : (p[i] & 0xf8) == 0xf0 ? 3 : 0;
        if (n == 0 || i + n >= len) {
            return 1;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 1;
            }
        }

        i += n;
    }

    return 0;
}


/* the error about the field under alias, or about the whole request */
static cJSON *
soak_error_for(cJSON *errors, const char *alias)
{
    cJSON  *e, *path, *first;

    cJSON_ArrayForEach(e, errors) {
        path = cJSON_GetObjectItemCaseSensitive(e, "path");
        if (path == NULL) {
            return e;
        }

        first = cJSON_GetArrayItem(path, 0);
        if (cJSON_IsString(first) && strcmp(first->valuestring, alias) == 0) {
            return e;
        }
    }

    return NULL;
}


static const char *
soak_error_code(cJSON *e)
{
    cJSON  *ext, *code;

    ext = cJSON_GetObjectItemCaseSensitive(e, "extensions");
    code = cJSON_GetObjectItemCaseSensitive(ext, "code");

    return cJSON_IsString(code) ? code->valuestring : "";
}


/* how many errors of each extensions.code the answers carried */
static void
soak_count_code(const char *code)
{
    int  i;

    if (code[0] == '\0') {
        code = "(none)";
    }

    for (i = 0; i < SOAK_CODES; i++) {
        if (soak_stats.code[i][0] == '\0') {
            snprintf(soak_stats.code[i], sizeof(soak_stats.code[i]), "%s",
                     code);
        }

        if (strncmp(soak_stats.code[i], code, sizeof(soak_stats.code[i]) - 1)
            == 0)
        {
            soak_stats.code_count[i]++;
            return;
        }
    }
}


/* 1 when obj has exactly the aliases of rq, each once */
static int
soak_only_keys(cJSON *obj, soak_req_t *rq)
{
    int     i, n, nexp;
    char    alias[48];
    cJSON  *item;

    nexp = rq->nfields > 1 ? rq->nfields : 1;
    n = cJSON_GetArraySize(obj);
    if (n != nexp) {
        return 0;
    }

    i = 0;
    cJSON_ArrayForEach(item, obj) {
        if (rq->kind == SOAK_CHURN && rq->variant == 1) {
            snprintf(alias, sizeof(alias), "__typename");
        } else {
            soak_alias(rq, i, alias, sizeof(alias));
        }

        if (item->string == NULL || strcmp(item->string, alias) != 0) {
            return 0;
        }

        i++;
    }

    return 1;
}


static int
soak_same_field(cJSON *v, soak_req_t *rq, soak_field_t *f)
{
    int     i;
    cJSON  *names, *votes, *x;

    names = cJSON_GetObjectItemCaseSensitive(v, "usernames");
    votes = cJSON_GetObjectItemCaseSensitive(v, "votes");

    if (cJSON_GetArraySize(names) != f->n
        || cJSON_GetArraySize(votes) != f->n)
    {
        return 0;
    }

    for (i = 0; i < f->n; i++) {
        x = cJSON_GetArrayItem(names, i);
        if (!cJSON_IsString(x)
            || strcmp(x->valuestring, soak_name(rq, f->name[i])) != 0)
        {
            return 0;
        }

        /* the name's total after this vote */
        x = cJSON_GetArrayItem(votes, i);
        if (!cJSON_IsNumber(x) || x->valuedouble < f->count[i]) {
            return 0;
        }
    }

    return 1;
}


static void
soak_ledger_field(soak_req_t *rq, soak_field_t *f, uint64_t *to)
{
    int       i;
    unsigned  base;

    base = rq->uncertain_pool ? soak_names : 0;

    for (i = 0; i < f->n; i++) {
        to[base + f->name[i]] += f->count[i];
        if (to == soak_acked) {
            soak_stats.accepted_names += f->count[i];
        }
    }
}


void
soak_ledger_uncertain(soak_req_t *rq)
{
    int  i;

    for (i = 0; i < rq->nfields; i++) {
        soak_ledger_field(rq, &rq->field[i], soak_maybe);
    }
}


static soak_outcome_e
soak_check_vote(soak_req_t *rq, int i, cJSON *v, cJSON *errors, char *why,
    size_t size)
{
    char         alias[48];
    cJSON       *ok, *msg, *e;
    const char  *m;

    soak_alias(rq, i, alias, sizeof(alias));

    if (cJSON_IsNull(v)) {
        soak_ledger_field(rq, &rq->field[i], soak_maybe);
        e = soak_error_for(errors, alias);

        if (e != NULL && strcmp(soak_error_code(e), "UNAVAILABLE") == 0) {
            return SOAK_UNAVAILABLE;
        }

        if (e != NULL && rq->heavy) {
            return SOAK_OK;         /* refused by a limit */
        }

        snprintf(why, size, "%s: null without its error", alias);
        return SOAK_MISMATCH;
    }

    ok = cJSON_GetObjectItemCaseSensitive(v, "success");
    msg = cJSON_GetObjectItemCaseSensitive(v, "message");
    m = cJSON_IsString(msg) ? msg->valuestring : NULL;

    if (m == NULL || !cJSON_IsBool(ok)) {
        snprintf(why, size, "%s: no success or message", alias);
        return SOAK_MISMATCH;
    }

    if (rq->kind == SOAK_BADTICKET) {
        if (cJSON_IsTrue(ok) || strcmp(m, "Invalid ticket") != 0) {
            snprintf(why, size, "%s: a forged ticket answered %s", alias, m);
            return SOAK_MISMATCH;
        }

        return SOAK_OK;
    }

    if (cJSON_IsFalse(ok)) {
        if (strcmp(m, "Ticket expired") == 0
            || strcmp(m, "Ticket usage limit exceeded") == 0
            || strcmp(m, "Invalid ticket") == 0)
        {
            return SOAK_REJECTED;
        }

        snprintf(why, size, "%s: refused with \"%s\"", alias, m);
        return SOAK_MISMATCH;
    }

    if (!soak_same_field(v, rq, &rq->field[i])) {
        snprintf(why, size, "%s: usernames or votes not those sent", alias);
        return SOAK_MISMATCH;
    }

    soak_ledger_field(rq, &rq->field[i], soak_acked);
    return SOAK_OK;
}


/* one value of data, under the alias of field i */
static soak_outcome_e
soak_check_value(soak_req_t *rq, int i, cJSON *v, cJSON *errors, char *why,
    size_t size)
{
    cJSON  *t, *qt;

    switch (rq->kind) {

    case SOAK_VOTE:
    case SOAK_ALIASED:
    case SOAK_BADTICKET:
    case SOAK_ABORT:
        return soak_check_vote(rq, i, v, errors, why, size);

    case SOAK_QUERY:
        if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
            return SOAK_OK;
        }
        break;

    case SOAK_CAS:
        t = cJSON_GetObjectItemCaseSensitive(v, "ticket");
        if (cJSON_IsString(t) && t->valuestring[0] != '\0'
            && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v,
                                                          "validUntil"))
            && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(v,
                                                      "remainingUsage")))
        {
            soak_set_ticket(t->valuestring, strlen(t->valuestring));
            return SOAK_OK;
        }
        break;

    case SOAK_CHURN:
        if (cJSON_IsString(v) && strcmp(v->valuestring, "Query") == 0) {
            return SOAK_OK;
        }
        break;

    case SOAK_INTRO:
        if (rq->heavy) {
            return (cJSON_IsObject(v) || errors != NULL) ? SOAK_OK
                                                         : SOAK_MISMATCH;
        }

        qt = cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(v, "queryType"), "name");
        t = cJSON_GetObjectItemCaseSensitive(v, "types");
        if (cJSON_IsString(qt) && strcmp(qt->valuestring, "Query") == 0
            && cJSON_GetArraySize(t) > 0)
        {
            return SOAK_OK;
        }
        break;

    default:
        break;
    }

    if (cJSON_IsNull(v) && errors != NULL && rq->kind != SOAK_CHURN
        && rq->kind != SOAK_INTRO
        && strcmp(soak_error_code(cJSON_GetArrayItem(errors, 0)),
                  "UNAVAILABLE") == 0)
    {
        return SOAK_UNAVAILABLE;
    }

    snprintf(why, size, "value %d is not what %s answers", i,
             soak_kind_name(rq->kind));
    return SOAK_MISMATCH;
}


/* the worst of two outcomes: a failure, then unavailable, then rejected */
static soak_outcome_e
soak_worse(soak_outcome_e a, soak_outcome_e b)
{
    static const int  rank[SOAK_NOUTCOMES] = { 0, 1, 2, 0, 9, 9, 9, 9, 9, 9 };

    return rank[b] > rank[a] ? b : a;
}


/* a request-level answer without data: errors only */
static soak_outcome_e
soak_check_errors(soak_req_t *rq, cJSON *errors, char *why, size_t size)
{
    const char  *code;

    code = soak_error_code(cJSON_GetArrayItem(errors, 0));

    if (rq->kind == SOAK_ERROR || rq->heavy) {
        if (rq->kind == SOAK_ALIASED) {
            soak_ledger_uncertain(rq);
        }
        return SOAK_OK;
    }

    if (strcmp(code, "UNAVAILABLE") == 0 && rq->kind != SOAK_CHURN
        && rq->kind != SOAK_INTRO)
    {
        soak_ledger_uncertain(rq);
        return SOAK_UNAVAILABLE;
    }

    snprintf(why, size, "errors without data, code \"%s\"", code);
    return SOAK_MISMATCH;
}


static soak_outcome_e
soak_check_data(soak_req_t *rq, cJSON *root, char *why, size_t size)
{
    int              i;
    cJSON           *data, *errors, *e, *v;
    soak_outcome_e   o;

    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    errors = cJSON_GetObjectItemCaseSensitive(root, "errors");

    if (errors != NULL) {
        if (!cJSON_IsArray(errors) || cJSON_GetArraySize(errors) == 0) {
            snprintf(why, size, "errors is not a non-empty list");
            return SOAK_MISMATCH;
        }

        cJSON_ArrayForEach(e, errors) {
            if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e,
                                                                "message")))
            {
                snprintf(why, size, "an error without a message");
                return SOAK_MISMATCH;
            }

            soak_count_code(soak_error_code(e));
        }
    }

    if (data == NULL || cJSON_IsNull(data)) {
        if (errors == NULL) {
            snprintf(why, size, "neither data nor errors");
            return SOAK_MISMATCH;
        }

        return soak_check_errors(rq, errors, why, size);
    }

    if (rq->kind == SOAK_ERROR) {
        snprintf(why, size, "an invalid document answered data");
        return SOAK_MISMATCH;
    }

    if (!cJSON_IsObject(data) || !soak_only_keys(data, rq)) {
        snprintf(why, size, "data keys are not this request's aliases");
        return SOAK_MISMATCH;
    }

    o = SOAK_OK;
    i = 0;

    cJSON_ArrayForEach(v, data) {
        o = soak_worse(o, soak_check_value(rq, i, v, errors, why, size));
        i++;
    }

    return o;
}


soak_outcome_e
soak_check(soak_req_t *rq, int status, const char *body, size_t len,
    char *why, size_t size)
{
    cJSON           *root;
    const char      *end;
    soak_outcome_e   o;

    if (status != 200
        && !(status == 400 && (rq->kind == SOAK_ERROR || rq->heavy)))
    {
        snprintf(why, size, "HTTP status %d", status);
        return SOAK_BAD_HTTP;
    }

    if (soak_bad_bytes(body, len)) {
        snprintf(why, size, "raw control bytes or invalid UTF-8");
        return SOAK_BAD_JSON;
    }

    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (root != NULL) {
        while (end < body + len && (*end == ' ' || *end == '\n'
                                    || *end == '\r' || *end == '\t'))
        {
            end++;
        }
    }

    if (root == NULL || end != body + len || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(why, size, "not one JSON object");
        return SOAK_BAD_JSON;
    }

    if (soak_foreign(rq, body, len)) {
        cJSON_Delete(root);
        snprintf(why, size, "another request's token");
        return SOAK_FOREIGN;
    }

    o = soak_check_data(rq, root, why, size);
    cJSON_Delete(root);
    return o;
}


/* name, acknowledged votes, votes that may or may not have counted */
int
soak_ledger_write(const char *path)
{
    FILE      *f;
    unsigned   k;

    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }

    for (k = 0; k < 2 * soak_names; k++) {
        if (soak_acked[k] || soak_maybe[k]) {
            fprintf(f, "%s_%c%u\t%llu\t%llu\n", soak_tag,
                    k < soak_names ? 'n' : 'x', k % soak_names,
                    (unsigned long long) soak_acked[k],
                    (unsigned long long) soak_maybe[k]);
        }
    }

    return fclose(f);
}
