/*
 * CAST JSON: a reader that builds an arena tree (strings decoded and
 * checked as UTF-8, nesting bounded) and an append-only writer.
 */

#ifndef _CAST_JSON_H_INCLUDED_
#define _CAST_JSON_H_INCLUDED_


#include "cast_gql.h"


struct cast_json_w_s {
    char                     *buf;
    size_t                    len;
    size_t                    cap;
    cast_arena_t             *arena;
    int                       nomem;
};


/*
 * 0; -1 with *err for invalid JSON; CAST_JSON_DUPLICATE with *err
 * naming the key when an object has two members of one name;
 * CAST_JSON_NOMEM
 */
#define CAST_JSON_NOMEM      -2
#define CAST_JSON_DUPLICATE  -3

int cast_json_parse(cast_arena_t *a, const char *s, size_t n,
    cast_json_t **out, const char **err);

/* a quoted value's room: 64 bytes, "..." and the NUL */
#define CAST_JSON_EXCERPT  (64 + sizeof("..."))

const char *cast_json_excerpt(char *buf, cast_str_t s);

void cast_json_w_init(cast_json_w_t *w, cast_arena_t *a, size_t cap);
void cast_json_append(cast_json_w_t *w, const char *s, size_t n);
void cast_json_str(cast_json_w_t *w, const char *s, size_t n);
void cast_json_int(cast_json_w_t *w, int64_t v);

#define cast_json_lit(w, lit)  cast_json_raw(w, lit, sizeof(lit) - 1)


/* the common case inline: the bytes fit */
static inline void
cast_json_raw(cast_json_w_t *w, const char *s, size_t n)
{
    if (w->cap - w->len >= n) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        return;
    }

    cast_json_append(w, s, n);
}


#endif /* _CAST_JSON_H_INCLUDED_ */
