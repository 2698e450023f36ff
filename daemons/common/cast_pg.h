/*
 * libpq helpers: checked execution, schema migrations, array literals for
 * unnest() batches.
 */

#ifndef CAST_PG_H
#define CAST_PG_H

#include <stddef.h>
#include <stdint.h>
#include <postgresql/libpq-fe.h>


/* A connected session, or NULL with err filled */
PGconn *cast_pg_connect(const char *dsn, char *err, size_t errlen);

/*
 * PQexecParams() of sql (text parameters), its status checked against
 * expect; the result, or NULL (logged, cleared) on any other status.
 */
PGresult *cast_pg_query(PGconn *pg, const char *sql, int nparams,
    const char *const *params, ExecStatusType expect);

/* cast_pg_query() for commands whose result is not needed; 0 or -1 */
int cast_pg_exec(PGconn *pg, const char *sql, int nparams,
    const char *const *params);

/*
 * Applies the files dir/NNN_name.sql not yet recorded in
 * schema_migrations, in order, in one transaction under an advisory lock
 * (replicas starting together apply each file once).  The number applied,
 * or -1 (logged).
 */
int cast_pg_migrate(PGconn *pg, const char *dir);


/* A PostgreSQL array literal built element by element: {"a","b",NULL} */
typedef struct {
    char      *data;
    size_t     len;
    size_t     size;
    size_t     n;
    int        failed;
} cast_pg_array_t;

void cast_pg_array_init(cast_pg_array_t *a);
void cast_pg_array_str(cast_pg_array_t *a, const char *s);
void cast_pg_array_int(cast_pg_array_t *a, int64_t v);
void cast_pg_array_null(cast_pg_array_t *a);
/* The NUL-terminated literal, or NULL when memory ran out */
const char *cast_pg_array_end(cast_pg_array_t *a);
void cast_pg_array_free(cast_pg_array_t *a);


#endif /* CAST_PG_H */
