/*
 * Redis counts from PostgreSQL, after a Redis data loss: the votes table is
 * copied into {cast}:count and {cast}:version with FCALL cast_restore
 * (a name is written only when its version is newer), then FCALL
 * cast_ready lets votes and queries in again.  The caller makes sure
 * PostgreSQL is complete first: outbox empty, consumer lag 0, and no
 * event in the relay's memory ({cast}:relay:inflight absent or 0 on two
 * checks at least CAST_RESTORE_IDLE_MS apart).
 */

#ifndef CAST_RESTORE_H
#define CAST_RESTORE_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include <postgresql/libpq-fe.h>


#define CAST_KEY_READY   "{cast}:ready"
#define CAST_KEY_OUTBOX  "{cast}:outbox"
#define CAST_KEY_COUNT   "{cast}:count"
#define CAST_KEY_VERSION "{cast}:version"
#define CAST_KEY_TOP     "{cast}:top"
#define CAST_KEY_TOTAL   "{cast}:total"
#define CAST_KEY_RELAY_INFLIGHT  "{cast}:relay:inflight"
#define CAST_KEY_RELAY_PACKED    "{cast}:relay:packed"

/* twice the relay's retry after losing Redis: a relay that holds events
   has connected again and said so within the window */
#define CAST_RESTORE_IDLE_MS     2000


/* 1 when {cast}:ready exists, 0 when not, -1 (logged) on error */
int cast_restore_is_ready(redisContext *rc);

/* XLEN of the outbox, or -1 (logged) on error */
int64_t cast_restore_outbox_len(redisContext *rc);

/* events the relay awaits Kafka for (0: key absent), or -1 (logged) */
int64_t cast_restore_relay_inflight(redisContext *rc);

/*
 * Copies the votes table in chunks of chunk names, then sets ready.  The
 * number of names Redis took, or -1 (logged).
 */
int64_t cast_restore_run(PGconn *pg, redisContext *rc, int chunk);


#endif /* CAST_RESTORE_H */
