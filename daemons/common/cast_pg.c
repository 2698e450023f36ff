#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_log.h"
#include "cast_pg.h"


#define CAST_PG_MIGRATE_LOCK  "7231000"     /* pg_advisory_xact_lock key */
#define CAST_PG_FILE_MAX      (1024 * 1024)


static void cast_pg_notice(void *arg, const char *message);
static int cast_pg_is_migration(const struct dirent *d);
static char *cast_pg_read_file(const char *path);
static int cast_pg_apply(PGconn *pg, const char *dir, const char *name);
static int cast_pg_migrate_all(PGconn *pg, const char *dir);
static void cast_pg_array_put(cast_pg_array_t *a, const char *s, size_t n);
static void cast_pg_array_sep(cast_pg_array_t *a);


/*
 * Timeouts first, so the dsn can override them: without them a dead
 * server blocks a connect or a query for the kernel's TCP timeout.
 */

PGconn *
cast_pg_connect(const char *dsn, char *err, size_t errlen)
{
    PGconn             *pg;
    static const char  *keys[] = {
        "connect_timeout", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "options", "dbname", NULL
    };
    const char         *values[] = {
        "10", "10", "5", "3", "30000",
        "-c statement_timeout=60s -c lock_timeout=30s", dsn, NULL
    };

    pg = PQconnectdbParams(keys, values, 1);

    if (pg == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(pg);
        return NULL;
    }

    PQsetNoticeProcessor(pg, cast_pg_notice, NULL);
    return pg;
}


/* server notices ("already exists, skipping") into the structured log */

static void
cast_pg_notice(void *arg, const char *message)
{
    char  msg[512];

    (void) arg;

    snprintf(msg, sizeof(msg), "%s", message);
    msg[strcspn(msg, "\n")] = '\0';

    cast_log(CAST_LOG_DEBUG, "pg_notice", "%s", msg);
}


PGresult *
cast_pg_query(PGconn *pg, const char *sql, int nparams,
    const char *const *params, ExecStatusType expect)
{
    char       msg[512];
    PGresult  *res;

    res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == expect) {
        return res;
    }

    snprintf(msg, sizeof(msg), "%s", res ? PQresultErrorMessage(res)
                                         : PQerrorMessage(pg));
    msg[strcspn(msg, "\n")] = '\0';

    cast_log(CAST_LOG_ERR, "pg", "%.40s...: %s", sql, msg);
    PQclear(res);

    return NULL;
}


int
cast_pg_exec(PGconn *pg, const char *sql, int nparams,
    const char *const *params)
{
    PGresult  *res;

    res = cast_pg_query(pg, sql, nparams, params, PGRES_COMMAND_OK);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);
    return 0;
}


/* NNN_name.sql */

static int
cast_pg_is_migration(const struct dirent *d)
{
    size_t  len;

    len = strlen(d->d_name);

    return len > 8
           && d->d_name[0] >= '0' && d->d_name[0] <= '9'
           && d->d_name[1] >= '0' && d->d_name[1] <= '9'
           && d->d_name[2] >= '0' && d->d_name[2] <= '9'
           && d->d_name[3] == '_'
           && strcmp(d->d_name + len - 4, ".sql") == 0;
}


static char *
cast_pg_read_file(const char *path)
{
    char    *buf;
    FILE    *f;
    size_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }

    buf = malloc(CAST_PG_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }

    n = fread(buf, 1, CAST_PG_FILE_MAX + 1, f);
    fclose(f);

    if (n > CAST_PG_FILE_MAX) {
        free(buf);
        return NULL;
    }

    buf[n] = '\0';
    return buf;
}


/* Applies one file unless recorded; 1 applied, 0 already there, -1 */

static int
cast_pg_apply(PGconn *pg, const char *dir, const char *name)
{
    int          applied;
    char         path[4096], version[4], *sql;
    PGresult    *res;
    const char  *params[2];

    memcpy(version, name, 3);
    version[3] = '\0';
    params[0] = version;
    params[1] = name;

    res = cast_pg_query(pg, "SELECT 1 FROM schema_migrations "
                        "WHERE version = $1::int", 1, params,
                        PGRES_TUPLES_OK);
    if (res == NULL) {
        return -1;
    }

    applied = PQntuples(res) > 0;
    PQclear(res);

    if (applied) {
        return 0;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    sql = cast_pg_read_file(path);
    if (sql == NULL) {
        cast_log(CAST_LOG_ERR, "migrate", "cannot read %s", path);
        return -1;
    }

    /* a trusted file of several statements: the simple query protocol */
    res = PQexec(pg, sql);
    free(sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        cast_log(CAST_LOG_ERR, "migrate", "%s: %s", name,
                 res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }

    PQclear(res);

    if (cast_pg_exec(pg, "INSERT INTO schema_migrations (version, name) "
                     "VALUES ($1::int, $2)", 2, params) != 0)
    {
        return -1;
    }

    cast_log(CAST_LOG_INFO, "migrate", "applied %s", name);
    return 1;
}


static int
cast_pg_migrate_all(PGconn *pg, const char *dir)
{
    int              i, n, rc, applied;
    struct dirent  **names;

    n = scandir(dir, &names, cast_pg_is_migration, alphasort);
    if (n < 0) {
        cast_log(CAST_LOG_ERR, "migrate", "cannot list %s", dir);
        return -1;
    }

    applied = 0;

    for (i = 0; i < n; i++) {
        rc = (applied >= 0) ? cast_pg_apply(pg, dir, names[i]->d_name) : 0;
        applied = (rc < 0) ? -1 : applied + rc;
        free(names[i]);
    }

    free(names);
    return applied;
}


int
cast_pg_migrate(PGconn *pg, const char *dir)
{
    int        locked, applied;
    PGresult  *res;

    if (cast_pg_exec(pg, "BEGIN", 0, NULL) != 0) {
        return -1;
    }

    applied = -1;

    res = cast_pg_query(pg, "SELECT pg_advisory_xact_lock("
                        CAST_PG_MIGRATE_LOCK ")", 0, NULL, PGRES_TUPLES_OK);
    locked = (res != NULL);
    PQclear(res);

    if (locked
        && cast_pg_exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version int PRIMARY KEY, name text NOT NULL, "
                        "applied_at timestamptz NOT NULL DEFAULT now())",
                        0, NULL) == 0)
    {
        applied = cast_pg_migrate_all(pg, dir);
    }

    if (cast_pg_exec(pg, applied >= 0 ? "COMMIT" : "ROLLBACK", 0, NULL)
        != 0)
    {
        return -1;
    }

    return applied;
}


void
cast_pg_array_init(cast_pg_array_t *a)
{
    memset(a, 0, sizeof(cast_pg_array_t));
    cast_pg_array_put(a, "{", 1);
}


static void
cast_pg_array_put(cast_pg_array_t *a, const char *s, size_t n)
{
    char    *p;
    size_t   size;

    if (a->failed) {
        return;
    }

    if (a->len + n + 1 > a->size) {
        size = a->size ? a->size : 256;
        while (a->len + n + 1 > size) {
            size *= 2;
        }

        p = realloc(a->data, size);
        if (p == NULL) {
            a->failed = 1;
            return;
        }

        a->data = p;
        a->size = size;
    }

    memcpy(a->data + a->len, s, n);
    a->len += n;
    a->data[a->len] = '\0';
}


static void
cast_pg_array_sep(cast_pg_array_t *a)
{
    if (a->n++ > 0) {
        cast_pg_array_put(a, ",", 1);
    }
}


/* Elements are double-quoted; '"' and '\' inside get a backslash. */

void
cast_pg_array_str(cast_pg_array_t *a, const char *s)
{
    size_t  n;

    cast_pg_array_sep(a);
    cast_pg_array_put(a, "\"", 1);

    while (*s != '\0') {
        n = strcspn(s, "\"\\");
        cast_pg_array_put(a, s, n);
        s += n;

        if (*s != '\0') {
            cast_pg_array_put(a, "\\", 1);
            cast_pg_array_put(a, s, 1);
            s++;
        }
    }

    cast_pg_array_put(a, "\"", 1);
}


void
cast_pg_array_int(cast_pg_array_t *a, int64_t v)
{
    char  buf[24];
    int   n;

    n = snprintf(buf, sizeof(buf), "%lld", (long long) v);
    cast_pg_array_sep(a);
    cast_pg_array_put(a, buf, n);
}


void
cast_pg_array_null(cast_pg_array_t *a)
{
    cast_pg_array_sep(a);
    cast_pg_array_put(a, "NULL", 4);
}


const char *
cast_pg_array_end(cast_pg_array_t *a)
{
    cast_pg_array_put(a, "}", 1);

    return a->failed ? NULL : a->data;
}


void
cast_pg_array_free(cast_pg_array_t *a)
{
    free(a->data);
    memset(a, 0, sizeof(cast_pg_array_t));
}
