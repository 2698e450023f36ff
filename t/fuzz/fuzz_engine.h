/*
 * The engine the GraphQL fuzzers drive: limits small enough that every
 * one of them is reached, introspection on.  Aborts when it cannot be
 * created: a fuzzer without its engine finds nothing.
 */

#ifndef _FUZZ_ENGINE_H_INCLUDED_
#define _FUZZ_ENGINE_H_INCLUDED_


#include <stdlib.h>

#include "cast_graphql.h"


static inline cast_gql_engine_t *
fuzz_engine(size_t cache_entries)
{
    cast_gql_engine_t  *eng;
    cast_gql_limits_t   lim;

    lim.max_query_len = 4096;
    lim.max_tokens = 1000;
    lim.max_depth = 16;
    lim.max_fields = 500;
    lim.max_aliases = 50;
    lim.max_list_len = 50;
    lim.max_introspection = 64 * 1024;
    lim.max_result_items = 5000;
    lim.cache_entries = cache_entries;
    lim.introspection = 1;

    eng = cast_gql_engine_create(&lim);
    if (eng == NULL) {
        abort();
    }

    return eng;
}


#endif /* _FUZZ_ENGINE_H_INCLUDED_ */
