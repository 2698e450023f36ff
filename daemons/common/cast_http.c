#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cast_http.h"
#include "cast_log.h"
#include "cast_time.h"


#define CAST_HTTP_CLIENTS    16
#define CAST_HTTP_IN_MAX     2048
#define CAST_HTTP_BODY_MAX   16384
#define CAST_HTTP_HEAD_MAX   256
#define CAST_HTTP_TIMEOUT    2000
#define CAST_HTTP_GRACE      100        /* before a slot may be taken */
#define CAST_HTTP_PAUSE      1000       /* accepting, after accept fails */

#define CAST_HTTP_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"


typedef struct {
    int       fd;               /* -1: free slot */
    int64_t   deadline;
    size_t    nin;
    char      in[CAST_HTTP_IN_MAX];
    char     *out;              /* NULL while reading the request */
    size_t    nout;
    size_t    sent;
} cast_http_client_t;


struct cast_http_s {
    int                 fd;
    int64_t             accept_at;      /* not before, after a failure */
    cast_http_client_t  clients[CAST_HTTP_CLIENTS];
};


static int cast_http_socket(const char *host, int port);
static int cast_http_wait(cast_http_t *h, int timeout_ms,
    const cast_http_pages_t *pages, void *data);
static void cast_http_accept(cast_http_t *h, const cast_http_pages_t *pages,
    void *data);
static cast_http_client_t *cast_http_slot(cast_http_t *h, int64_t now);
static void cast_http_read(cast_http_client_t *c,
    const cast_http_pages_t *pages, void *data);
static void cast_http_respond(cast_http_client_t *c, int refuse,
    char *request, const cast_http_pages_t *pages, void *data);
static void cast_http_route(const char *path, cast_http_response_t *res,
    const cast_http_pages_t *pages, void *data);
static void cast_http_write(cast_http_client_t *c);
static void cast_http_drop(cast_http_client_t *c);
static const char *cast_http_reason(int status);


int
cast_http_listen(cast_http_t **h, const char *host, int64_t port)
{
    int  i;

    *h = NULL;

    if (port == 0) {
        return 0;
    }

    *h = calloc(1, sizeof(cast_http_t));
    if (*h == NULL) {
        cast_log(CAST_LOG_ERR, "http", "out of memory");
        return -1;
    }

    for (i = 0; i < CAST_HTTP_CLIENTS; i++) {
        (*h)->clients[i].fd = -1;
    }

    (*h)->fd = cast_http_socket(host, (int) port);
    if ((*h)->fd == -1) {
        free(*h);
        *h = NULL;
        return -1;
    }

    return 0;
}


void
cast_http_poll(cast_http_t *h, int timeout_ms, const cast_http_pages_t *pages,
    void *data)
{
    if (timeout_ms < 0) {
        timeout_ms = 0;
    }

    if (h == NULL) {
        (void) poll(NULL, 0, timeout_ms);
        return;
    }

    if (cast_http_wait(h, timeout_ms, pages, data) != 0) {
        cast_log(CAST_LOG_ERR, "http", "poll: %s", strerror(errno));

        /* still the loop's wait */
        (void) poll(NULL, 0, timeout_ms);
    }
}


void
cast_http_counter(cast_http_response_t *res, const char *name,
    const char *help, uint64_t value)
{
    cast_http_printf(res, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                     name, help, name, name, (unsigned long long) value);
}


void
cast_http_gauge(cast_http_response_t *res, const char *name,
    const char *help, int64_t value)
{
    cast_http_printf(res, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n",
                     name, help, name, name, (long long) value);
}


/* One poll of the clients and the listener; 0, or -1 with errno set */

static int
cast_http_wait(cast_http_t *h, int timeout_ms, const cast_http_pages_t *pages,
    void *data)
{
    int                  i, n, nfds, idx[CAST_HTTP_CLIENTS];
    int64_t              now, at;
    struct pollfd        pfd[CAST_HTTP_CLIENTS + 1];
    cast_http_client_t  *c;

    nfds = 0;
    now = cast_mono_ms();

    for (i = 0; i < CAST_HTTP_CLIENTS; i++) {
        c = &h->clients[i];

        if (c->fd == -1) {
            continue;
        }

        if (now >= c->deadline) {
            cast_http_drop(c);
            continue;
        }

        if (c->deadline - now < timeout_ms) {
            timeout_ms = (int) (c->deadline - now);
        }

        pfd[nfds].fd = c->fd;
        pfd[nfds].events = (c->out != NULL) ? POLLOUT : POLLIN;
        idx[nfds++] = i;
    }

    /*
     * The listener last, so the client slots line up with idx[]; left out
     * (fd -1) while no connection could be served, or it would stay
     * readable and poll would spin: after accept failed, and while every
     * slot is taken by a client still in its grace (cast_http_slot).
     */
    at = h->accept_at;

    if (cast_http_slot(h, now) == NULL) {
        /* the oldest client's grace ends first */
        c = cast_http_slot(h, INT64_MAX);

        if (at < c->deadline - CAST_HTTP_TIMEOUT + CAST_HTTP_GRACE) {
            at = c->deadline - CAST_HTTP_TIMEOUT + CAST_HTTP_GRACE;
        }
    }

    if (now < at && at - now < timeout_ms) {
        timeout_ms = (int) (at - now);
    }

    pfd[nfds].fd = now >= at ? h->fd : -1;
    pfd[nfds].events = POLLIN;
    pfd[nfds].revents = 0;

    n = poll(pfd, nfds + 1, timeout_ms);
    if (n == -1) {
        return (errno == EINTR) ? 0 : -1;
    }

    for (i = 0; i < nfds; i++) {
        if (pfd[i].revents == 0) {
            continue;
        }

        c = &h->clients[idx[i]];

        if (c->out != NULL) {
            cast_http_write(c);

        } else {
            cast_http_read(c, pages, data);
        }
    }

    if (pfd[nfds].revents & POLLIN) {
        cast_http_accept(h, pages, data);
    }

    return 0;
}


void
cast_http_close(cast_http_t *h)
{
    int  i;

    if (h == NULL) {
        return;
    }

    for (i = 0; i < CAST_HTTP_CLIENTS; i++) {
        if (h->clients[i].fd != -1) {
            cast_http_drop(&h->clients[i]);
        }
    }

    close(h->fd);
    free(h);
}


void
cast_http_printf(cast_http_response_t *res, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    if (res->len + 1 >= res->size) {
        return;
    }

    va_start(ap, fmt);
    n = vsnprintf(res->body + res->len, res->size - res->len, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    res->len += (size_t) n;

    if (res->len >= res->size) {
        res->len = res->size - 1;
    }
}


/* A listening socket, or -1 (logged) */

static int
cast_http_socket(const char *host, int port)
{
    int              fd, rc, one;
    char             service[16];
    struct addrinfo  hints, *ai;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;

    snprintf(service, sizeof(service), "%d", port);

    rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        cast_log(CAST_LOG_ERR, "http", "%s:%d: %s", host, port,
                 gai_strerror(rc));
        return -1;
    }

    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    one = 1;

    if (fd == -1
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1
        || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1
        || listen(fd, 64) == -1)
    {
        cast_log(CAST_LOG_ERR, "http", "%s:%d: %s", host, port,
                 strerror(errno));

        if (fd != -1) {
            close(fd);
        }

        fd = -1;
    }

    freeaddrinfo(ai);

    return fd;
}


/*
 * New connections, at most a slot's worth a call.  With every slot taken,
 * a new connection takes the slot of the oldest client once that one had
 * CAST_HTTP_GRACE to send its request: slow clients that hold every slot
 * (slowloris) would otherwise keep a probe waiting in the backlog past
 * its timeout, and a liveness probe failing restarts the daemon.  The
 * grace keeps a flood of connections from taking the probe's slot before
 * its request is read; a request already sent is read at once.
 */

static void
cast_http_accept(cast_http_t *h, const cast_http_pages_t *pages, void *data)
{
    int                  n, fd;
    cast_http_client_t  *c;

    for (n = 0; n < CAST_HTTP_CLIENTS; n++) {
        c = cast_http_slot(h, cast_mono_ms());
        if (c == NULL) {
            return;
        }

        fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            /* EMFILE and the like: the connection stays in the backlog */
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                h->accept_at = cast_mono_ms() + CAST_HTTP_PAUSE;
            }

            return;
        }

        if (c->fd != -1) {
            cast_http_drop(c);
        }

        c->fd = fd;
        c->nin = 0;
        c->out = NULL;
        c->deadline = cast_mono_ms() + CAST_HTTP_TIMEOUT;

        cast_http_read(c, pages, data);
    }
}


/*
 * A free slot, or else the oldest client's once it has had its grace at
 * now; NULL when every client is still in its grace
 */

static cast_http_client_t *
cast_http_slot(cast_http_t *h, int64_t now)
{
    int                  i;
    cast_http_client_t  *c, *oldest;

    oldest = &h->clients[0];

    for (i = 0; i < CAST_HTTP_CLIENTS; i++) {
        c = &h->clients[i];

        if (c->fd == -1) {
            return c;
        }

        if (c->deadline < oldest->deadline) {
            oldest = c;
        }
    }

    if (now < oldest->deadline - CAST_HTTP_TIMEOUT + CAST_HTTP_GRACE) {
        return NULL;
    }

    return oldest;
}


static void
cast_http_read(cast_http_client_t *c, const cast_http_pages_t *pages,
    void *data)
{
    ssize_t  n;

    n = read(c->fd, c->in + c->nin, CAST_HTTP_IN_MAX - 1 - c->nin);

    if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }

    if (n <= 0) {
        cast_http_drop(c);
        return;
    }

    /* a NUL is no part of a request, and would end the search below */
    if (memchr(c->in + c->nin, '\0', (size_t) n) != NULL) {
        cast_http_respond(c, 400, c->in, pages, data);
        return;
    }

    c->nin += (size_t) n;
    c->in[c->nin] = '\0';

    if (strstr(c->in, "\r\n\r\n") != NULL || strstr(c->in, "\n\n") != NULL) {
        cast_http_respond(c, 0, c->in, pages, data);

    } else if (c->nin == CAST_HTTP_IN_MAX - 1) {
        cast_http_respond(c, 431, c->in, pages, data);
    }
}


/* the answer to request, or its refusal when refuse is a status */

static void
cast_http_respond(cast_http_client_t *c, int refuse, char *request,
    const cast_http_pages_t *pages, void *data)
{
    int                    head;
    char                  *path, *end;
    cast_http_response_t   res;

    c->out = malloc(CAST_HTTP_HEAD_MAX + CAST_HTTP_BODY_MAX);
    if (c->out == NULL) {
        cast_http_drop(c);
        return;
    }

    res.status = 200;
    res.content_type = "text/plain";
    res.body = c->out + CAST_HTTP_HEAD_MAX;
    res.size = CAST_HTTP_BODY_MAX;
    res.len = 0;

    head = !refuse && strncmp(request, "HEAD ", 5) == 0;

    if (refuse) {
        res.status = refuse;
        cast_http_printf(&res, "%s\n", cast_http_reason(refuse));

    } else if (strncmp(request, "GET ", 4) != 0 && !head) {
        res.status = 405;
        cast_http_printf(&res, "method not allowed\n");

    } else {
        path = request + (head ? 5 : 4);
        end = path + strcspn(path, " ?\r\n");
        *end = '\0';

        cast_http_route(path, &res, pages, data);
    }

    if (head) {
        res.len = 0;
    }

    c->nout = (size_t) snprintf(c->out, CAST_HTTP_HEAD_MAX,
                                "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
                                "Content-Length: %zu\r\n"
                                "Connection: close\r\n\r\n",
                                res.status, cast_http_reason(res.status),
                                res.content_type, res.len);

    if (c->nout >= CAST_HTTP_HEAD_MAX) {
        cast_http_drop(c);
        return;
    }

    memmove(c->out + c->nout, res.body, res.len);
    c->nout += res.len;
    c->sent = 0;

    cast_http_write(c);
}


static void
cast_http_route(const char *path, cast_http_response_t *res,
    const cast_http_pages_t *pages, void *data)
{
    const char  *reason;

    if (strcmp(path, "/metrics") == 0) {
        res->content_type = CAST_HTTP_PROMETHEUS;
        pages->metrics(res, data);
        return;
    }

    if (strcmp(path, "/healthz") != 0) {
        res->status = 404;
        cast_http_printf(res, "not found\n");
        return;
    }

    reason = pages->health(data);

    if (reason != NULL) {
        res->status = 503;
        cast_http_printf(res, "%s\n", reason);
        return;
    }

    cast_http_printf(res, "ok\n");
}


static void
cast_http_write(cast_http_client_t *c)
{
    ssize_t  n;

    n = write(c->fd, c->out + c->sent, c->nout - c->sent);

    if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }

    if (n <= 0) {
        cast_http_drop(c);
        return;
    }

    c->sent += (size_t) n;

    if (c->sent == c->nout) {
        cast_http_drop(c);
    }
}


static void
cast_http_drop(cast_http_client_t *c)
{
    close(c->fd);
    c->fd = -1;

    free(c->out);
    c->out = NULL;
}


static const char *
cast_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}
