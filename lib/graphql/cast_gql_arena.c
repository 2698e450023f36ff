/*
 * Arena allocation for the GraphQL engine and errors as values.
 *
 * A request arena takes its chunks from the host allocator (nginx: the
 * request pool) and is never freed here; a malloc arena owns its chunks
 * and frees them at once (cached documents, the schema).
 */

#include <stdio.h>
#include <stdlib.h>

#include "cast_gql.h"


#define CAST_ARENA_CHUNK  4096


struct cast_arena_chunk_s {
    cast_arena_chunk_t       *next;
};


void
cast_arena_init(cast_arena_t *a, const cast_gql_alloc_t *host)
{
    a->pos = NULL;
    a->end = NULL;
    a->host = host;
    a->chunks = NULL;
}


static void *
cast_arena_raw(cast_arena_t *a, size_t size)
{
    cast_arena_chunk_t  *c;

    if (a->host != NULL) {
        return a->host->alloc(a->host->ctx, size);
    }

    c = malloc(sizeof(cast_arena_chunk_t) + size);
    if (c == NULL) {
        return NULL;
    }

    c->next = a->chunks;
    a->chunks = c;

    return (char *) c + sizeof(cast_arena_chunk_t);
}


/* a size rounded to 8 that the current chunk has no room for */
void *
cast_arena_grow(cast_arena_t *a, size_t size)
{
    char    *p;
    size_t   chunk;

    if (size > CAST_ARENA_CHUNK / 4) {
        return cast_arena_raw(a, size);
    }

    chunk = CAST_ARENA_CHUNK;
    p = cast_arena_raw(a, chunk);
    if (p == NULL) {
        return NULL;
    }

    a->pos = p + size;
    a->end = p + chunk;

    return p;
}


char *
cast_arena_dup(cast_arena_t *a, const char *s, size_t len)
{
    char  *p;

    p = cast_arena_alloc(a, len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }

    return p;
}


static cast_str_t
cast_arena_vprintf(cast_arena_t *a, const char *fmt, va_list ap)
{
    int         n;
    char       *p;
    va_list     cp;
    cast_str_t  s;

    s.data = NULL;
    s.len = 0;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);

    if (n < 0) {
        return s;
    }

    p = cast_arena_alloc(a, (size_t) n + 1);
    if (p == NULL) {
        return s;
    }

    vsnprintf(p, (size_t) n + 1, fmt, ap);
    s.data = p;
    s.len = (size_t) n;

    return s;
}


cast_str_t
cast_arena_printf(cast_arena_t *a, const char *fmt, ...)
{
    va_list     ap;
    cast_str_t  s;

    va_start(ap, fmt);
    s = cast_arena_vprintf(a, fmt, ap);
    va_end(ap);

    return s;
}


void
cast_arena_free(cast_arena_t *a)
{
    cast_arena_chunk_t  *c, *next;

    for (c = a->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }

    a->chunks = NULL;
    a->pos = NULL;
    a->end = NULL;
}


void
cast_gql_errs_init(cast_gql_errs_t *e)
{
    e->head = NULL;
    e->tail = &e->head;
    e->n = 0;
    e->max = SIZE_MAX - 1;
    e->full = NULL;
    e->nomem = 0;
}


/* after max errors, one more with the message full, then none */
void
cast_gql_errs_cap(cast_gql_errs_t *e, size_t max, const char *full)
{
    e->max = max;
    e->full = full;
}


/* at most CAST_GQL_MAX_MESSAGE bytes, cut between code points */
static void
cast_gql_clip(cast_str_t *msg)
{
    char    *d;
    size_t   n;

    if (msg->len <= CAST_GQL_MAX_MESSAGE) {
        return;
    }

    d = (char *) msg->data;
    n = cast_utf8_cut(d, CAST_GQL_MAX_MESSAGE - 3);

    memcpy(d + n, "...", 3);
    msg->len = n + 3;
}


static cast_gql_err_t *
cast_gql_error_add(cast_arena_t *a, cast_gql_errs_t *e, const char *code,
    uint32_t loc, cast_str_t msg)
{
    cast_gql_err_t  *err;

    if (msg.data == NULL) {
        e->nomem = 1;
        return NULL;
    }

    err = cast_arena_calloc(a, sizeof(cast_gql_err_t));
    if (err == NULL) {
        e->nomem = 1;
        return NULL;
    }

    err->msg = msg;
    err->code = code;
    err->loc[0] = loc;
    err->loc[1] = CAST_GQL_NOLOC;

    *e->tail = err;
    e->tail = &err->next;
    e->n++;

    return err;
}


cast_gql_err_t *
cast_gql_error(cast_arena_t *a, cast_gql_errs_t *e, const char *code,
    uint32_t loc, const char *fmt, ...)
{
    va_list     ap;
    cast_str_t  msg;

    if (e->n >= e->max) {
        if (e->n == e->max) {
            msg.data = e->full;
            msg.len = strlen(e->full);
            (void) cast_gql_error_add(a, e, code, CAST_GQL_NOLOC, msg);
        }
        return NULL;
    }

    va_start(ap, fmt);
    msg = cast_arena_vprintf(a, fmt, ap);
    va_end(ap);

    cast_gql_clip(&msg);

    return cast_gql_error_add(a, e, code, loc, msg);
}
