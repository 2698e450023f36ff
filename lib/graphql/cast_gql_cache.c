/*
 * The per-engine document cache: parsed and validated documents (or
 * their errors) by query text, in a fixed array of entries indexed by a
 * chained hash table and evicted by CLOCK.  Everything is malloc-owned
 * and freed by cast_gql_cache_destroy().
 */

#include <stdlib.h>

#include "cast_gql_exec.h"


typedef struct cast_gql_node_s  cast_gql_node_t;

struct cast_gql_node_s {
    cast_gql_entry_t          e;        /* first: entries are nodes */
    cast_gql_node_t          *next;
    int                       linked;
};

struct cast_gql_cache_s {
    cast_gql_node_t          *nodes;
    size_t                    n;
    size_t                    used;
    size_t                    hand;
    cast_gql_node_t         **buckets;
    size_t                    mask;
};


/* eight bytes per multiply: the query text is hashed on every request */
uint64_t
cast_gql_hash(const char *s, size_t n)
{
    uint64_t  h, w;
    size_t    i;

    h = 0x9e3779b97f4a7c15ULL ^ n;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }

    for ( /* void */ ; i < n; i++) {
        h = (h ^ (unsigned char) s[i]) * 0x100000001b3ULL;
    }

    return h ^ (h >> 29);
}


cast_gql_cache_t *
cast_gql_cache_create(size_t entries)
{
    cast_gql_cache_t  *c;
    size_t             nb;

    c = calloc(1, sizeof(cast_gql_cache_t));
    if (c == NULL) {
        return NULL;
    }

    for (nb = 16; nb < entries * 2; nb *= 2) {
        /* void */
    }

    c->n = entries;
    c->mask = nb - 1;
    c->nodes = calloc(entries, sizeof(cast_gql_node_t));
    c->buckets = calloc(nb, sizeof(cast_gql_node_t *));

    if (c->nodes == NULL || c->buckets == NULL) {
        cast_gql_cache_destroy(c);
        return NULL;
    }

    return c;
}


void
cast_gql_cache_destroy(cast_gql_cache_t *c)
{
    size_t  i;

    if (c == NULL) {
        return;
    }

    for (i = 0; c->nodes != NULL && i < c->used; i++) {
        cast_arena_free(&c->nodes[i].e.arena);
    }

    free(c->nodes);
    free(c->buckets);
    free(c);
}


cast_gql_entry_t *
cast_gql_cache_get(cast_gql_cache_t *c, const char *text, size_t len,
    uint64_t hash)
{
    cast_gql_node_t  *nd;

    for (nd = c->buckets[hash & c->mask]; nd != NULL; nd = nd->next) {
        if (nd->e.hash == hash && nd->e.len == len
            && memcmp(nd->e.text, text, len) == 0)
        {
            nd->e.ref = 1;
            return &nd->e;
        }
    }

    return NULL;
}


static void
cast_gql_cache_unlink(cast_gql_cache_t *c, cast_gql_node_t *nd)
{
    cast_gql_node_t  **pp;

    if (!nd->linked) {
        return;
    }

    for (pp = &c->buckets[nd->e.hash & c->mask]; *pp != NULL;
         pp = &(*pp)->next)
    {
        if (*pp == nd) {
            *pp = nd->next;
            break;
        }
    }

    nd->linked = 0;
}


/* an empty entry to fill, evicting the first one CLOCK finds unused */
cast_gql_entry_t *
cast_gql_cache_slot(cast_gql_cache_t *c)
{
    cast_gql_node_t  *nd;

    if (c->used < c->n) {
        nd = &c->nodes[c->used++];

    } else {
        for ( ;; ) {
            nd = &c->nodes[c->hand];
            c->hand = (c->hand + 1) % c->n;
            if (!nd->e.ref) {
                break;
            }
            nd->e.ref = 0;
        }

        cast_gql_cache_unlink(c, nd);
        cast_arena_free(&nd->e.arena);
    }

    memset(nd, 0, sizeof(cast_gql_node_t));
    cast_arena_init(&nd->e.arena, NULL);

    return &nd->e;
}


void
cast_gql_cache_put(cast_gql_cache_t *c, cast_gql_entry_t *e)
{
    cast_gql_node_t  *nd;

    nd = (cast_gql_node_t *) e;
    nd->next = c->buckets[e->hash & c->mask];
    c->buckets[e->hash & c->mask] = nd;
    nd->linked = 1;
}
