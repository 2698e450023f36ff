
/*
 * Copyright (C) CAST developers
 *
 * A field's call and how it ends: the call joined to its batch, its
 * reply (or none) handed to the field's parser and then to its caller,
 * a call cancelled when the caller goes away, and the slot's outcomes
 * shared by the resolvers: a GraphQL error (UNAVAILABLE, BAD_USER_INPUT,
 * BAD_REQUEST), a vote refused, a Redis string copied into the request's
 * memory.  The resolvers (ngx_http_cast_resolve.c, ngx_http_cast_vote.c)
 * and the request (ngx_http_cast_request.c) call it; it calls the batch
 * layer (ngx_http_cast_batch.c) and the metrics, and hears back from the
 * batch through its calls' reply handler.
 */


#include "ngx_http_cast_module.h"
#include "cast_name.h"


static void ngx_http_cast_field_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_cast_field_recheck(void *data);
static ngx_int_t ngx_http_cast_field_copy(ngx_pool_t *pool, cast_str_t *dst,
    redisReply *src);


/* the field's call joins its batch; one that cannot is UNAVAILABLE */

ngx_int_t
ngx_http_cast_field_call(ngx_http_cast_field_t *field, ngx_uint_t kind,
    ngx_http_cast_parse_pt parse, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_int_t  rc;

    rc = ngx_http_cast_batch_add(kind, argc, argv, argvlen,
                                 ngx_http_cast_field_reply, field,
                                 &field->call);

    if (rc != NGX_OK) {
        ngx_http_cast_field_unavailable(field->slot,
                                        rc == NGX_ERROR
                                        ? "out of memory"
                                        : "redis not connected");
        return NGX_DONE;
    }

    field->parse = parse;

    if (field->still) {
        ngx_http_cast_batch_recheck(field->call, ngx_http_cast_field_recheck);
    }

    return NGX_AGAIN;
}


/*
 * As the field's batch leaves: whether its call still needs Redis, asked
 * of the resolver (field->still), which may answer the field instead; its
 * parser is then not run on the no-reply that follows.
 */

static ngx_int_t
ngx_http_cast_field_recheck(void *data)
{
    ngx_http_cast_field_t  *field = data;

    if (field->still(field) == NGX_OK) {
        return NGX_OK;
    }

    field->parse = NULL;

    return NGX_DECLINED;
}


/*
 * the field's reply (or none): into its slot, and the field is finished;
 * without a parser it was answered on a recheck
 */

static void
ngx_http_cast_field_reply(void *data, redisReply *reply)
{
    ngx_http_cast_field_t  *field = data;

    field->call = NULL;

    if (field->parse) {
        field->parse(field, reply);
    }

    field->done(field);
}


/* the field's caller goes away: a reply still due is dropped */

void
ngx_http_cast_field_cancel(ngx_http_cast_field_t *field)
{
    if (field->call) {
        ngx_http_cast_batch_cancel(field->call);
        field->call = NULL;
    }
}


/* no reply (connection lost) or an error reply: UNAVAILABLE */

ngx_int_t
ngx_http_cast_field_reply_error(cast_gql_slot_t *slot, ngx_pool_t *pool,
    redisReply *reply)
{
    u_char  *why;

    if (reply == NULL) {
        ngx_http_cast_field_unavailable(slot, "redis connection lost");
        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ERROR) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "cast: redis: %s",
                  reply->str);

    if (ngx_strncmp(reply->str, "UNAVAILABLE ", 12) == 0) {
        /* the reply is freed after the callback: keep the words */
        why = ngx_pnalloc(pool, reply->len - 12 + 1);
        if (why == NULL) {
            ngx_http_cast_field_unavailable(slot, "out of memory");
            return NGX_ERROR;
        }

        ngx_memcpy(why, reply->str + 12, reply->len - 12);
        why[reply->len - 12] = '\0';

        ngx_http_cast_field_unavailable(slot, (char *) why);

    } else {
        ngx_http_cast_field_unavailable(slot, "redis refused the command");
    }

    return NGX_ERROR;
}


void
ngx_http_cast_field_unavailable(cast_gql_slot_t *slot, const char *why)
{
    ngx_http_cast_field_fail(slot, "UNAVAILABLE", why,
                             NGX_HTTP_CAST_VOTE_UNAVAILABLE);
}


/* a GraphQL error for the field; for a vote, its outcome counted */

void
ngx_http_cast_field_fail(cast_gql_slot_t *slot, const char *code,
    const char *message, ngx_uint_t outcome)
{
    slot->status = CAST_RES_ERROR;
    slot->error_code = code;
    slot->error_message.data = message;
    slot->error_message.len = ngx_strlen(message);

    if (slot->kind == CAST_FIELD_VOTE) {
        ngx_http_cast_metrics_vote(outcome);
    }
}


void
ngx_http_cast_field_reject(cast_gql_slot_t *slot, ngx_uint_t outcome,
    const char *message)
{
    slot->status = CAST_RES_OK;
    slot->success = 0;
    slot->message.data = message;
    slot->message.len = ngx_strlen(message);
    slot->nout = 0;

    ngx_http_cast_metrics_vote(outcome);
}


void
ngx_http_cast_field_bad_input(cast_gql_slot_t *slot, const char *message)
{
    ngx_http_cast_field_fail(slot, "BAD_USER_INPUT", message,
                             NGX_HTTP_CAST_VOTE_BAD_INPUT);
}


/* hiredis frees the reply after the callback: keep a copy */

static ngx_int_t
ngx_http_cast_field_copy(ngx_pool_t *pool, cast_str_t *dst, redisReply *src)
{
    char  *p;

    if (src->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, src->len);
    if (p == NULL && src->len) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, src->str, src->len);

    dst->data = p;
    dst->len = src->len;

    return NGX_OK;
}


/*
 * A username as Redis answers it, copied as a name a vote may hold (1 to
 * NGX_HTTP_CAST_NAME_MAX bytes of UTF-8 without control characters):
 * cast_max_result_items counts a name for at most 130 bytes of JSON, and
 * a longer one, or one escaped six bytes a byte, would pass that bound.
 */

ngx_int_t
ngx_http_cast_field_name(ngx_pool_t *pool, cast_str_t *dst, redisReply *src)
{
    if (src->type != REDIS_REPLY_STRING
        || !cast_name_valid(src->str, src->len, NGX_HTTP_CAST_NAME_MAX))
    {
        return NGX_ERROR;
    }

    return ngx_http_cast_field_copy(pool, dst, src);
}


/*
 * A ticket or a vote's message as Redis answers it: at most max bytes of
 * printable ASCII that JSON holds unescaped (cast_max_result_items counts
 * a ticket for 88 bytes of JSON, a message for 40): NGX_DECLINED when it
 * is not, NGX_ERROR out of memory.
 */

ngx_int_t
ngx_http_cast_field_text(ngx_pool_t *pool, cast_str_t *dst, redisReply *src,
    size_t max)
{
    size_t  i;
    u_char  c;

    if (src->type != REDIS_REPLY_STRING || src->len > max) {
        return NGX_DECLINED;
    }

    for (i = 0; i < src->len; i++) {
        c = (u_char) src->str[i];

        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
            return NGX_DECLINED;
        }
    }

    return ngx_http_cast_field_copy(pool, dst, src);
}
