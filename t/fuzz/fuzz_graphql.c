/*
 * libFuzzer target for the GraphQL engine: request decoding, parsing,
 * validation, coercion and response writing, with a resolver that fills
 * every slot with a valid result.  The first byte picks the request
 * shape and headers; the rest is the body, the query or the URL args.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_graphql.h"
#include "cast_utf8.h"
#include "../unit/test_pool.h"
#include "fuzz_engine.h"


static cast_gql_engine_t  *fuzz_eng;

static const char  *fuzz_accepts[] = {
    "", "application/json", "application/graphql-response+json",
    "*/*;q=0.5, application/graphql-response+json;q=0.2", "text/html",
    "application/json; charset=latin1, application/*", "text/event-stream",
    ""
};


static cast_str_t
fuzz_str(const char *s, size_t n)
{
    cast_str_t  r;

    r.data = s;
    r.len = n;

    return r;
}


static void
fuzz_resolve(cast_gql_slot_t *s)
{
    static int64_t  votes[4] = { 1, 2, 3, 4 };

    s->status = CAST_RES_OK;

    switch (s->kind) {
    case CAST_FIELD_QUERY:
        s->count = (int64_t) s->username.len;
        break;
    case CAST_FIELD_CAS:
        s->ticket_out = fuzz_str("t\x01\"", 3);
        s->valid_until = fuzz_str("2024", 4);
        s->remaining = -1;
        break;
    case CAST_FIELD_TOTAL:
        s->count = -1;
        break;
    case CAST_FIELD_TOP:
    case CAST_FIELD_SCORES:
        s->out_usernames = s->kind == CAST_FIELD_SCORES ? s->usernames : NULL;
        s->nout = s->kind == CAST_FIELD_SCORES && s->nusernames < 4
                  ? s->nusernames : 0;
        s->out_votes = votes;
        break;
    case CAST_FIELD_VOTE:
        s->success = 1;
        s->message = fuzz_str("ok", 2);
        s->out_usernames = s->usernames;
        s->nout = s->nusernames < 4 ? s->nusernames : 4;
        s->out_votes = votes;
        if (s->nusernames > 2) {
            s->status = CAST_RES_ERROR;
            s->error_code = "BAD_USER_INPUT";
            s->error_message = fuzz_str("too many", 8);
        }
        break;
    }
}


/* {"query":"<data as a JSON string>"[,"variables":<rest>]} */
static char *
fuzz_query_body(const uint8_t *data, size_t size, size_t *len)
{
    const uint8_t  *nul;
    size_t          qn, i;
    char           *b, *d;

    nul = memchr(data, '\0', size);
    qn = nul ? (size_t) (nul - data) : size;

    b = test_alloc(NULL, qn * 6 + (size - qn) + 64);
    if (b == NULL) {
        return NULL;
    }

    d = b;
    memcpy(d, "{\"query\":\"", 10);
    d += 10;

    for (i = 0; i < qn; i++) {
        if (data[i] == '"' || data[i] == '\\') {
            *d++ = '\\';
            *d++ = (char) data[i];
        } else if (data[i] < 0x20) {
            d += sprintf(d, "\\u%04x", data[i]);
        } else {
            *d++ = (char) data[i];
        }
    }

    *d++ = '"';

    if (nul != NULL) {
        memcpy(d, ",\"variables\":", 13);
        d += 13;
        memcpy(d, nul + 1, size - qn - 1);
        d += size - qn - 1;
    }

    *d++ = '}';
    *len = (size_t) (d - b);

    return b;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cast_gql_alloc_t      a;
    cast_gql_http_t       in;
    cast_gql_exec_t      *exec;
    cast_gql_response_t   out;
    size_t                i, len;
    uint8_t               mode;
    char                 *body;

    if (fuzz_eng == NULL) {
        fuzz_eng = fuzz_engine(8);
    }

    if (size == 0) {
        return 0;
    }

    mode = data[0];
    data++;
    size--;

    a.alloc = test_alloc;
    a.ctx = NULL;

    memset(&in, 0, sizeof(in));
    in.method = (mode & 3) == 2 ? CAST_GQL_METHOD_GET
              : (mode & 3) == 3 ? CAST_GQL_METHOD_OTHER
              : CAST_GQL_METHOD_POST;
    in.accept = fuzz_str(fuzz_accepts[(mode >> 2) & 7],
                         strlen(fuzz_accepts[(mode >> 2) & 7]));
    /* as nginx: a stream when Accept names text/event-stream */
    in.stream = cast_gql_wants_stream(in.accept);
    in.content_type = (mode & 0x20) ? fuzz_str("text/plain", 10)
                                    : fuzz_str("application/json", 16);

    if ((mode & 3) == 1) {
        body = fuzz_query_body(data, size, &len);
        in.body = fuzz_str(body, body ? len : 0);

    } else if ((mode & 3) == 2) {
        in.args = fuzz_str((const char *) data, size);

    } else {
        in.body = fuzz_str((const char *) data, size);
    }

    if (cast_gql_prepare(fuzz_eng, &in, &a, &exec) == CAST_GQL_RESOLVE) {
        for (i = 0; i < exec->nslots; i++) {
            fuzz_resolve(&exec->slots[i]);
        }

        /* a subscription's event, as each tick renders it */
        if (exec->op == CAST_GQL_OP_SUBSCRIPTION) {
            cast_str_t  ev;

            if (!in.stream || cast_gql_render(exec, &a, &ev) != 0
                || ev.len == 0 || ev.data[0] != '{'
                || !cast_utf8_valid(ev.data, ev.len))
            {
                abort();
            }
        }
    }

    /*
     * memory never runs out here: a 500 is the engine's own fault; the
     * answer is JSON, so UTF-8, whatever bytes came in
     */
    if (exec != NULL) {
        cast_gql_finish(exec, &out);
        if (out.status == 500 || out.body.len == 0 || out.body.data[0] != '{'
            || out.body.data[out.body.len - 1] != '}'
            || !cast_utf8_valid(out.body.data, out.body.len))
        {
            abort();
        }
    }

    test_pool_free();

    return 0;
}
