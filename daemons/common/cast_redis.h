/*
 * Blocking hiredis connections for the daemons.
 *
 * URLs: redis://[[user]:password@]host[:port][/db]
 *       unix:///path/to/socket[?db=N][&password=P]
 */

#ifndef CAST_REDIS_H
#define CAST_REDIS_H

#include <stddef.h>
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


/* 0, or -1 with err filled */
int cast_redis_parse_url(const char *url, cast_redis_url_t *u, char *err,
    size_t errlen);

/*
 * Connects, authenticates and selects the database; timeout_ms bounds the
 * connect and every later command.  NULL with err filled on failure.
 */
redisContext *cast_redis_connect(const char *url, int timeout_ms, char *err,
    size_t errlen);

/* FUNCTION LOAD REPLACE of the library file; 0, or -1 (logged) */
int cast_redis_load_functions(redisContext *c, const char *path);

/* Whether a reply is the error of an FCALL to a function not loaded */
int cast_redis_function_missing(const redisReply *r);


#endif /* CAST_REDIS_H */
