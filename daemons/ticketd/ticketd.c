#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cast_conf.h"
#include "cast_http.h"
#include "cast_log.h"
#include "cast_signal.h"
#include "cast_time.h"
#include "ticketd.h"


#define TICKETD_PROG  "cast-ticketd"


static void ticketd_configure(ticketd_t *td, int argc, char **argv);
static void ticketd_check(ticketd_t *td);
static void ticketd_owner(ticketd_t *td);
static void ticketd_tick(ticketd_t *td, int64_t now);
static int64_t ticketd_deadline(const ticketd_t *td, int64_t now);


static ticketd_t  ticketd;

static const cast_conf_t  ticketd_conf[] = {

    cast_conf_redis_url_row(&ticketd.redis.url),
    cast_conf_redis_sentinels_row(&ticketd.redis.sentinels),
    cast_conf_redis_master_name_row(&ticketd.redis.master_name),

    cast_conf_functions_file_row(&ticketd.functions_file,
                                 "loaded at start and when Redis lost it"),

    { "ticket_secret_file", CAST_CONF_STR, "", &ticketd.secret_file,
      "file holding the HMAC secret (>= 32 bytes); or set "
      "CAST_TICKET_SECRET" },

    { "ticket_period_ms", CAST_CONF_INT, "2000", &ticketd.period_ms,
      "period P: ticket k is valid for [E + k*P, E + (k+1)*P), "
      "E = epoch" },

    { "ticket_max_uses", CAST_CONF_INT, "100", &ticketd.max_uses,
      "votes one ticket allows" },

    { "ticket_grace_ms", CAST_CONF_INT, "0", &ticketd.grace_ms,
      "how long the previous ticket stays usable after it expires" },

    { "ticket_epoch_ms", CAST_CONF_INT, "0", &ticketd.epoch_ms,
      "start of period 0, ms since the Unix epoch" },

    { "lease_ms", CAST_CONF_INT, "0", &ticketd.lease_ms,
      "minting lease ttl, renewed every half period; 0 = 1.25 periods" },

    cast_conf_http_host_row(&ticketd.http_host),
    cast_conf_http_port_row(&ticketd.http_port),
    cast_conf_log_level_row(&ticketd.log_level, "info"),

    { "lease_owner", CAST_CONF_STR, "", &ticketd.owner,
      "lease owner id; empty = hostname:pid:random" },

    cast_conf_null_row
};


int
main(int argc, char **argv)
{
    int64_t       now, deadline;
    cast_http_t  *http;
    ticketd_t    *td = &ticketd;

    ticketd_configure(td, argc, argv);

    if (cast_http_listen(&http, td->http_host, td->http_port) != 0) {
        return 1;
    }

    cast_signal_init();

    cast_log(CAST_LOG_INFO, "start", "owner=%s period_ms=%lld lease_ms=%lld "
             "max_uses=%lld grace_ms=%lld redis=%s", td->owner_id,
             (long long) td->period_ms, (long long) td->lease_ms,
             (long long) td->max_uses, (long long) td->grace_ms,
             td->redis.url);

    deadline = 0;

    while (!cast_quit) {
        now = cast_wall_ms();

        /* a wall clock stepped back must not stall renewals */
        if (now >= deadline || deadline - now > td->period_ms) {
            ticketd_tick(td, now);
            deadline = ticketd_deadline(td, now);
        }

        cast_http_poll(http, (int) (deadline - cast_wall_ms()),
                       &ticketd_pages, td);
    }

    ticketd_release(td);

    cast_redis_close(&td->redis);
    cast_http_close(http);
    cast_log(CAST_LOG_INFO, "stop", "minted %lld tickets",
             (long long) td->minted_total);
    cast_conf_free(ticketd_conf);

    return cast_quit ? 0 : 1;
}


/* Floor of (now - epoch) / period; -1 before the epoch */

int64_t
ticketd_seq(const ticketd_t *td, int64_t now)
{
    if (now < td->epoch_ms) {
        return -1;
    }

    return (now - td->epoch_ms) / td->period_ms;
}


static void
ticketd_configure(ticketd_t *td, int argc, char **argv)
{
    char  err[512];

    cast_conf_load_daemon(ticketd_conf, argc, argv, TICKETD_PROG,
                          "Mints a CAST voting ticket every period into "
                          "Redis while it holds the minting\nlease; other "
                          "replicas stand by and take over when the lease "
                          "expires.", &td->log_level);

    ticketd_check(td);

    if (ticketd_secret_load(td, err, sizeof(err)) != 0) {
        cast_conf_die(TICKETD_PROG, "%s", err);
    }

    ticketd_owner(td);

    td->done_seq = -1;
    td->ahead_seq = -1;
    td->last_seq = -1;
    ticketd_redis_init(td);
}


static void
ticketd_check(ticketd_t *td)
{
    if (td->period_ms < 200 || td->period_ms > 86400000) {
        cast_conf_die(TICKETD_PROG, "ticket_period_ms: %lld is not within "
                      "200..86400000", (long long) td->period_ms);
    }

    if (td->lease_ms == 0) {
        td->lease_ms = td->period_ms + td->period_ms / 4;
    }

    /* renewed every half period: it must outlive one half with room */
    if (td->lease_ms <= td->period_ms / 2 + 50
        || td->lease_ms > 2 * td->period_ms)
    {
        cast_conf_die(TICKETD_PROG, "lease_ms: %lld must be above half a "
                      "period (+50 ms) and at most two periods",
                      (long long) td->lease_ms);
    }

    if (td->max_uses < 1 || td->grace_ms < 0 || td->epoch_ms < 0
        || td->epoch_ms > cast_wall_ms())
    {
        cast_conf_die(TICKETD_PROG, "ticket_max_uses must be >= 1, "
                      "ticket_grace_ms >= 0, ticket_epoch_ms between 0 and "
                      "now");
    }

    if (td->http_port < 0 || td->http_port > 65535) {
        cast_conf_die(TICKETD_PROG, "http_port: %lld is not a port",
                      (long long) td->http_port);
    }

    if (access(td->functions_file, R_OK) != 0) {
        cast_conf_die(TICKETD_PROG, "functions_file: cannot read %s",
                      td->functions_file);
    }
}


static void
ticketd_owner(ticketd_t *td)
{
    char           host[128];
    unsigned char  rnd[4];

    if (td->owner[0] != '\0') {
        snprintf(td->owner_id, sizeof(td->owner_id), "%s", td->owner);
        return;
    }

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "localhost");
    }

    host[sizeof(host) - 1] = '\0';

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        memset(rnd, 0, sizeof(rnd));
    }

    snprintf(td->owner_id, sizeof(td->owner_id), "%s:%d:%02x%02x%02x%02x",
             host, (int) getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
}


static void
ticketd_tick(ticketd_t *td, int64_t now)
{
    if (cast_redis_up(&td->redis, now) != 0
        || ticketd_lease(td, now) != 0)
    {
        return;
    }

    if (td->leader) {
        ticketd_mint(td, now);
    }
}


/*
 * The next half-period boundary of the absolute schedule, or earlier when
 * a reconnect or a standby's lease attempt is due.
 */

static int64_t
ticketd_deadline(const ticketd_t *td, int64_t now)
{
    int64_t  start, mid, next;

    if (now < td->epoch_ms) {
        next = td->epoch_ms;

    } else {
        start = td->epoch_ms + ticketd_seq(td, now) * td->period_ms;
        mid = start + td->period_ms / 2;
        next = (now < mid) ? mid : start + td->period_ms;
    }

    if (td->redis.ctx == NULL && td->redis.retry_at > now
        && td->redis.retry_at < next)
    {
        next = td->redis.retry_at;
    }

    if (td->redis.ctx != NULL && !td->leader && td->lease_at > now
        && td->lease_at < next)
    {
        next = td->lease_at;
    }

    return next;
}
