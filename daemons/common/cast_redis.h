/*
 * Blocking hiredis connections for the daemons.
 *
 * URLs: redis://[[user]:password@]host[:port][/db]
 *       unix:///path/to/socket[?db=N][&password=P]
 */

#ifndef CAST_REDIS_H
#define CAST_REDIS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>


#define CAST_REDIS_HOST_MAX  256
#define CAST_REDIS_PASS_MAX  256


typedef struct {
    char  host[CAST_REDIS_HOST_MAX];    /* host name, or socket path */
    int   port;                         /* 0 for a unix socket */
    int   db;
    char  user[CAST_REDIS_PASS_MAX];
    char  password[CAST_REDIS_PASS_MAX];
} cast_redis_url_t;


/* After connecting: 0, or -1 with err filled (the link drops it) */
typedef int (*cast_redis_setup_pt)(redisContext *c, void *data, char *err,
    size_t errlen);


/*
 * A daemon's connection, made again whenever it is lost.  After a failed
 * attempt or a lost connection the next attempt waits backoff_ms, which
 * starts at backoff_min and doubles up to backoff_max; a connection that
 * is made and set up resets it.  An outage is logged once (redis_down),
 * its further attempts at debug level, its end as redis_up.
 */
typedef struct {
    /* settings */
    char                 *url;
    char                 *sentinels;    /* NULL or "": url's host itself */
    char                 *master_name;
    int64_t               timeout_ms;
    int64_t               backoff_min;
    int64_t               backoff_max;
    cast_redis_setup_pt   setup;        /* NULL: none */
    void                 *data;         /* for setup */

    redisContext         *ctx;          /* NULL while down */
    int64_t               retry_at;
    int64_t               backoff_ms;   /* 0 while up */
    uint64_t              errors;       /* failed attempts, lost links */

    /* the Sentinels asked after a write refused as NOREPLICAS */
    int64_t               asked_at;     /* when the last ask ended */
    int                   untold;       /* no Sentinel told, that time */
} cast_redis_link_t;


/* The link's backoff and setup; url and timeout_ms are set apart */
void cast_redis_init(cast_redis_link_t *l, int64_t backoff_min,
    int64_t backoff_max, cast_redis_setup_pt setup, void *data);

/* Connects when down and due (now: the caller's clock); 0 when up */
int cast_redis_up(cast_redis_link_t *l, int64_t now);

/* Drops the connection after a failed command; why is logged */
void cast_redis_lost(cast_redis_link_t *l, int64_t now, const char *why);

void cast_redis_close(cast_redis_link_t *l);

/* 0, or -1 with err filled */
int cast_redis_parse_url(const char *url, cast_redis_url_t *u, char *err,
    size_t errlen);

/*
 * Connects, authenticates and selects the database; timeout_ms bounds the
 * connect and every later command.  NULL with err filled on failure.
 */
redisContext *cast_redis_connect(const char *url, int timeout_ms, char *err,
    size_t errlen);

/*
 * The same, to the primary: with sentinels ("host:port ..."; NULL or ""
 * for none), the first Sentinel that answers names the primary, which
 * must say it is one (ROLE); url gives the password and database.
 */
redisContext *cast_redis_connect_primary(const char *url,
    const char *sentinels, const char *master_name, int timeout_ms,
    char *err, size_t errlen);

/*
 * A command and its reply, as redisCommand() and the like: NULL with
 * c->err set (drop the context).  The reply is read whole within the
 * socket's timeout (the one timeout_ms set), not each read() within it,
 * and within 16 MB as hiredis holds it, or what cast_redis_reply_max()
 * raised it to; past either the context fails (a reply past the bound
 * is logged as an error).  The one way the daemons talk to Redis.
 */
redisReply *cast_redis_command(redisContext *c, const char *fmt, ...);
redisReply *cast_redis_vcommand(redisContext *c, const char *fmt,
    va_list ap);
redisReply *cast_redis_command_argv(redisContext *c, int argc,
    const char **argv, const size_t *argvlen);

/* a daemon whose replies may hold more raises their bound to max bytes */
void cast_redis_reply_max(size_t max);

/* a write refused by a replica: the primary has moved (drop the link) */
int cast_redis_readonly(const redisReply *r);

/*
 * The same for a link with Sentinels, and for a write refused as
 * NOREPLICAS by a primary they no longer name (one they replaced while it
 * kept running, not yet made a replica): 1, drop the link.  The Sentinels
 * are asked so at most once per timeout_ms.
 */
int cast_redis_demoted(cast_redis_link_t *l, const redisReply *r);

/* FUNCTION LOAD REPLACE of the library file; 0, or -1 (logged) */
int cast_redis_load_functions(redisContext *c, const char *path);

/* Whether a reply is the error of an FCALL to a function not loaded */
int cast_redis_function_missing(const redisReply *r);

/* a bulk string that is a whole decimal integer into *v: 0, or -1 */
int cast_redis_int64(const redisReply *r, int64_t *v);


#endif /* CAST_REDIS_H */
