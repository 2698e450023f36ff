#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cast_pg.h"
#include "cast_redis.h"
#include "cast_restore.h"


/*
 * A scan is bounded by the size its key had when it began (HLEN, ZCARD):
 * Redis visits at most ten empty buckets for each entry asked, so an
 * honest scan of n entries at COUNT 1000 takes some n / 600 pages at
 * worst and returns an entry about once.  A server whose cursor never
 * comes back to 0 (a faulty proxy, a hostile server) is left there,
 * with an error, never followed forever nor stored without end.
 */
#define ADMIN_SCAN_MAX_SIZE      1000000000
#define ADMIN_SCAN_PAGES(n)      (64 + (n) / 64)
#define ADMIN_SCAN_ENTRIES(n)    (1000 + 2 * (n))


typedef struct {
    char     *name;
    int64_t   count;
    int64_t   version;
} admin_name_t;


typedef struct {
    admin_name_t  *items;
    size_t         n;
    size_t         size;
} admin_names_t;


static int admin_cmp_name(const void *a, const void *b);
static int admin_names_add(admin_names_t *ns, const char *name, size_t len,
    int64_t count, int64_t version);
static void admin_names_dedupe(admin_names_t *ns);
static int admin_scan_page(redisReply *r, char *cursor, size_t size,
    admin_names_t *ns);
static int admin_scan_size(redisContext *rc, const char *scan,
    const char *key, size_t *size);
static int admin_hscan(redisContext *rc, const char *scan, const char *key,
    admin_names_t *ns);
static int admin_total(redisReply *t, int64_t *total);
static size_t admin_board(redisContext *rc, const admin_names_t *r);
static int admin_redis_side(redisContext *rc, admin_names_t *ns);
static int admin_pg_side(PGconn *pg, admin_names_t *ns);
static size_t admin_compare(const admin_names_t *r, const admin_names_t *p);
static void admin_names_free(admin_names_t *ns);


static int
admin_cmp_name(const void *a, const void *b)
{
    return strcmp(((const admin_name_t *) a)->name,
                  ((const admin_name_t *) b)->name);
}


static int
admin_names_add(admin_names_t *ns, const char *name, size_t len,
    int64_t count, int64_t version)
{
    size_t         size;
    admin_name_t  *items;

    if (ns->n == ns->size) {
        size = ns->size ? 2 * ns->size : 1024;

        items = realloc(ns->items, size * sizeof(admin_name_t));
        if (items == NULL) {
            return -1;
        }

        ns->items = items;
        ns->size = size;
    }

    ns->items[ns->n].name = strndup(name, len);
    if (ns->items[ns->n].name == NULL) {
        return -1;
    }

    ns->items[ns->n].count = count;
    ns->items[ns->n].version = version;
    ns->n++;

    return 0;
}


/* HSCAN may return a field twice: one entry per name, sorted ns. */

static void
admin_names_dedupe(admin_names_t *ns)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < ns->n; i++) {
        if (n > 0 && strcmp(ns->items[n - 1].name, ns->items[i].name) == 0) {
            free(ns->items[i].name);
            continue;
        }

        ns->items[n++] = ns->items[i];
    }

    ns->n = n;
}


/*
 * One page of a scan reply r: the next cursor into cursor (size bytes),
 * each name with its value (an integer) into ns.  0; -1 when the reply
 * is not the one Redis gives (a faulty or hostile server), -2 when out of
 * memory.
 */

static int
admin_scan_page(redisReply *r, char *cursor, size_t size, admin_names_t *ns)
{
    size_t       i;
    int64_t      value;
    redisReply  *c, *kv, *k, *v;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        return -1;
    }

    c = r->element[0];
    kv = r->element[1];

    if (c->type != REDIS_REPLY_STRING || c->len == 0 || c->len >= size
        || kv->type != REDIS_REPLY_ARRAY || kv->elements % 2 != 0)
    {
        return -1;
    }

    for (i = 0; i < kv->elements; i += 2) {
        k = kv->element[i];
        v = kv->element[i + 1];

        if (k->type != REDIS_REPLY_STRING
            || cast_redis_int64(v, &value) != 0)
        {
            return -1;
        }

        if (admin_names_add(ns, k->str, k->len, value, -1) != 0) {
            return -2;
        }
    }

    memcpy(cursor, c->str, c->len + 1);
    return 0;
}


/* the entries of key at the start of its scan, at most MAX_SIZE */

static int
admin_scan_size(redisContext *rc, const char *scan, const char *key,
    size_t *size)
{
    int64_t      n;
    const char  *card;
    redisReply  *r;

    card = strcmp(scan, "ZSCAN") == 0 ? "ZCARD" : "HLEN";

    r = cast_redis_command(rc, "%s %s", card, key);

    n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

    if (n < 0) {
        fprintf(stderr, "cast-admin: %s %s: %s\n", card, key,
                r == NULL ? rc->errstr
                : r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    }

    if (r != NULL) {
        freeReplyObject(r);
    }

    *size = n < ADMIN_SCAN_MAX_SIZE ? (size_t) n : ADMIN_SCAN_MAX_SIZE;

    return n < 0 ? -1 : 0;
}


/*
 * A whole hash (scan "HSCAN") or sorted set ("ZSCAN"), cursor by cursor,
 * into ns (values or scores in count), sorted.  A cursor that comes back
 * as it was sent, or a scan past its bounds, is an error.
 */

static int
admin_hscan(redisContext *rc, const char *scan, const char *key,
    admin_names_t *ns)
{
    int          rc_page;
    char         cursor[32], sent[32];
    size_t       size, pages;
    redisReply  *r;

    if (admin_scan_size(rc, scan, key, &size) != 0) {
        return -1;
    }

    strcpy(cursor, "0");
    pages = 0;

    do {
        if (pages++ == ADMIN_SCAN_PAGES(size)
            || ns->n > ADMIN_SCAN_ENTRIES(size)
            || (pages > 1 && strcmp(cursor, sent) == 0))
        {
            fprintf(stderr, "cast-admin: %s %s: the scan does not end "
                    "(cursor %s after %zu pages and %zu entries, of %zu "
                    "at its start): a faulty or hostile Redis\n", scan, key,
                    cursor, pages - 1, ns->n, size);
            return -1;
        }

        strcpy(sent, cursor);

        r = cast_redis_command(rc, "%s %s %s COUNT 1000", scan, key, cursor);

        rc_page = r ? admin_scan_page(r, cursor, sizeof(cursor), ns) : -1;

        if (rc_page != 0) {
            fprintf(stderr, "cast-admin: %s %s: %s\n", scan, key,
                    r == NULL ? rc->errstr
                    : r->type == REDIS_REPLY_ERROR ? r->str
                    : rc_page == -2 ? "out of memory" : "bad reply");
        }

        if (r != NULL) {
            freeReplyObject(r);
        }

        if (rc_page != 0) {
            return -1;
        }

    } while (strcmp(cursor, "0") != 0);

    /* an empty scan has no items array: qsort() takes no NULL */
    if (ns->n > 1) {
        qsort(ns->items, ns->n, sizeof(admin_name_t), admin_cmp_name);
    }

    admin_names_dedupe(ns);
    return 0;
}


/* {cast}:count with each name's {cast}:version (-1 when absent) */

static int
admin_redis_side(redisContext *rc, admin_names_t *ns)
{
    int             rc_scan;
    size_t          i;
    admin_name_t   *hit;
    admin_names_t   versions;

    memset(&versions, 0, sizeof(versions));

    rc_scan = admin_hscan(rc, "HSCAN", CAST_KEY_COUNT, ns);
    if (rc_scan == 0) {
        rc_scan = admin_hscan(rc, "HSCAN", CAST_KEY_VERSION, &versions);
    }

    for (i = 0; rc_scan == 0 && i < ns->n; i++) {
        hit = versions.n == 0 ? NULL
              : bsearch(&ns->items[i], versions.items, versions.n,
                        sizeof(admin_name_t), admin_cmp_name);
        ns->items[i].version = hit ? hit->count : -1;
    }

    admin_names_free(&versions);
    return rc_scan;
}


static int
admin_pg_side(PGconn *pg, admin_names_t *ns)
{
    int        i, rows, rc;
    PGresult  *res;

    /* the column sorts by bytes ("C"), as strcmp() does */
    res = cast_pg_query(pg, "SELECT username, count, version FROM votes "
                        "ORDER BY username", 0, NULL, PGRES_TUPLES_OK);
    if (res == NULL) {
        return -1;
    }

    rows = PQntuples(res);
    rc = 0;

    for (i = 0; rc == 0 && i < rows; i++) {
        rc = admin_names_add(ns, PQgetvalue(res, i, 0),
                             PQgetlength(res, i, 0),
                             strtoll(PQgetvalue(res, i, 1), NULL, 10),
                             strtoll(PQgetvalue(res, i, 2), NULL, 10));
    }

    PQclear(res);
    return rc;
}


/* {cast}:total's reply t into *total (0 when absent); -1 when not one */

static int
admin_total(redisReply *t, int64_t *total)
{
    if (t == NULL) {
        return -1;
    }

    if (t->type == REDIS_REPLY_NIL) {
        *total = 0;
        return 0;
    }

    return cast_redis_int64(t, total);
}


/*
 * The leaderboard and the total against the counts in Redis (r): every
 * name in {cast}:top scored minus its count, and {cast}:total their sum.
 * Prints each difference; their number, or (size_t) -1 when unreadable.
 */

static size_t
admin_board(redisContext *rc, const admin_names_t *r)
{
    int             bad;
    size_t          i, j, diffs;
    int64_t         sum, total;
    redisReply     *t;
    admin_names_t   top;

    memset(&top, 0, sizeof(top));

    if (admin_hscan(rc, "ZSCAN", CAST_KEY_TOP, &top) != 0) {
        return (size_t) -1;
    }

    diffs = 0;
    sum = 0;

    for (i = 0, j = 0; i < r->n || j < top.n; ) {
        int cmp = i == r->n ? 1 : j == top.n ? -1
                  : strcmp(r->items[i].name, top.items[j].name);

        if (cmp < 0) {
            printf("differ\t%s\tredis count=%lld\tleaderboard missing\n",
                   r->items[i].name, (long long) r->items[i].count);
            sum += r->items[i++].count;
            diffs++;

        } else if (cmp > 0) {
            printf("differ\t%s\tredis count missing\tleaderboard "
                   "votes=%lld\n", top.items[j].name,
                   (long long) -top.items[j].count);
            j++;
            diffs++;

        } else {
            if (r->items[i].count != -top.items[j].count) {
                printf("differ\t%s\tredis count=%lld\tleaderboard "
                       "votes=%lld\n", r->items[i].name,
                       (long long) r->items[i].count,
                       (long long) -top.items[j].count);
                diffs++;
            }
            sum += r->items[i++].count;
            j++;
        }
    }

    admin_names_free(&top);

    t = cast_redis_command(rc, "GET %s", CAST_KEY_TOTAL);
    bad = admin_total(t, &total);

    if (bad) {
        fprintf(stderr, "cast-admin: GET %s: %s\n", CAST_KEY_TOTAL,
                t == NULL ? rc->errstr
                : t->type == REDIS_REPLY_ERROR ? t->str : "bad reply");
    }

    if (t != NULL) {
        freeReplyObject(t);
    }

    if (bad) {
        return (size_t) -1;
    }

    if (total != sum) {
        printf("differ\ttotalVotes\tredis total=%lld\tsum of counts=%lld\n",
               (long long) total, (long long) sum);
        diffs++;
    }

    return diffs;
}


/* Merges the two sorted sides, printing every difference; their number. */

static size_t
admin_compare(const admin_names_t *r, const admin_names_t *p)
{
    int                  cmp;
    size_t               i, j, diffs;
    const admin_name_t  *a, *b;

    i = 0;
    j = 0;
    diffs = 0;

    while (i < r->n || j < p->n) {
        a = (i < r->n) ? &r->items[i] : NULL;
        b = (j < p->n) ? &p->items[j] : NULL;

        cmp = (a == NULL) ? 1 : (b == NULL) ? -1 : strcmp(a->name, b->name);

        if (cmp < 0) {
            printf("differ\t%s\tredis count=%lld version=%lld\t"
                   "postgresql missing\n", a->name, (long long) a->count,
                   (long long) a->version);
            diffs++;
            i++;

        } else if (cmp > 0) {
            printf("differ\t%s\tredis missing\tpostgresql count=%lld "
                   "version=%lld\n", b->name, (long long) b->count,
                   (long long) b->version);
            diffs++;
            j++;

        } else {
            if (a->count != b->count || a->version != b->version) {
                printf("differ\t%s\tredis count=%lld version=%lld\t"
                       "postgresql count=%lld version=%lld\n", a->name,
                       (long long) a->count, (long long) a->version,
                       (long long) b->count, (long long) b->version);
                diffs++;
            }

            i++;
            j++;
        }
    }

    return diffs;
}


static void
admin_names_free(admin_names_t *ns)
{
    size_t  i;

    for (i = 0; i < ns->n; i++) {
        free(ns->items[i].name);
    }

    free(ns->items);
    memset(ns, 0, sizeof(admin_names_t));
}


/* 0 equal, 1 different, 2 could not compare */

int
admin_check(admin_t *a)
{
    int            rc, ready;
    size_t         diffs, board;
    admin_names_t  r, p;

    if (a->wait_s > 0 && admin_wait_drained(a) != 0) {
        return 2;
    }

    if (admin_redis(a) == NULL || admin_pg(a) == NULL) {
        return 2;
    }

    ready = cast_restore_is_ready(a->redis);

    memset(&r, 0, sizeof(r));
    memset(&p, 0, sizeof(p));

    rc = 2;

    if (ready >= 0 && admin_redis_side(a->redis, &r) == 0
        && admin_pg_side(a->pg, &p) == 0)
    {
        diffs = admin_compare(&r, &p);
        board = admin_board(a->redis, &r);

        printf("check: redis %zu names%s, postgresql %zu names, "
               "%zu differences\n", r.n, ready ? "" : " (not ready)", p.n,
               diffs);

        if (board == (size_t) -1) {
            printf("check: the leaderboard could not be read\n");
            rc = 2;

        } else {
            printf("check: leaderboard and total, %zu differences from "
                   "the counts\n", board);
            rc = (diffs > 0 || board != 0 || !ready) ? 1 : 0;
        }
    }

    admin_names_free(&r);
    admin_names_free(&p);

    return rc;
}
