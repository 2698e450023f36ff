#include <stdio.h>

#include "admin.h"
#include "cast_pg.h"


/* the delay of each event from the vote (Redis time) to its row */
static const char  admin_sql_lag[] =
    "WITH d AS ("
    "  SELECT received_at, "
    "         extract(epoch FROM received_at - ts) * 1000 AS ms "
    "  FROM vote_events "
    "  WHERE received_at > clock_timestamp() - make_interval(secs => $1)) "
    "SELECT count(*), "
    "  coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)), 0), "
    "  coalesce(round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)), 0), "
    "  coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)), 0), "
    "  coalesce(round(max(ms)), 0), "
    "  round(count(*) / greatest(extract(epoch FROM "
    "        max(received_at) - min(received_at)), 1)) "
    "FROM d";


int
admin_lag(admin_t *a)
{
    char         secs[24];
    PGresult    *res;
    const char  *params[1];

    if (admin_pg(a) == NULL) {
        return 1;
    }

    snprintf(secs, sizeof(secs), "%lld", (long long) a->seconds);
    params[0] = secs;

    res = cast_pg_query(a->pg, admin_sql_lag, 1, params, PGRES_TUPLES_OK);
    if (res == NULL) {
        return 1;
    }

    printf("lag: last %s s: events=%s vote_to_pg_ms p50=%s p90=%s p99=%s "
           "max=%s persisted_per_s=%s\n", secs, PQgetvalue(res, 0, 0),
           PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
           PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
           PQgetvalue(res, 0, 5));

    PQclear(res);
    return 0;
}
