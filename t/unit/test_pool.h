/*
 * The request memory of the engine's tests and fuzzers: a list of
 * malloc()ed blocks behind a cast_gql_alloc_t, freed as a whole, so
 * that ASan sees every request's memory as its own allocations.
 */

#ifndef _TEST_POOL_H_INCLUDED_
#define _TEST_POOL_H_INCLUDED_


#include <stdlib.h>


typedef struct test_block_s  test_block_t;

struct test_block_s {
    test_block_t             *next;
};


static test_block_t  *test_pool;
static size_t         test_pool_bytes;  /* what test_pool holds */


/* ctx: a block list (test_block_t **); NULL: test_pool */
static inline void *
test_alloc(void *ctx, size_t size)
{
    test_block_t  *b, **pool;

    pool = ctx != NULL ? ctx : &test_pool;

    b = malloc(sizeof(test_block_t) + size + 16);
    if (b == NULL) {
        return NULL;
    }

    b->next = *pool;
    *pool = b;

    if (pool == &test_pool) {
        test_pool_bytes += size;
    }

    return (char *) b + 16;
}


static inline void
test_blocks_free(test_block_t **pool)
{
    test_block_t  *b, *next;

    for (b = *pool; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    *pool = NULL;
}


static inline void
test_pool_free(void)
{
    test_blocks_free(&test_pool);
    test_pool_bytes = 0;
}


#endif /* _TEST_POOL_H_INCLUDED_ */
