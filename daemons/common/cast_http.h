/*
 * A tiny non-blocking HTTP/1.0 listener for /metrics and /healthz.
 *
 * The daemon calls cast_http_poll() from its loop with the time left until
 * its next deadline, so the call is also the loop's wait.  With h NULL
 * (http_port 0: no listener) it only waits.  A signal ends the wait early.
 */

#ifndef CAST_HTTP_H
#define CAST_HTTP_H

#include <stddef.h>


typedef struct cast_http_s  cast_http_t;


typedef struct {
    int          status;        /* 200 unless the handler sets it */
    const char  *content_type;  /* Prometheus text unless set */
    char        *body;
    size_t       size;
    size_t       len;
} cast_http_response_t;


/* Fills res for a GET of path (the query string removed) */
typedef void (*cast_http_handler_pt)(const char *path,
    cast_http_response_t *res, void *data);


cast_http_t *cast_http_listen(const char *host, int port, char *err,
    size_t errlen);

/* Waits up to timeout_ms and serves what is ready; 0, or -1 on error */
int cast_http_poll(cast_http_t *h, int timeout_ms,
    cast_http_handler_pt handler, void *data);

void cast_http_close(cast_http_t *h);

/* Appends to the body; output that does not fit is cut off */
void cast_http_printf(cast_http_response_t *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


#endif /* CAST_HTTP_H */
