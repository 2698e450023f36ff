#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cast_log.h"
#include "cast_redis.h"
#include "cast_ticket.h"
#include "ticketd.h"


#define TICKETD_BACKOFF_MIN  100
#define TICKETD_BACKOFF_MAX  1000


static int ticketd_redis_setup(redisContext *c, void *data, char *err,
    size_t errlen);
static redisReply *ticketd_fcall(ticketd_t *td, int64_t now,
    const char *fmt, ...);
static void ticketd_lease_wait(ticketd_t *td, int64_t now);
static void ticketd_refused(ticketd_t *td, int64_t now, int64_t seq);
static int64_t ticketd_integer(redisReply *r);
static void ticketd_mint_seq(ticketd_t *td, int64_t now, int64_t seq,
    int64_t issued);


/* The connection's settings, once the configuration is read */

void
ticketd_redis_init(ticketd_t *td)
{
    td->redis.timeout_ms = (td->period_ms / 2 < 1000) ? td->period_ms / 2
                                                      : 1000;
    cast_redis_init(&td->redis, TICKETD_BACKOFF_MIN, TICKETD_BACKOFF_MAX,
                    ticketd_redis_setup, td);
}


static int
ticketd_redis_setup(redisContext *c, void *data, char *err, size_t errlen)
{
    ticketd_t  *td = data;

    if (cast_redis_load_functions(c, td->functions_file) != 0) {
        snprintf(err, errlen, "cannot load functions");
        return -1;
    }

    return 0;
}


/* Acquires or renews the lease; 0, or -1 when Redis failed */

int
ticketd_lease(ticketd_t *td, int64_t now)
{
    int64_t      held;
    redisReply  *r;

    r = ticketd_fcall(td, now, "FCALL cast_lease 0 %s %lld", td->owner_id,
                      (long long) td->lease_ms);
    if (r == NULL) {
        return -1;
    }

    held = ticketd_integer(r);
    freeReplyObject(r);

    if (held == 1 && !td->leader) {
        cast_log(CAST_LOG_INFO, "leader", "acquired the lease as %s "
                 "(ttl %lld ms)", td->owner_id, (long long) td->lease_ms);
        td->done_seq = -1;
        td->refused = 0;

    } else if (held != 1 && td->leader) {
        cast_log(CAST_LOG_WARN, "lost_lease", "another minter holds the "
                 "lease; standing by");
    }

    td->leader = (held == 1);

    if (!td->leader) {
        ticketd_lease_wait(td, now);
    }

    return 0;
}


/* Mints the ticket of the current period unless it is done already */

void
ticketd_mint(ticketd_t *td, int64_t now)
{
    int64_t  seq, start;

    seq = ticketd_seq(td, now);

    if (seq > td->done_seq) {
        ticketd_mint_seq(td, now, seq, now);
    }

    /*
     * From mid-period on, the next ticket waits in Redis for its period,
     * which Redis's own clock begins: rotation leaves no gap.
     */

    start = td->epoch_ms + (seq + 1) * td->period_ms;

    if (seq == td->done_seq && seq + 1 > td->ahead_seq
        && start - now <= td->period_ms / 2)
    {
        ticketd_mint_seq(td, now, seq + 1, start);
    }
}


/* mints seq, issued at `issued`: now, or the start of a coming period */

static void
ticketd_mint_seq(ticketd_t *td, int64_t now, int64_t seq, int64_t issued)
{
    char           id[CAST_TICKET_LEN + 1];
    int            ahead;
    int64_t        expires, stored;
    redisReply    *r;
    unsigned char  nonce[CAST_TICKET_NONCE_LEN];

    ahead = issued > now;

    if (RAND_bytes(nonce, sizeof(nonce)) != 1
        || cast_ticket_encode(td->secret, td->secret_len, (uint64_t) seq,
                              issued, nonce, id) != 0)
    {
        cast_log(CAST_LOG_ERR, "mint", "cannot make a nonce or MAC for "
                 "seq=%lld", (long long) seq);
        return;
    }

    expires = td->epoch_ms + (seq + 1) * td->period_ms;

    r = ticketd_fcall(td, now, "FCALL cast_mint 0 %s %lld %s %lld %lld %lld "
                      "%lld", td->owner_id, (long long) seq, id,
                      (long long) issued, (long long) expires,
                      (long long) td->max_uses, (long long) td->grace_ms);
    if (r == NULL) {
        return;
    }

    stored = ticketd_integer(r);
    freeReplyObject(r);

    if (ahead) {
        td->ahead_seq = seq;
        cast_log(stored == 1 ? CAST_LOG_INFO : CAST_LOG_DEBUG, "mint_ahead",
                 "seq=%lld %s", (long long) seq,
                 stored == 1 ? "waits for its period" : "refused");
        return;
    }

    if (stored != 1) {
        ticketd_refused(td, now, seq);
        return;
    }

    td->done_seq = seq;
    td->refused = 0;
    td->minted_total++;
    td->last_mint_ms = now;
    td->last_seq = seq;

    cast_log(CAST_LOG_INFO, "mint", "minted seq=%lld expires=%lld late_ms=%lld",
             (long long) seq, (long long) expires,
             (long long) (now - (expires - td->period_ms)));
}


void
ticketd_release(ticketd_t *td)
{
    redisReply  *r;

    if (td->redis.ctx == NULL || !td->leader) {
        return;
    }

    r = cast_redis_command(td->redis.ctx, "FCALL cast_release 0 %s",
                           td->owner_id);

    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        cast_log(CAST_LOG_INFO, "release", "released the lease");

    } else {
        cast_log(CAST_LOG_WARN, "release", "could not release the lease: %s",
                 r == NULL ? td->redis.ctx->errstr
                 : r->type == REDIS_REPLY_ERROR ? r->str : "not held");
    }

    if (r != NULL) {
        freeReplyObject(r);
    }

    td->leader = 0;
}


/*
 * One FCALL; reloads the library once when Redis lost it (restarted
 * without data).  NULL, with the connection dropped or the error logged,
 * when there is no usable reply.
 */

static redisReply *
ticketd_fcall(ticketd_t *td, int64_t now, const char *fmt, ...)
{
    int          attempt;
    va_list      ap;
    redisReply  *r;

    for (attempt = 0; attempt < 2; attempt++) {
        va_start(ap, fmt);
        r = cast_redis_vcommand(td->redis.ctx, fmt, ap);
        va_end(ap);

        if (r == NULL) {
            td->leader = 0;
            cast_redis_lost(&td->redis, now, td->redis.ctx->errstr);
            return NULL;
        }

        if (!cast_redis_function_missing(r) || attempt == 1) {
            break;
        }

        freeReplyObject(r);
        cast_log(CAST_LOG_WARN, "redis_functions", "functions missing in "
                 "Redis; loading %s again", td->functions_file);

        if (cast_redis_load_functions(td->redis.ctx, td->functions_file)
            != 0)
        {
            td->redis.errors++;
            return NULL;
        }
    }

    if (cast_redis_demoted(&td->redis, r)) {
        /* a demoted primary: the Sentinels name the new one */
        freeReplyObject(r);
        td->leader = 0;
        cast_redis_lost(&td->redis, now, "the Redis is not the primary "
                        "any more");
        return NULL;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        cast_log(CAST_LOG_ERR, "redis_error", "%s", r->str);
        td->redis.errors++;
        freeReplyObject(r);
        return NULL;
    }

    return r;
}


/* A standby retries the moment the lease expires, not a tick later */

static void
ticketd_lease_wait(ticketd_t *td, int64_t now)
{
    int64_t      ttl;
    redisReply  *r;

    td->lease_at = 0;

    r = ticketd_fcall(td, now, "PTTL {cast}:lease");
    if (r == NULL) {
        return;
    }

    ttl = ticketd_integer(r);
    freeReplyObject(r);

    if (ttl >= 0) {
        td->lease_at = now + ttl + 1;
    }
}


/*
 * cast_mint said no: the seq is not above the stored one (another minter
 * stored this period's ticket before a takeover, or the clock or the
 * period changed), or the lease was lost in between.
 */

static void
ticketd_refused(ticketd_t *td, int64_t now, int64_t seq)
{
    int64_t      stored;
    redisReply  *r;

    r = ticketd_fcall(td, now, "HGET {cast}:ticket seq");
    if (r == NULL) {
        return;
    }

    stored = (r->type == REDIS_REPLY_STRING) ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);

    if (stored < seq) {
        cast_log(CAST_LOG_WARN, "lost_lease", "mint of seq=%lld refused: "
                 "the lease is gone", (long long) seq);
        td->leader = 0;
        return;
    }

    td->done_seq = seq;

    if (stored == seq) {
        cast_log(CAST_LOG_INFO, "mint", "seq=%lld is already stored; next "
                 "mint at the next period", (long long) seq);

    } else if (!td->refused) {
        cast_log(CAST_LOG_WARN, "mint", "time-derived seq=%lld is not above "
                 "the stored seq=%lld (clock step or changed period); "
                 "waiting", (long long) seq, (long long) stored);
    }

    td->refused = (stored > seq);
}


static int64_t
ticketd_integer(redisReply *r)
{
    return (r->type == REDIS_REPLY_INTEGER) ? r->integer : -1;
}
