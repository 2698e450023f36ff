#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_log.h"
#include "cast_pg.h"
#include "cast_redis.h"
#include "cast_restore.h"


static int64_t cast_restore_int(redisContext *rc, const char *what,
    redisReply *r);
static int64_t cast_restore_chunk(redisContext *rc, PGresult *res);


static int64_t
cast_restore_int(redisContext *rc, const char *what, redisReply *r)
{
    int64_t  v;

    if (r == NULL) {
        cast_log(CAST_LOG_ERR, "redis", "%s: %s", what, rc->errstr);
        return -1;
    }

    if (r->type != REDIS_REPLY_INTEGER) {
        cast_log(CAST_LOG_ERR, "redis", "%s: %s", what,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }

    v = r->integer;
    freeReplyObject(r);

    return v;
}


int
cast_restore_is_ready(redisContext *rc)
{
    return (int) cast_restore_int(rc, "EXISTS " CAST_KEY_READY,
                                  cast_redis_command(rc, "EXISTS %s",
                                                     CAST_KEY_READY));
}


int64_t
cast_restore_outbox_len(redisContext *rc)
{
    return cast_restore_int(rc, "XLEN " CAST_KEY_OUTBOX,
                            cast_redis_command(rc, "XLEN %s",
                                               CAST_KEY_OUTBOX));
}


int64_t
cast_restore_relay_inflight(redisContext *rc)
{
    char        *end;
    int64_t      v;
    redisReply  *r;

    r = cast_redis_command(rc, "GET %s", CAST_KEY_RELAY_INFLIGHT);

    if (r == NULL || (r->type != REDIS_REPLY_NIL
                      && r->type != REDIS_REPLY_STRING))
    {
        return cast_restore_int(rc, "GET " CAST_KEY_RELAY_INFLIGHT, r);
    }

    v = 0;

    if (r->type == REDIS_REPLY_STRING) {
        v = strtoll(r->str, &end, 10);

        if (*end != '\0' || end == r->str || v < 0) {
            cast_log(CAST_LOG_ERR, "redis", "%s: \"%s\" is not a count",
                     CAST_KEY_RELAY_INFLIGHT, r->str);
            v = -1;
        }
    }

    freeReplyObject(r);
    return v;
}


/* FCALL cast_restore 0 name count version ... for the rows of res */

static int64_t
cast_restore_chunk(redisContext *rc, PGresult *res)
{
    int           i, j, n, argc;
    int64_t       written;
    const char  **argv;

    n = PQntuples(res);
    argc = 3 + 3 * n;

    argv = malloc(argc * sizeof(char *));
    if (argv == NULL) {
        cast_log(CAST_LOG_ERR, "restore", "out of memory");
        return -1;
    }

    argv[0] = "FCALL";
    argv[1] = "cast_restore";
    argv[2] = "0";

    for (i = 0; i < n; i++) {
        for (j = 0; j < 3; j++) {
            argv[3 + 3 * i + j] = PQgetvalue(res, i, j);
        }
    }

    written = cast_restore_int(rc, "FCALL cast_restore",
                               cast_redis_command_argv(rc, argc, argv, NULL));
    free(argv);

    return written;
}


int64_t
cast_restore_run(PGconn *pg, redisContext *rc, int chunk)
{
    int          n;
    char         limit[16], *last;
    int64_t      total, written;
    PGresult    *res;
    const char  *params[2];

    snprintf(limit, sizeof(limit), "%d", chunk);
    last = strdup("");
    total = 0;

    for ( ;; ) {
        params[0] = last;
        params[1] = limit;

        /* keyset paging in the table's own ("C") order */
        res = cast_pg_query(pg, "SELECT username, count, version FROM votes "
                            "WHERE username > $1 ORDER BY username "
                            "LIMIT $2::int", 2, params, PGRES_TUPLES_OK);
        if (res == NULL) {
            free(last);
            return -1;
        }

        n = PQntuples(res);
        written = (n > 0) ? cast_restore_chunk(rc, res) : 0;

        free(last);
        last = (n > 0) ? strdup(PQgetvalue(res, n - 1, 0)) : NULL;
        PQclear(res);

        if (written < 0) {
            free(last);
            return -1;
        }

        total += written;

        if (n < chunk) {
            break;
        }
    }

    free(last);

    if (cast_restore_int(rc, "FCALL cast_ready",
                         cast_redis_command(rc, "FCALL cast_ready 0"))
        < 0)
    {
        return -1;
    }

    cast_log(CAST_LOG_INFO, "restore", "%lld names restored, ready set",
             (long long) total);
    return total;
}
