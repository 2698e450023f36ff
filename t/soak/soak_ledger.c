
/*
 * Copyright (C) CAST developers
 *
 * The ledger: per name, the votes acknowledged to the client and the votes
 * that may or may not have counted (their client left, or was told
 * UNAVAILABLE, or the answer failed its check).  scripts/soak.sh compares
 * it with Redis once the pipeline drained.
 */

#include <stdio.h>
#include <stdlib.h>

#include "soak.h"


static unsigned   soak_names;
static uint64_t  *soak_acked;           /* per name, both pools */
static uint64_t  *soak_maybe;


void
soak_ledger_init(unsigned names)
{
    soak_names = names;
    soak_acked = calloc(2 * names, sizeof(uint64_t));
    soak_maybe = calloc(2 * names, sizeof(uint64_t));

    if (soak_acked == NULL || soak_maybe == NULL) {
        fprintf(stderr, "cast-soak: out of memory\n");
        exit(2);
    }
}


/* the votes of one field: acknowledged (sure) or not */
void
soak_ledger_add(soak_req_t *rq, soak_field_t *f, int sure)
{
    int        i;
    unsigned   base;
    uint64_t  *to;

    base = rq->uncertain_pool ? soak_names : 0;
    to = sure ? soak_acked : soak_maybe;

    for (i = 0; i < f->n; i++) {
        to[base + f->name[i]] += f->count[i];
        if (sure) {
            soak_stats.accepted_names += f->count[i];
        }
    }
}


void
soak_ledger_uncertain(soak_req_t *rq)
{
    int  i;

    for (i = 0; i < rq->nfields; i++) {
        soak_ledger_add(rq, &rq->field[i], 0);
    }
}


/* name, acknowledged votes, votes that may or may not have counted */
int
soak_ledger_write(const char *path)
{
    FILE      *f;
    unsigned   k;

    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }

    for (k = 0; k < 2 * soak_names; k++) {
        if (soak_acked[k] || soak_maybe[k]) {
            fprintf(f, "%s\t%llu\t%llu\n",
                    soak_name(k >= soak_names, k % soak_names),
                    (unsigned long long) soak_acked[k],
                    (unsigned long long) soak_maybe[k]);
        }
    }

    return fclose(f);
}
