/*
 * A tiny non-blocking HTTP/1.0 listener for a daemon's /metrics and
 * /healthz, the same two pages in every daemon.
 *
 * The daemon calls cast_http_poll() from its loop with the time left until
 * its next deadline, so the call is also the loop's wait.  With h NULL
 * (http_port 0: no listener) it only waits.  A signal ends the wait early.
 */

#ifndef CAST_HTTP_H
#define CAST_HTTP_H

#include <stddef.h>
#include <stdint.h>


typedef struct cast_http_s  cast_http_t;


typedef struct {
    int          status;
    const char  *content_type;
    char        *body;
    size_t       size;
    size_t       len;
} cast_http_response_t;


/*
 * A daemon's pages.  GET /healthz: 200 "ok" while health() returns NULL,
 * else 503 with the reason it returns.  GET /metrics: 200, what metrics()
 * writes with cast_http_counter() and cast_http_gauge().  Anything else:
 * 404.  The query string is ignored; HEAD gets the status alone.
 */
typedef struct {
    const char  *(*health)(void *data);
    void         (*metrics)(cast_http_response_t *res, void *data);
} cast_http_pages_t;


/* The listener of host:port, or *h NULL for port 0; 0, or -1 (logged) */
int cast_http_listen(cast_http_t **h, const char *host, int64_t port);

/*
 * Waits up to timeout_ms and serves what is ready.  A failed wait is
 * logged and the time waited anyway: the pages never stop the daemon.
 */
void cast_http_poll(cast_http_t *h, int timeout_ms,
    const cast_http_pages_t *pages, void *data);

void cast_http_close(cast_http_t *h);

/* One sample with its HELP and TYPE lines; help ends with a period */
void cast_http_counter(cast_http_response_t *res, const char *name,
    const char *help, uint64_t value);
void cast_http_gauge(cast_http_response_t *res, const char *name,
    const char *help, int64_t value);

/* Appends to the body; output that does not fit is cut off */
void cast_http_printf(cast_http_response_t *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


#endif /* CAST_HTTP_H */
