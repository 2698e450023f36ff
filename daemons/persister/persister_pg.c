#include <stdlib.h>
#include <string.h>

#include "cast_log.h"
#include "cast_pg.h"
#include "persister.h"


typedef struct {
    const char        *user;
    int64_t            c;
    int64_t            ver;
} persister_vote_t;


/*
 * A batch that held known event ids (a replay): unnest() turns the arrays
 * into rows, and the known ones are skipped.  Other batches are copied in
 * (persister_copy.c).
 */
static const char  persister_sql_events[] =
    "INSERT INTO vote_events (event_id, ts, ticket_seq, voter, payload) "
    "SELECT id, to_timestamp(ts / 1000.0), ticket, voter, payload "
    "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], "
    "$5::json[]) AS e(id, ts, ticket, voter, payload) "
    "ON CONFLICT (event_id) DO NOTHING";

/* a name moves only forward in version: replays and reorders converge */
static const char  persister_sql_votes[] =
    "INSERT INTO votes (username, count, version, updated_at) "
    "SELECT u, c, ver, clock_timestamp() "
    "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(u, c, ver) "
    "ON CONFLICT (username) DO UPDATE "
    "SET count = excluded.count, version = excluded.version, "
    "updated_at = excluded.updated_at "
    "WHERE votes.version < excluded.version";


static int persister_cmp_item(const void *a, const void *b);
static int persister_cmp_vote(const void *a, const void *b);
static size_t persister_unique(persister_item_t **sorted, size_t n);
static int64_t persister_events(persister_t *p, persister_item_t **sorted,
    size_t n);
static int64_t persister_votes(persister_t *p, persister_vote_t *votes,
    size_t n);
static int64_t persister_pg_run(persister_t *p, const char *sql,
    cast_pg_array_t *arrays, int narrays);
static int persister_pg_tx(persister_t *p, persister_item_t **sorted,
    size_t n, persister_vote_t *votes, size_t nvotes, int copy);


/* Connects (again) when needed and migrates once; 0 when usable. */

int
persister_pg_open(persister_t *p)
{
    char  err[512];

    if (p->pg != NULL && PQstatus(p->pg) != CONNECTION_OK) {
        PQfinish(p->pg);
        p->pg = NULL;
    }

    if (p->pg == NULL) {
        p->pg = cast_pg_connect(p->pg_dsn, err, sizeof(err));
        if (p->pg == NULL) {
            cast_log(CAST_LOG_WARN, "pg", "%s", err);
            p->pg_errors_total++;
            return -1;
        }

        cast_log(CAST_LOG_INFO, "pg", "connected");
    }

    if (!p->migrated) {
        if (cast_pg_migrate(p->pg, p->migrations_dir) < 0) {
            p->pg_errors_total++;
            return -1;
        }

        p->migrated = 1;
    }

    return 0;
}


static int
persister_cmp_item(const void *a, const void *b)
{
    const persister_item_t  *x = *(persister_item_t *const *) a;
    const persister_item_t  *y = *(persister_item_t *const *) b;

    return strcmp(x->ev.id, y->ev.id);
}


/* by name, the highest version first */

static int
persister_cmp_vote(const void *a, const void *b)
{
    int                      rc;
    const persister_vote_t  *x = a, *y = b;

    rc = strcmp(x->user, y->user);
    if (rc != 0) {
        return rc;
    }

    return (x->ver < y->ver) - (x->ver > y->ver);
}


/*
 * Runs sql with the finished arrays as parameters; rows affected, or -1.
 * The arrays are freed.
 */

static int64_t
persister_pg_run(persister_t *p, const char *sql, cast_pg_array_t *arrays,
    int narrays)
{
    int          i, ok;
    int64_t      rows;
    PGresult    *res;
    const char  *params[5];

    ok = 1;

    for (i = 0; i < narrays; i++) {
        params[i] = cast_pg_array_end(&arrays[i]);
        ok = ok && params[i] != NULL;
    }

    rows = -1;

    if (!ok) {
        cast_log(CAST_LOG_ERR, "pg", "out of memory building a batch");

    } else {
        res = cast_pg_query(p->pg, sql, narrays, params, PGRES_COMMAND_OK);
        if (res != NULL) {
            rows = strtoll(PQcmdTuples(res), NULL, 10);
            PQclear(res);
        }
    }

    for (i = 0; i < narrays; i++) {
        cast_pg_array_free(&arrays[i]);
    }

    return rows;
}


/*
 * Event rows in event id order (concurrent replicas lock alike), known
 * ones skipped; the rows inserted, or -1.
 */

static int64_t
persister_events(persister_t *p, persister_item_t **sorted, size_t n)
{
    char             *payload;
    size_t            i;
    cast_pg_array_t   a[5];
    cast_event_t     *ev;

    for (i = 0; i < 5; i++) {
        cast_pg_array_init(&a[i]);
    }

    for (i = 0; i < n; i++) {
        ev = &sorted[i]->ev;

        payload = cast_event_encode(ev);
        if (payload == NULL) {
            a[4].failed = 1;
            break;
        }

        cast_pg_array_str(&a[0], ev->id);
        cast_pg_array_int(&a[1], ev->ts);
        cast_pg_array_int(&a[2], ev->ticket);

        if (ev->voter != NULL) {
            cast_pg_array_str(&a[3], ev->voter);

        } else {
            cast_pg_array_null(&a[3]);
        }

        cast_pg_array_str(&a[4], payload);
        free(payload);
    }

    return persister_pg_run(p, persister_sql_events, a, 5);
}


/* votes sorted by name, highest version first: one row per name */

static int64_t
persister_votes(persister_t *p, persister_vote_t *votes, size_t n)
{
    size_t            i;
    cast_pg_array_t   a[3];

    for (i = 0; i < 3; i++) {
        cast_pg_array_init(&a[i]);
    }

    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(votes[i].user, votes[i - 1].user) == 0) {
            continue;
        }

        cast_pg_array_str(&a[0], votes[i].user);
        cast_pg_array_int(&a[1], votes[i].c);
        cast_pg_array_int(&a[2], votes[i].ver);
    }

    return persister_pg_run(p, persister_sql_votes, a, 3);
}


/*
 * One transaction: the events copied in (copy) or inserted with ON
 * CONFLICT, then the votes.  0, PERSISTER_KNOWN (copy only: rolled back,
 * an event id was there already), or -1.  After an ON CONFLICT insert
 * that ran (a failed one says nothing of known ids),
 * p->replaying says whether it skipped any event.
 */

static int
persister_pg_tx(persister_t *p, persister_item_t **sorted, size_t n,
    persister_vote_t *votes, size_t nvotes, int copy)
{
    int      rc;
    int64_t  rows, updated;

    if (cast_pg_exec(p->pg, "BEGIN", 0, NULL) != 0) {
        return -1;
    }

    p->tx_rows = 0;
    updated = -1;

    if (copy) {
        rc = persister_copy_events(p, sorted, n);

    } else {
        rows = persister_events(p, sorted, n);
        rc = (rows < 0) ? -1 : 0;
        p->tx_rows = (rows < 0) ? 0 : (uint64_t) rows;
        if (rows >= 0) {
            p->replaying = ((size_t) rows < n);
        }
    }

    if (rc != 0
        || (updated = persister_votes(p, votes, nvotes)) < 0
        || cast_pg_exec(p->pg, "COMMIT", 0, NULL) != 0)
    {
        if (PQtransactionStatus(p->pg) != PQTRANS_IDLE
            && PQtransactionStatus(p->pg) != PQTRANS_UNKNOWN)
        {
            cast_pg_exec(p->pg, "ROLLBACK", 0, NULL);
        }

        return (rc == PERSISTER_KNOWN) ? rc : -1;
    }

    /* rows a COMMIT kept: a transaction that failed is applied again */
    p->events_inserted_total += p->tx_rows;
    p->votes_updated_total += (uint64_t) updated;

    return 0;
}


/*
 * The sorted events, each id once (a relay that restarted may have
 * produced an event twice, and both may be in one batch); their number.
 */

static size_t
persister_unique(persister_item_t **sorted, size_t n)
{
    size_t  i, k;

    k = 0;

    for (i = 0; i < n; i++) {
        if (k == 0 || strcmp(sorted[i]->ev.id, sorted[k - 1]->ev.id) != 0) {
            sorted[k++] = sorted[i];
        }
    }

    return k;
}


/*
 * The valid events of the batch in one transaction; 0 once committed.
 * The batch is copied in unless the last one held known event ids; when
 * the copy meets one, the batch is applied again, in a new transaction,
 * with ON CONFLICT.  A replay after a crash or a rebalance spans a batch
 * or a few, then the copies resume.
 */

int
persister_pg_apply(persister_t *p)
{
    int                 rc;
    size_t              i, j, n, nvotes;
    persister_vote_t   *votes;
    persister_item_t  **sorted;

    if (persister_pg_open(p) != 0) {
        return -1;
    }

    n = 0;
    nvotes = 0;

    for (i = 0; i < p->n; i++) {
        if (p->items[i].valid) {
            n++;
            nvotes += p->items[i].ev.nvotes;
        }
    }

    if (n == 0) {
        return 0;
    }

    sorted = malloc(n * sizeof(persister_item_t *));
    votes = malloc(nvotes * sizeof(persister_vote_t));

    if (sorted == NULL || votes == NULL) {
        cast_log(CAST_LOG_ERR, "pg", "out of memory building a batch");
        free(sorted);
        free(votes);
        return -1;
    }

    /*
     * The votes of every valid event, an id met twice included: a second
     * event under a known id (not the same bytes again) has its votes
     * applied by version in a later batch, and so it does in this one.
     */
    n = 0;
    nvotes = 0;

    for (i = 0; i < p->n; i++) {
        if (!p->items[i].valid) {
            continue;
        }

        sorted[n++] = &p->items[i];

        for (j = 0; j < p->items[i].ev.nvotes; j++) {
            votes[nvotes].user = p->items[i].ev.votes[j].user;
            votes[nvotes].c = p->items[i].ev.votes[j].c;
            votes[nvotes].ver = p->items[i].ev.votes[j].ver;
            nvotes++;
        }
    }

    qsort(sorted, n, sizeof(persister_item_t *), persister_cmp_item);
    n = persister_unique(sorted, n);

    qsort(votes, nvotes, sizeof(persister_vote_t), persister_cmp_vote);

    rc = persister_pg_tx(p, sorted, n, votes, nvotes, !p->replaying);

    if (rc == PERSISTER_KNOWN) {
        cast_log(CAST_LOG_INFO, "batch", "%zu events, some applied before: "
                 "again with ON CONFLICT", n);
        rc = persister_pg_tx(p, sorted, n, votes, nvotes, 0);
    }

    if (p->replaying && rc == 0) {
        p->replay_batches_total++;
    }

    if (rc != 0) {
        p->pg_errors_total++;
    }

    free(sorted);
    free(votes);

    return rc;
}
