
/*
 * Copyright (C) CAST developers
 *
 * What the answer to each kind of request must be.  An answer that names
 * another request's token, or lacks one of its own aliases, answers
 * someone else; one that is not a single JSON document in UTF-8 is
 * broken.  Votes acknowledged go to the ledger.
 */

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "soak.h"


static int soak_foreign(soak_req_t *rq, const char *body, size_t len);
static int soak_bad_bytes(const char *body, size_t len);
static cJSON *soak_error_for(cJSON *errors, const char *alias);
static const char *soak_error_code(cJSON *e);
static void soak_count_code(const char *code);
static int soak_only_keys(cJSON *obj, soak_req_t *rq);
static int soak_same_field(cJSON *v, soak_req_t *rq, soak_field_t *f);
static soak_outcome_e soak_check_vote(soak_req_t *rq, int i, cJSON *v,
    cJSON *errors, char *why, size_t size);
static soak_outcome_e soak_check_value(soak_req_t *rq, int i, cJSON *v,
    cJSON *errors, char *why, size_t size);
static soak_outcome_e soak_worse(soak_outcome_e a, soak_outcome_e b);
static soak_outcome_e soak_check_errors(soak_req_t *rq, cJSON *errors,
    char *why, size_t size);
static soak_outcome_e soak_check_data(soak_req_t *rq, cJSON *root,
    char *why, size_t size);


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
            || strcmp(x->valuestring,
                      soak_name(rq->uncertain_pool, f->name[i])) != 0)
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


static soak_outcome_e
soak_check_vote(soak_req_t *rq, int i, cJSON *v, cJSON *errors, char *why,
    size_t size)
{
    char         alias[48];
    cJSON       *ok, *msg, *e;
    const char  *m;

    soak_alias(rq, i, alias, sizeof(alias));

    if (cJSON_IsNull(v)) {
        soak_ledger_add(rq, &rq->field[i], 0);
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

    soak_ledger_add(rq, &rq->field[i], 1);
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
