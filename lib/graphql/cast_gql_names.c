/*
 * Name tables: open addressing over cast_gql_hash(), sized once for the
 * names they will hold, in an arena.  Validation and coercion look names
 * up through them so that no check is quadratic in the document.  A table
 * for at most CAST_GQL_NAMES_FEW names is a list searched in order (mask
 * 0): a vote's three variables cost no hashing and no zeroed slots.
 */

#include "cast_gql.h"


typedef struct {
    cast_str_t                key;      /* data NULL: empty */
    void                     *val;
} cast_gql_name_t;


#define CAST_GQL_NAMES_FEW  8


static cast_gql_name_t *cast_gql_names_find(const cast_gql_names_t *t,
    cast_str_t key);
static cast_gql_name_t *cast_gql_names_scan(const cast_gql_names_t *t,
    cast_str_t key);


int
cast_gql_names_init(cast_gql_names_t *t, cast_arena_t *a, size_t n)
{
    size_t  size;

    if (n <= CAST_GQL_NAMES_FEW) {
        t->slots = cast_arena_alloc(a, (n ? n : 1) * sizeof(cast_gql_name_t));
        if (t->slots == NULL) {
            return -1;
        }

        t->mask = 0;
        t->n = 0;
        t->max = n;

        return 0;
    }

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


/* a list: the entry of key, or NULL */
static cast_gql_name_t *
cast_gql_names_scan(const cast_gql_names_t *t, cast_str_t key)
{
    cast_gql_name_t  *s, *end;

    s = t->slots;

    for (end = s + t->n; s < end; s++) {
        /* names are short: the first byte tells most apart */
        if (s->key.len == key.len
            && (key.len == 0
                || (s->key.data[0] == key.data[0]
                    && (key.len == 1
                        || memcmp(s->key.data + 1, key.data + 1,
                                  key.len - 1) == 0))))
        {
            return s;
        }
    }

    return NULL;
}


/* the value already under key, or NULL once val is put there */
void *
cast_gql_names_put(cast_gql_names_t *t, cast_str_t key, void *val)
{
    cast_gql_name_t  *s;

    if (t->mask == 0) {
        s = cast_gql_names_scan(t, key);
        if (s != NULL) {
            return s->val;
        }

        s = &((cast_gql_name_t *) t->slots)[t->n];

    } else {
        s = cast_gql_names_find(t, key);
        if (s->key.data != NULL) {
            return s->val;
        }
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
    cast_gql_name_t  *s;

    if (t->slots == NULL) {
        return NULL;
    }

    if (t->mask == 0) {
        s = cast_gql_names_scan(t, key);
        return s != NULL ? s->val : NULL;
    }

    return cast_gql_names_find(t, key)->val;
}
