/*
 * Response writing: the errors list (locations computed here, from the
 * query text) and the data of a planned request once the host has
 * resolved its slots, with null propagation: every root field is
 * non-null, so one failed slot makes data null.
 */

#include "cast_gql_exec.h"


static void
cast_gql_write_error(cast_json_w_t *w, const cast_gql_err_t *e,
    const char *src, size_t len)
{
    size_t  line, col;
    int     i;

    cast_json_lit(w, "{\"message\":");
    cast_json_str(w, e->msg.data, e->msg.len);

    if (e->loc[0] != CAST_GQL_NOLOC && src != NULL) {
        cast_json_lit(w, ",\"locations\":[");

        for (i = 0; i < 2 && e->loc[i] != CAST_GQL_NOLOC; i++) {
            cast_gql_location(src, len, e->loc[i], &line, &col);
            cast_json_raw(w, ",", i);
            cast_json_lit(w, "{\"line\":");
            cast_json_int(w, (int64_t) line);
            cast_json_lit(w, ",\"column\":");
            cast_json_int(w, (int64_t) col);
            cast_json_lit(w, "}");
        }

        cast_json_lit(w, "]");
    }

    if (e->path.len) {
        cast_json_lit(w, ",\"path\":[");
        cast_json_str(w, e->path.data, e->path.len);
        cast_json_lit(w, "]");
    }

    cast_json_lit(w, ",\"extensions\":{\"code\":");
    cast_json_str(w, e->code, strlen(e->code));
    cast_json_lit(w, "}}");
}


void
cast_gql_write_errors(cast_json_w_t *w, const cast_gql_errs_t *errs,
    const char *src, size_t len)
{
    const cast_gql_err_t  *e;

    cast_json_lit(w, "\"errors\":[");

    for (e = errs->head; e != NULL; e = e->next) {
        cast_gql_write_error(w, e, src, len);
        if (e->next != NULL) {
            cast_json_lit(w, ",");
        }
    }

    cast_json_lit(w, "]");
}


static void
cast_gql_write_strs(cast_json_w_t *w, const cast_str_t *s, size_t n)
{
    size_t  i;

    cast_json_lit(w, "[");

    for (i = 0; i < n; i++) {
        cast_json_raw(w, ",", i != 0);
        cast_json_str(w, s[i].data, s[i].len);
    }

    cast_json_lit(w, "]");
}


static void
cast_gql_write_ints(cast_json_w_t *w, const int64_t *v, size_t n)
{
    size_t  i;

    cast_json_lit(w, "[");

    for (i = 0; i < n; i++) {
        cast_json_raw(w, ",", i != 0);
        cast_json_int(w, v[i]);
    }

    cast_json_lit(w, "]");
}


/* host values for non-null fields must be present */
static int
cast_gql_slot_complete(const cast_gql_slot_t *s)
{
    size_t  i;

    if (s->kind == CAST_FIELD_CAS) {
        return s->ticket_out.data != NULL && s->valid_until.data != NULL;
    }

    if (s->kind == CAST_FIELD_VOTE) {
        if (s->message.data == NULL
            || (s->nout && (s->out_usernames == NULL || s->out_votes == NULL)))
        {
            return 0;
        }
        for (i = 0; i < s->nout; i++) {
            if (s->out_usernames[i].data == NULL) {
                return 0;
            }
        }
    }

    return 1;
}


static void
cast_gql_write_sub(cast_json_w_t *w, const cast_gql_pentry_t *pe,
    const cast_gql_slot_t *s)
{
    const cast_gql_psub_t  *f;
    size_t                  i;

    cast_json_lit(w, "{");

    for (i = 0; i < pe->nsub; i++) {
        f = &pe->sub[i];
        cast_json_raw(w, ",", i != 0);
        cast_json_lit(w, "\"");
        cast_json_raw(w, f->key.data, f->key.len);
        cast_json_lit(w, "\":");

        switch (f->id) {
        case CAST_SUB_TYPENAME:
            if (s->kind == CAST_FIELD_CAS) {
                cast_json_lit(w, "\"TicketInfo\"");
            } else {
                cast_json_lit(w, "\"VoteResult\"");
            }
            break;
        case CAST_SUB_TICKET:
            cast_json_str(w, s->ticket_out.data, s->ticket_out.len);
            break;
        case CAST_SUB_VALID_UNTIL:
            cast_json_str(w, s->valid_until.data, s->valid_until.len);
            break;
        case CAST_SUB_REMAINING:
            cast_json_int(w, s->remaining);
            break;
        case CAST_SUB_SUCCESS:
            if (s->success) {
                cast_json_lit(w, "true");
            } else {
                cast_json_lit(w, "false");
            }
            break;
        case CAST_SUB_MESSAGE:
            cast_json_str(w, s->message.data, s->message.len);
            break;
        case CAST_SUB_USERNAMES:
            cast_gql_write_strs(w, s->out_usernames, s->nout);
            break;
        case CAST_SUB_VOTES:
            cast_gql_write_ints(w, s->out_votes, s->nout);
            break;
        }
    }

    cast_json_lit(w, "}");
}


/* slot errors; a mutation stops at its first failed field */
static void
cast_gql_slot_errors(cast_gql_priv_t *p, cast_gql_errs_t *errs)
{
    const cast_gql_pentry_t  *pe;
    const cast_gql_slot_t    *s;
    cast_gql_err_t           *e;
    size_t                    i;

    for (i = 0; i < p->plan.n; i++) {
        pe = &p->plan.entries[i];
        if (pe->kind != CAST_PLAN_SLOT) {
            continue;
        }

        s = &p->plan.slots[pe->slot];

        if (s->status == CAST_RES_ERROR) {
            e = cast_gql_error(&p->arena, errs,
                               s->error_code ? s->error_code
                                             : "INTERNAL_SERVER_ERROR",
                               pe->off, "%.*s", (int) s->error_message.len,
                               s->error_message.data ? s->error_message.data
                                                     : "");

        } else if (s->status != CAST_RES_OK) {
            e = cast_gql_error(&p->arena, errs, "INTERNAL_SERVER_ERROR",
                               pe->off, "Field \"%.*s\" was not resolved.",
                               (int) pe->key.len, pe->key.data);

        } else if (!cast_gql_slot_complete(s)) {
            e = cast_gql_error(&p->arena, errs, "INTERNAL_SERVER_ERROR",
                               pe->off, "Cannot return null for "
                               "non-nullable field \"%.*s\".",
                               (int) pe->key.len, pe->key.data);

        } else {
            continue;
        }

        if (e != NULL) {
            e->path = pe->key;
        }

        if (p->op == CAST_GQL_OP_MUTATION) {
            return;
        }
    }
}


int
cast_gql_respond(cast_gql_exec_t *exec, cast_gql_response_t *out)
{
    cast_gql_priv_t          *p;
    const cast_gql_pentry_t  *pe;
    cast_gql_errs_t           errs;
    cast_json_w_t             w;
    size_t                    i;

    p = exec->priv;

    cast_gql_errs_init(&errs);
    cast_gql_slot_errors(p, &errs);
    cast_json_w_init(&w, &p->arena, 1024);

    if (errs.n) {
        cast_json_lit(&w, "{");
        cast_gql_write_errors(&w, &errs, p->src, p->len);
        cast_json_lit(&w, ",\"data\":null}");

    } else {
        cast_json_lit(&w, "{\"data\":{");

        for (i = 0; i < p->plan.n; i++) {
            pe = &p->plan.entries[i];
            cast_json_raw(&w, ",", i != 0);
            cast_json_lit(&w, "\"");
            cast_json_raw(&w, pe->key.data, pe->key.len);
            cast_json_lit(&w, "\":");

            if (pe->kind == CAST_PLAN_TYPENAME) {
                cast_json_str(&w, pe->json.data, pe->json.len);

            } else if (pe->kind == CAST_PLAN_JSON) {
                cast_json_raw(&w, pe->json.data, pe->json.len);

            } else if (p->plan.slots[pe->slot].kind == CAST_FIELD_QUERY) {
                cast_json_int(&w, p->plan.slots[pe->slot].count);

            } else {
                cast_gql_write_sub(&w, pe, &p->plan.slots[pe->slot]);
            }
        }

        cast_json_lit(&w, "}}");
    }

    if (w.nomem || errs.nomem) {
        return -1;
    }

    out->status = 200;
    out->content_type = cast_gql_media_type(p->media);
    out->allow = NULL;
    out->body.data = w.buf;
    out->body.len = w.len;

    return 0;
}
