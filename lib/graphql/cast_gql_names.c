/*
 * Name tables: open addressing over cast_gql_hash(), sized once for the
 * names they will hold, in an arena.  Validation and coercion look names
 * up through them so that no check is quadratic in the document.
 */

#include "cast_gql.h"


typedef struct {
    cast_str_t                key;      /* data NULL: empty */
    void                     *val;
} cast_gql_name_t;


int
cast_gql_names_init(cast_gql_names_t *t, cast_arena_t *a, size_t n)
{
    size_t  size;

    for (size = 8; size < n * 2; size *= 2) {
        /* void */
    }

    t->slots = cast_arena_calloc(a, size * sizeof(cast_gql_name_t));
    if (t->slots == NULL) {
        return -1;
    }

    t->mask = size - 1;
    t->n = 0;
    t->max = n;

    return 0;
}


static cast_gql_name_t *
cast_gql_names_find(const cast_gql_names_t *t, cast_str_t key)
{
    cast_gql_name_t  *s;
    size_t            i;

    i = (size_t) cast_gql_hash(key.data, key.len) & t->mask;

    for ( ;; ) {
        s = &((cast_gql_name_t *) t->slots)[i];

        if (s->key.data == NULL
            || (s->key.len == key.len
                && memcmp(s->key.data, key.data, key.len) == 0))
        {
            return s;
        }

        i = (i + 1) & t->mask;
    }
}


/* the value already under key, or NULL once val is put there */
void *
cast_gql_names_put(cast_gql_names_t *t, cast_str_t key, void *val)
{
    cast_gql_name_t  *s;

    s = cast_gql_names_find(t, key);

    if (s->key.data != NULL) {
        return s->val;
    }

    /* more names than the table was sized for: never, by its callers */
    if (t->n == t->max) {
        return NULL;
    }

    t->n++;
    s->key = key;
    s->val = val;

    return NULL;
}


void *
cast_gql_names_get(const cast_gql_names_t *t, cast_str_t key)
{
    if (t->slots == NULL) {
        return NULL;
    }

    return cast_gql_names_find(t, key)->val;
}
