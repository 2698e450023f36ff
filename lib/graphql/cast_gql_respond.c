/*
 * Response writing: the errors list (locations from the document's line
 * starts; a slot's location was found when it was planned) and the data
 * of a planned request once the host has resolved its slots, with null
 * propagation: every root field is non-null, so one failed slot makes
 * data null.
 */

#include "cast_gql_exec.h"


static void
cast_gql_write_error(cast_json_w_t *w, cast_str_t msg, const char *code,
    const cast_gql_pos_t *pos, size_t npos, cast_str_t path)
{
    size_t  i;

    cast_json_lit(w, "{\"message\":");
    cast_json_str(w, msg.data, msg.len);

    if (npos) {
        cast_json_lit(w, ",\"locations\":[");

        for (i = 0; i < npos; i++) {
            cast_json_raw(w, ",", i != 0);
            cast_json_lit(w, "{\"line\":");
            cast_json_int(w, (int64_t) pos[i].line);
            cast_json_lit(w, ",\"column\":");
            cast_json_int(w, (int64_t) pos[i].col);
            cast_json_lit(w, "}");
        }

        cast_json_lit(w, "]");
    }

    if (path.len) {
        cast_json_lit(w, ",\"path\":[");
        cast_json_str(w, path.data, path.len);
        cast_json_lit(w, "]");
    }

    cast_json_lit(w, ",\"extensions\":{\"code\":");
    cast_json_str(w, code, strlen(code));
    cast_json_lit(w, "}}");
}


/* "errors":[...]; lines NULL: no locations */
void
cast_gql_write_errors(cast_json_w_t *w, const cast_gql_errs_t *errs,
    const cast_gql_lines_t *lines)
{
    const cast_gql_err_t  *e;
    cast_gql_pos_t         pos[2];
    size_t                 n;

    cast_json_lit(w, "\"errors\":[");

    for (e = errs->head; e != NULL; e = e->next) {
        for (n = 0; lines != NULL && n < 2 && e->loc[n] != CAST_GQL_NOLOC;
             n++)
        {
            pos[n] = cast_gql_lines_pos(lines, e->loc[n]);
        }

        cast_gql_write_error(w, e->msg, e->code, pos, n, e->path);

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

    if (s->kind == CAST_FIELD_TOP || s->kind == CAST_FIELD_SCORES) {
        if (s->nout && (s->out_usernames == NULL || s->out_votes == NULL)) {
            return 0;
        }
        for (i = 0; i < s->nout; i++) {
            if (s->out_usernames[i].data == NULL) {
                return 0;
            }
        }
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
    const cast_gql_slot_t *s, size_t at)
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
        case CAST_SUB_NONE:
            /* the schema build binds every field: not reached */
            cast_json_lit(w, "null");
            break;
        case CAST_SUB_TYPENAME:
            cast_json_str(w, pe->type.data, pe->type.len);
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
        case CAST_SUB_CLIENT_REMAINING:
            if (s->has_client_remaining) {
                cast_json_int(w, s->client_remaining);
            } else {
                cast_json_lit(w, "null");
            }
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
        case CAST_SUB_SCORE_USERNAME:
            cast_json_str(w, s->out_usernames[at].data,
                          s->out_usernames[at].len);
            break;
        case CAST_SUB_SCORE_VOTES:
            cast_json_int(w, s->out_votes[at]);
            break;
        }
    }

    cast_json_lit(w, "}");
}


/*
 * A resolver's words for a failed slot, which may be Redis's (an
 * UNAVAILABLE error's reason): valid UTF-8 or none, and held to
 * CAST_GQL_MAX_MESSAGE bytes, cut between code points, as every message.
 */
static cast_str_t
cast_gql_slot_words(cast_arena_t *a, cast_str_t msg)
{
    size_t  n;

    if (msg.len == 0 || !cast_utf8_valid(msg.data, msg.len)) {
        msg.data = "Internal server error.";
        msg.len = sizeof("Internal server error.") - 1;
        return msg;
    }

    if (msg.len <= CAST_GQL_MAX_MESSAGE) {
        return msg;
    }

    n = cast_utf8_cut(msg.data, CAST_GQL_MAX_MESSAGE - 3);

    return cast_arena_printf(a, "%.*s...", (int) n, msg.data);
}


/*
 * The error of a failed slot, or an empty message; a mutation stops at
 * its first failed field.
 */
static cast_str_t
cast_gql_slot_error(cast_gql_priv_t *p, cast_arena_t *a,
    const cast_gql_pentry_t *pe, const char **code)
{
    const cast_gql_slot_t  *s;
    cast_str_t              msg;

    s = &p->plan.slots[pe->slot];
    *code = "INTERNAL_SERVER_ERROR";
    msg.data = "";
    msg.len = 0;

    if (s->status == CAST_RES_ERROR) {
        *code = s->error_code ? s->error_code : *code;
        msg = cast_gql_slot_words(a, s->error_message);

    } else if (s->status != CAST_RES_OK) {
        msg = cast_arena_printf(a, "Field \"%.*s\" was not resolved.",
                                (int) pe->key.len, pe->key.data);

    } else if (!cast_gql_slot_complete(s)) {
        msg = cast_arena_printf(a, "Cannot return null for "
                                "non-nullable field \"%.*s\".",
                                (int) pe->key.len, pe->key.data);
    }

    return msg;
}


/* the errors of failed slots, 0 when every slot succeeded */
static size_t
cast_gql_slot_errors(cast_gql_priv_t *p, cast_arena_t *a, cast_json_w_t *w)
{
    const cast_gql_pentry_t  *pe;
    const char               *code;
    cast_str_t                msg;
    size_t                    i, n;

    for (i = 0, n = 0; i < p->plan.n; i++) {
        pe = &p->plan.entries[i];
        if (pe->kind != CAST_PLAN_SLOT) {
            continue;
        }

        msg = cast_gql_slot_error(p, a, pe, &code);
        if (msg.len == 0) {
            if (msg.data == NULL) {
                w->nomem = 1;
            }
            continue;
        }

        if (n == 0) {
            cast_json_lit(w, "{\"errors\":[");
        } else {
            cast_json_lit(w, ",");
        }

        cast_gql_write_error(w, msg, code, &pe->pos, 1, pe->key);
        n++;

        if (p->op == CAST_GQL_OP_MUTATION) {
            break;
        }
    }

    return n;
}


/* a root field's list of Score objects */
static void
cast_gql_write_scores(cast_json_w_t *w, const cast_gql_pentry_t *pe,
    const cast_gql_slot_t *s)
{
    size_t  i;

    cast_json_lit(w, "[");

    for (i = 0; i < s->nout; i++) {
        cast_json_raw(w, ",", i != 0);
        cast_gql_write_sub(w, pe, s, i);
    }

    cast_json_lit(w, "]");
}


/* the response of the slots as they are, written with the arena a */
static int
cast_gql_respond_in(cast_gql_exec_t *exec, cast_arena_t *a,
    cast_str_t *body)
{
    cast_gql_priv_t          *p;
    const cast_gql_pentry_t  *pe;
    const cast_gql_slot_t    *s;
    cast_json_w_t             w;
    size_t                    i;

    p = exec->priv;

    cast_json_w_init(&w, a, 1024);

    if (cast_gql_slot_errors(p, a, &w)) {
        cast_json_lit(&w, "],\"data\":null}");

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

            } else {
                s = &p->plan.slots[pe->slot];

                if (s->kind == CAST_FIELD_QUERY
                    || s->kind == CAST_FIELD_TOTAL)
                {
                    cast_json_int(&w, s->count);

                } else if (s->kind == CAST_FIELD_TOP
                           || s->kind == CAST_FIELD_SCORES)
                {
                    cast_gql_write_scores(&w, pe, s);

                } else {
                    cast_gql_write_sub(&w, pe, s, 0);
                }
            }
        }

        cast_json_lit(&w, "}}");
    }

    if (w.nomem) {
        return -1;
    }

    body->data = w.buf;
    body->len = w.len;

    return 0;
}


int
cast_gql_respond(cast_gql_exec_t *exec, cast_gql_response_t *out)
{
    cast_gql_priv_t  *p;

    p = exec->priv;

    if (cast_gql_respond_in(exec, &p->arena, &out->body) != 0) {
        return -1;
    }

    out->status = 200;
    out->content_type = cast_gql_media_type(p->media);
    out->allow = NULL;

    return 0;
}


int
cast_gql_render(cast_gql_exec_t *exec, const cast_gql_alloc_t *a,
    cast_str_t *out)
{
    cast_arena_t  arena;

    cast_arena_init(&arena, a);

    return cast_gql_respond_in(exec, &arena, out);
}
