/*
 * cast-ticketd: mints a ticket every period on an absolute schedule while
 * it holds the lease in Redis; standbys take over when the lease expires.
 */

#ifndef TICKETD_H
#define TICKETD_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "cast_http.h"
#include "cast_redis.h"


#define TICKETD_SECRET_MAX  1024
#define TICKETD_OWNER_MAX   256


typedef struct {
    /* settings */
    char           *functions_file;
    char           *secret_file;
    char           *http_host;
    char           *log_level;
    char           *owner;
    int64_t         period_ms;
    int64_t         max_uses;
    int64_t         grace_ms;
    int64_t         epoch_ms;
    int64_t         lease_ms;
    int64_t         http_port;

    unsigned char   secret[TICKETD_SECRET_MAX];
    size_t          secret_len;
    char            owner_id[TICKETD_OWNER_MAX];

    /* redis.url is a setting; the functions are loaded on connect */
    cast_redis_link_t  redis;

    /* the lease; a standby retries it at lease_at, when it expires */
    int             leader;
    int64_t         lease_at;

    /* the last seq minted or found already stored; -1 for none */
    int64_t         done_seq;
    /* the last seq minted ahead, to wait for its period in Redis */
    int64_t         ahead_seq;
    int             refused;

    /* metrics */
    int64_t         minted_total;
    int64_t         last_mint_ms;
    int64_t         last_seq;
} ticketd_t;


/* ticketd_secret.c */
int ticketd_secret_load(ticketd_t *td, char *err, size_t errlen);

/* ticketd_redis.c */
void ticketd_redis_init(ticketd_t *td);
int ticketd_lease(ticketd_t *td, int64_t now);
void ticketd_mint(ticketd_t *td, int64_t now);
void ticketd_release(ticketd_t *td);

/* ticketd.c */
int64_t ticketd_seq(const ticketd_t *td, int64_t now);

/* ticketd_metrics.c: /healthz and /metrics */
extern const cast_http_pages_t  ticketd_pages;


#endif /* TICKETD_H */
