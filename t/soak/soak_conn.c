
/*
 * Copyright (C) CAST developers
 *
 * Keep-alive HTTP/1.1 connections to nginx.  A connection carries one
 * request, or several written at once (pipelined), and reads their
 * answers in order; it may write slowly, or leave before the answer.
 * Answers must have a Content-Length: the module and nginx's own error
 * pages always send one.
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "soak.h"


typedef enum {
    SOAK_CLOSED = 0,
    SOAK_IDLE,
    SOAK_BUSY
} soak_state_e;


struct soak_conn_s {
    int            fd;
    soak_state_e   state;
    soak_mode_e    mode;
    soak_req_t    *rq[SOAK_MAX_PIPE];
    int            nrq;
    int            answered;
    char          *out;             /* what is written, all requests */
    size_t         out_len;
    size_t         out_pos;
    size_t         out_stop;        /* SOAK_LEAVE_BODY writes up to here */
    int64_t        next_write;      /* SOAK_SLOW: the next few bytes */
    int64_t        leave_at;        /* SOAK_LEAVE_*: close then */
    int64_t        deadline;        /* an answer later than this: a hang */
    int            want_out;        /* EPOLLOUT wanted */
    int            reading;         /* EPOLLIN wanted */
    int            narrow;          /* a small receive buffer */
    int64_t        next_read;       /* SOAK_SLOW_READ: the next bytes */
    int            last;            /* Connection: close seen */
    char          *in;
    size_t         in_len;
    size_t         in_size;
};


static void soak_conn_close(soak_conn_t *c, int reset);
static int soak_conn_open(soak_conn_t *c);
static void soak_conn_write(soak_conn_t *c);
static void soak_conn_read(soak_conn_t *c);
static int soak_conn_answer(soak_conn_t *c);
static void soak_conn_fail_rest(soak_conn_t *c, soak_outcome_e o,
    const char *why);
static void soak_conn_want(soak_conn_t *c, int out, int in);


static int           soak_epfd;
static int           soak_port;
static int           soak_nconns;
static soak_conn_t  *soak_conns;


void
soak_conn_init(int epfd, int port, int n)
{
    int  i;

    soak_epfd = epfd;
    soak_port = port;
    soak_nconns = n;
    soak_conns = calloc(n, sizeof(soak_conn_t));

    if (soak_conns == NULL) {
        fprintf(stderr, "cast-soak: out of memory\n");
        exit(2);
    }

    /* one in eight reads its answers slowly, through a narrow window */
    for (i = 0; i < n; i += 8) {
        soak_conns[i].narrow = 1;
    }
}


static int
soak_conn_open(soak_conn_t *c)
{
    int                  fd, one, rcvbuf;
    struct sockaddr_in   sin;
    struct epoll_event   ev;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(soak_port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (c->narrow) {
        /* before connect(), so that the window is small from the start */
        rcvbuf = 2048;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }

    /* loopback: a blocking connect returns at once */
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        close(fd);
        soak_stats.connect_errors++;
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));

    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
        close(fd);
        return -1;
    }

    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c;
    if (epoll_ctl(soak_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        close(fd);
        return -1;
    }

    c->fd = fd;
    c->state = SOAK_IDLE;
    c->want_out = 0;
    c->reading = 1;
    c->last = 0;
    c->in_len = 0;

    return 0;
}


/* reset: RST instead of FIN (SO_LINGER 0), as a client that crashed */
static void
soak_conn_close(soak_conn_t *c, int reset)
{
    struct linger  l;

    if (c->fd == -1 || c->state == SOAK_CLOSED) {
        return;
    }

    if (reset) {
        l.l_onoff = 1;
        l.l_linger = 0;
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }

    epoll_ctl(soak_epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = SOAK_CLOSED;
    c->nrq = 0;
    c->answered = 0;
    free(c->out);
    c->out = NULL;
}


/* an idle connection, narrow or not, opened when needed; NULL if none */
soak_conn_t *
soak_conn_idle(int narrow)
{
    int           i, k;
    soak_conn_t  *c;

    k = random() % soak_nconns;

    for (i = 0; i < soak_nconns; i++) {
        c = &soak_conns[(k + i) % soak_nconns];

        if (c->narrow != narrow) {
            continue;
        }

        if (c->state == SOAK_IDLE) {
            return c;
        }

        if (c->state == SOAK_CLOSED) {
            return soak_conn_open(c) == 0 ? c : NULL;
        }
    }

    return NULL;
}


int
soak_conn_start(soak_conn_t *c, soak_req_t **rqs, int n, soak_mode_e mode)
{
    int      i;
    size_t   len, body;
    int64_t  now;
    char    *p;

    len = 0;
    for (i = 0; i < n; i++) {
        len += rqs[i]->len;
    }

    c->out = malloc(len);
    if (c->out == NULL) {
        return -1;
    }

    p = c->out;
    for (i = 0; i < n; i++) {
        memcpy(p, rqs[i]->text, rqs[i]->len);
        p += rqs[i]->len;
        c->rq[i] = rqs[i];
    }

    now = soak_now();
    c->nrq = n;
    c->answered = 0;
    c->out_len = len;
    c->out_pos = 0;
    c->out_stop = len;
    c->mode = mode;
    c->state = SOAK_BUSY;
    c->next_write = now;
    c->leave_at = 0;
    c->deadline = now + SOAK_TIMEOUT_MS;

    if (mode == SOAK_LEAVE_BODY) {
        body = strstr(c->out, "\r\n\r\n") - c->out + 4;
        c->out_stop = body + (len - body) / 2;
        c->leave_at = now + random() % 50;

    } else if (mode == SOAK_LEAVE_WAITING) {
        c->leave_at = now + random() % 400;
    }

    if (n > 1) {
        soak_stats.pipelined += n;
    }

    if (mode == SOAK_SLOW) {
        soak_stats.slow++;
        return 0;               /* written by soak_conn_timers() */
    }

    if (mode == SOAK_SLOW_READ) {
        soak_stats.slow_read++;
    }

    soak_conn_write(c);
    return 0;
}


static void
soak_conn_want(soak_conn_t *c, int out, int in)
{
    struct epoll_event  ev;

    if (c->want_out == out && c->reading == in) {
        return;
    }

    ev.events = (in ? EPOLLIN | EPOLLRDHUP : 0) | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(soak_epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
    c->reading = in;
}


static void
soak_conn_write(soak_conn_t *c)
{
    size_t   stop;
    ssize_t  n;

    stop = c->out_stop;
    if (c->mode == SOAK_SLOW && c->out_pos + 16 < stop) {
        stop = c->out_pos + 1 + random() % 16;
    }

    while (c->out_pos < stop) {
        n = send(c->fd, c->out + c->out_pos, stop - c->out_pos,
                 MSG_NOSIGNAL);

        if (n == -1 && errno == EAGAIN) {
            soak_conn_want(c, 1, c->reading);
            return;
        }

        if (n == -1) {
            soak_conn_fail_rest(c, SOAK_RESET, strerror(errno));
            return;
        }

        c->out_pos += n;
    }

    soak_conn_want(c, 0, c->reading);

    if (c->mode == SOAK_SLOW) {
        c->next_write = soak_now() + 5 + random() % 30;
    }
}


/* requests not answered yet all end with o */
static void
soak_conn_fail_rest(soak_conn_t *c, soak_outcome_e o, const char *why)
{
    int  i;

    for (i = c->answered; i < c->nrq; i++) {
        soak_ledger_uncertain(c->rq[i]);
        soak_record(c->rq[i], o, why, NULL, 0);
    }

    c->answered = c->nrq;
    soak_conn_close(c, o == SOAK_ABORTED && (random() & 1));
}


void
soak_conn_event(soak_conn_t *c, uint32_t events)
{
    if (c->state == SOAK_CLOSED) {
        return;
    }

    if ((events & EPOLLOUT) && c->state == SOAK_BUSY
        && c->mode != SOAK_SLOW)
    {
        soak_conn_write(c);
    }

    if (c->state != SOAK_CLOSED
        && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
    {
        soak_conn_read(c);
    }
}


static void
soak_conn_read(soak_conn_t *c)
{
    size_t   want;
    ssize_t  n;

    for ( ;; ) {
        if (c->in_size - c->in_len < 16384) {
            c->in_size = c->in_size ? 2 * c->in_size : 65536;
            c->in = realloc(c->in, c->in_size);
            if (c->in == NULL) {
                fprintf(stderr, "cast-soak: out of memory\n");
                exit(2);
            }
        }

        want = c->in_size - c->in_len;
        if (c->state == SOAK_BUSY && c->mode == SOAK_SLOW_READ) {
            want = 64 + random() % 512;
        }

        n = recv(c->fd, c->in + c->in_len, want, 0);

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        if (n <= 0) {
            /* an idle keep-alive connection closed by nginx is normal */
            if (c->state == SOAK_IDLE || c->answered == c->nrq) {
                soak_conn_close(c, 0);
            } else if (c->last) {
                soak_stats.pipeline_cut += c->nrq - c->answered;
                soak_conn_fail_rest(c, SOAK_ABORTED, "cut");
            } else {
                soak_conn_fail_rest(c, SOAK_RESET,
                                    n == 0 ? "closed by nginx"
                                           : strerror(errno));
            }
            return;
        }

        c->in_len += n;

        if (c->state == SOAK_IDLE) {
            soak_record(NULL, SOAK_BAD_HTTP, "bytes on an idle connection",
                        c->in, c->in_len);
            soak_conn_close(c, 0);
            return;
        }

        while (c->answered < c->nrq && soak_conn_answer(c)) { /* void */ }

        if (c->state == SOAK_CLOSED) {
            return;
        }

        if (c->answered == c->nrq && c->state == SOAK_BUSY) {
            free(c->out);
            c->out = NULL;
            c->state = SOAK_IDLE;

            if (c->last || c->in_len > 0) {
                /* nginx said it closes, or answered more than asked */
                if (c->in_len > 0) {
                    soak_record(NULL, SOAK_BAD_HTTP,
                                "bytes after the last answer", c->in,
                                c->in_len);
                }
                soak_conn_close(c, 0);
                return;
            }
        }

        if (c->in_len > SOAK_MAX_ANSWER) {
            soak_conn_fail_rest(c, SOAK_BAD_HTTP, "answer too large");
            return;
        }

        if (c->state == SOAK_BUSY && c->mode == SOAK_SLOW_READ) {
            /* not another byte until soak_conn_timers() says so */
            c->next_read = soak_now() + 5 + random() % 20;
            soak_conn_want(c, c->want_out, 0);
            return;
        }
    }
}


/* one whole answer in c->in: checked, recorded, consumed; 0 if partial */
static int
soak_conn_answer(soak_conn_t *c)
{
    int           status;
    char         *end, *h, *eol, why[256];
    size_t        head, body, used;
    long long     clen;
    soak_req_t   *rq;

    end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->in_len > 65536) {
            soak_conn_fail_rest(c, SOAK_BAD_HTTP, "no end of headers");
        }
        return 0;
    }

    head = end - c->in + 4;
    rq = c->rq[c->answered];

    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 ", 9) != 0) {
        soak_conn_fail_rest(c, SOAK_BAD_HTTP, "not HTTP/1.1");
        return 0;
    }

    status = atoi(c->in + 9);
    clen = -1;

    for (h = memchr(c->in, '\n', head) + 1; h < end; h = eol + 2) {
        eol = memmem(h, end + 2 - h, "\r\n", 2);

        if (strncasecmp(h, "Content-Length:", 15) == 0) {
            clen = atoll(h + 15);

        } else if (strncasecmp(h, "Connection: close", 17) == 0) {
            c->last = 1;

        } else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0) {
            soak_conn_fail_rest(c, SOAK_BAD_HTTP, "chunked answer");
            return 0;
        }
    }

    if (clen < 0) {
        soak_conn_fail_rest(c, SOAK_BAD_HTTP, "no Content-Length");
        return 0;
    }

    body = (size_t) clen;
    if (c->in_len < head + body) {
        return 0;
    }

    why[0] = '\0';

    if (c->mode == SOAK_LEAVE_BODY) {
        /* half a body cannot be answered before it is complete */
        soak_record(rq, SOAK_BAD_HTTP, "an answer to half a body",
                    c->in, head + body);
    } else {
        soak_record(rq, soak_check(rq, status, c->in + head, body, why,
                                   sizeof(why)),
                    why, c->in + head, body);
    }

    c->answered++;
    used = head + body;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;

    return 1;
}


/* slow writes, clients leaving, hangs; the next deadline */
int64_t
soak_conn_timers(int64_t now)
{
    int           i;
    int64_t       next, t;
    soak_conn_t  *c;

    next = now + 1000;

    for (i = 0; i < soak_nconns; i++) {
        c = &soak_conns[i];

        if (c->state != SOAK_BUSY) {
            continue;
        }

        if (c->leave_at && now >= c->leave_at
            && c->out_pos >= c->out_stop)
        {
            soak_conn_fail_rest(c, SOAK_ABORTED, "left");
            continue;
        }

        if (now >= c->deadline) {
            soak_conn_fail_rest(c, SOAK_HANG, "no answer in time");
            continue;
        }

        if (c->mode == SOAK_SLOW && c->out_pos < c->out_len
            && now >= c->next_write)
        {
            soak_conn_write(c);
        }

        if (c->state == SOAK_BUSY && !c->reading && now >= c->next_read) {
            soak_conn_want(c, c->want_out, 1);
        }

        if (c->state != SOAK_BUSY) {
            continue;
        }

        t = c->deadline;
        if (c->leave_at && c->leave_at < t) {
            t = c->leave_at;
        }
        if (c->mode == SOAK_SLOW && c->out_pos < c->out_len
            && c->next_write < t)
        {
            t = c->next_write;
        }
        if (!c->reading && c->next_read < t) {
            t = c->next_read;
        }
        if (t < next) {
            next = t;
        }
    }

    return next;
}


int
soak_conn_busy(void)
{
    int  i, n;

    n = 0;
    for (i = 0; i < soak_nconns; i++) {
        n += soak_conns[i].state == SOAK_BUSY;
    }

    return n;
}


int
soak_conn_slow(void)
{
    int  i, n;

    n = 0;
    for (i = 0; i < soak_nconns; i++) {
        n += soak_conns[i].state == SOAK_BUSY
             && soak_conns[i].mode == SOAK_SLOW;
    }

    return n;
}
