/*
 * cast-load: a constant-rate (open-loop) HTTP/1.1 load generator for the
 * latency sweep of make bench.  Request i of a run is due at
 * start + (i + 1) / rate whatever the answers; it goes out on the first
 * idle keep-alive connection (at most -c of them), and its latency is
 * counted from its due time, so a stall of the server or of this client
 * delays no request unseen (coordinated omission).  The run ends 10 ms
 * after the last due time; sending goes on after it until every request
 * is out (or the timeout): `sent` counts those out by the end, `sent_late`
 * the others, whose wait counts all the same.  A request still unsent at
 * the timeout counts from its due time to the last answer.  One thread,
 * epoll, a timerfd for the next due time; the requests are formatted once
 * per name.
 *
 *   cast-load -u http://127.0.0.1:8080/graphql -r RATE -d MS [-c CONNS]
 *             [-b BODY] [-n NAMES] [-t TIMEOUT_MS] [-o FILE]
 *
 * BODY (POSTed as JSON) may hold one %d, replaced by 1..NAMES in turn.
 * Prints one line of name=value: due, sent, sent_late, answered, ok
 * (status 200), accepted (200 with "success":true), errors, p50_ms,
 * p99_ms, max_ms (from the due time), p99_uncorrected_ms (from the send
 * time) and cpu_us_per_request (this process).  -o FILE appends one line
 * per request: its latency from the due time and from the send time (-1
 * unsent or unanswered), in ms, and 1 when it failed (else 0), so that
 * the runs of a sweep can be taken together.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>


#define LOAD_CONNS_MAX  1024
#define LOAD_BUF        16384
#define LOAD_TIMER      (-1)


typedef struct {
    int           fd;
    int           busy;         /* a request out, its answer awaited */
    int           connecting;
    size_t        req;          /* the request in flight */
    const char   *out;          /* what is left to write */
    size_t        outlen;
    char          in[LOAD_BUF];
    size_t        inlen;
} load_conn_t;


typedef struct {
    struct sockaddr_in  addr;
    char              **reqs;   /* formatted requests, one per name */
    size_t             *reqlens;
    size_t              nreqs;

    double              rate;
    int64_t             start;  /* ns, CLOCK_MONOTONIC */
    int64_t             end;
    int64_t             timeout;
    size_t              total;  /* requests due over the run */
    size_t              next;   /* the next request to send */
    size_t              on_time;    /* sent before the run's end */

    int64_t            *sent_at;   /* per request: 0 unsent */
    int64_t            *lat;       /* from the due time, ns; -1 none */
    int64_t            *raw;       /* from the send time, ns */
    int                *status;    /* HTTP status, 0 none */
    size_t              answered, ok, accepted, errors;
    int64_t             last_answer;

    load_conn_t         conns[LOAD_CONNS_MAX];
    int                 nconns;
    int                 ep;
    int                 timer;
} load_t;


static int64_t
load_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static int64_t
load_due(load_t *ld, size_t i)
{
    return ld->start + (int64_t) ((double) (i + 1) * 1e9 / ld->rate);
}


static void
load_die(const char *what)
{
    perror(what);
    exit(2);
}


static void
load_connect(load_t *ld, load_conn_t *c)
{
    int                 one = 1;
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        load_die("socket");
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->busy = 0;
    c->inlen = 0;
    c->connecting = 1;

    if (connect(c->fd, (struct sockaddr *) &ld->addr, sizeof(ld->addr)) != 0
        && errno != EINPROGRESS)
    {
        load_die("connect");
    }

    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;

    if (epoll_ctl(ld->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        load_die("epoll_ctl");
    }
}


/* An answer, or its failure (status 0): counted, the connection idle */

static void
load_answer(load_t *ld, load_conn_t *c, int status, int accepted)
{
    int64_t  now;

    now = load_now();

    ld->answered++;
    ld->last_answer = now;
    ld->lat[c->req] = now - load_due(ld, c->req);
    ld->raw[c->req] = now - ld->sent_at[c->req];
    ld->status[c->req] = status;

    if (status == 200) {
        ld->ok++;
        ld->accepted += accepted;

    } else {
        ld->errors++;
    }

    c->busy = 0;
    c->inlen = 0;
}


static void
load_reconnect(load_t *ld, load_conn_t *c)
{
    if (c->busy) {
        load_answer(ld, c, 0, 0);
    }

    epoll_ctl(ld->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    load_connect(ld, c);
}


static void
load_write(load_t *ld, load_conn_t *c)
{
    ssize_t  n;

    while (c->outlen > 0) {
        n = write(c->fd, c->out, c->outlen);
        if (n < 0) {
            if (errno != EAGAIN) {
                load_reconnect(ld, c);
            }
            return;
        }

        c->out += n;
        c->outlen -= (size_t) n;
    }
}


/* Sends what is due on the idle connections */

static void
load_send(load_t *ld)
{
    int            i;
    size_t         due, r;
    int64_t        now;
    load_conn_t   *c;

    now = load_now();
    due = (size_t) ((double) (now - ld->start) * ld->rate / 1e9);
    if (due > ld->total) {
        due = ld->total;
    }

    for (i = 0; i < ld->nconns && ld->next < due; i++) {
        c = &ld->conns[i];

        if (c->busy || c->connecting) {
            continue;
        }

        r = ld->next++;
        c->busy = 1;
        c->req = r;
        c->out = ld->reqs[r % ld->nreqs];
        c->outlen = ld->reqlens[r % ld->nreqs];
        ld->sent_at[r] = load_now();
        ld->on_time += (ld->sent_at[r] < ld->end);

        load_write(ld, c);
    }
}


/* Reads an answer: the status line, Content-Length, the body. */

static void
load_read(load_t *ld, load_conn_t *c)
{
    int          status;
    char        *hend, *cl;
    size_t       head, body;
    ssize_t      n;

    for ( ;; ) {
        n = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            load_reconnect(ld, c);
            return;
        }

        if (n < 0) {
            return;
        }

        c->inlen += (size_t) n;
        c->in[c->inlen] = '\0';

        hend = strstr(c->in, "\r\n\r\n");
        if (hend == NULL) {
            if (c->inlen == sizeof(c->in) - 1) {
                load_reconnect(ld, c);
                return;
            }
            continue;
        }

        head = (size_t) (hend - c->in) + 4;
        cl = strcasestr(c->in, "\r\nContent-Length:");
        body = (cl != NULL && cl < hend) ? strtoul(cl + 17, NULL, 10) : 0;

        if (head + body >= sizeof(c->in)) {
            load_reconnect(ld, c);
            return;
        }

        if (c->inlen < head + body) {
            continue;
        }

        if (!c->busy) {             /* nothing asked: drop the line */
            load_reconnect(ld, c);
            return;
        }

        status = (strncmp(c->in, "HTTP/1.1 ", 9) == 0) ? atoi(c->in + 9) : 0;
        c->in[head + body] = '\0';

        load_answer(ld, c, status,
                    strstr(c->in + head, "\"success\":true") != NULL);

        /* pipelining is not used; a server closing says so first */
        *hend = '\0';
        if (n > 0 && (c->inlen > head + body
                      || strcasestr(c->in, "\r\nConnection: close")))
        {
            load_reconnect(ld, c);
        }
        return;
    }
}


static void
load_arm(load_t *ld)
{
    int                i;
    int64_t            t;
    struct itimerspec  its;

    t = (ld->next < ld->total) ? load_due(ld, ld->next) : ld->end;

    /*
     * Behind with every connection busy, or past the end with answers
     * awaited: an answer wakes the loop, not the timer, which would fire
     * at once, again and again.  A request that fell due since
     * load_send() looked, with a connection idle, keeps the timer (past,
     * it fires at once): disarmed, the loop slept until epoll_wait()'s
     * timeout, 100 ms, whenever nothing was in flight to wake it (the
     * sweep's first step, at 25 %, had a p99 of 92 ms from this alone).
     */
    if (t <= load_now()) {
        for (i = 0; ld->next < ld->total && i < ld->nconns; i++) {
            if (!ld->conns[i].busy && !ld->conns[i].connecting) {
                break;
            }
        }

        if (ld->next == ld->total || i == ld->nconns) {
            t = 0;
        }
    }

    memset(&its, 0, sizeof(its));

    if (t > 0) {
        its.it_value.tv_sec = t / 1000000000;
        its.it_value.tv_nsec = t % 1000000000;
    }

    if (timerfd_settime(ld->timer, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        load_die("timerfd_settime");
    }
}


static void
load_run(load_t *ld)
{
    int                  i, n, inflight;
    uint64_t             x;
    int64_t              now;
    load_conn_t         *c;
    struct epoll_event   evs[64], ev;

    ld->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (ld->timer < 0) {
        load_die("timerfd_create");
    }

    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ld->ep, EPOLL_CTL_ADD, ld->timer, &ev);

    for (i = 0; i < ld->nconns; i++) {
        load_connect(ld, &ld->conns[i]);
    }

    ld->start = load_now();
    ld->end = load_due(ld, ld->total - 1) + 10000000;
    load_arm(ld);

    for ( ;; ) {
        now = load_now();

        inflight = 0;
        for (i = 0; i < ld->nconns; i++) {
            inflight += ld->conns[i].busy;
        }

        if ((ld->next == ld->total && inflight == 0)
            || now >= ld->end + ld->timeout)
        {
            break;
        }

        n = epoll_wait(ld->ep, evs, 64, 100);

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (c == NULL) {
                if (read(ld->timer, &x, sizeof(x)) < 0) { /* void */ }
                continue;
            }

            if (c->connecting) {
                if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                    load_reconnect(ld, c);
                    continue;
                }

                if (evs[i].events & EPOLLOUT) {
                    c->connecting = 0;
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ld->ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }

            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                load_read(ld, c);
            }
        }

        load_send(ld);
        load_arm(ld);
    }
}


static int
load_cmp(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


/* the q quantile of v[0..n-1], sorted, in ms */

static double
load_q(int64_t *v, size_t n, double q)
{
    size_t  i;

    if (n == 0) {
        return 0;
    }

    i = (size_t) (q * (double) n + 0.999999);
    i = (i == 0) ? 0 : i - 1;

    return (double) v[i < n ? i : n - 1] / 1e6;
}


static void
load_dump(load_t *ld, const char *file, int64_t end)
{
    FILE    *f;
    size_t   i;
    int64_t  d;

    f = fopen(file, "a");
    if (f == NULL) {
        load_die(file);
    }

    for (i = 0; i < ld->total; i++) {
        d = load_due(ld, i);

        if (ld->sent_at[i] != 0 && ld->lat[i] >= 0) {
            fprintf(f, "%.3f %.3f %d\n", (double) ld->lat[i] / 1e6,
                    (double) ld->raw[i] / 1e6, ld->status[i] != 200);

        } else {
            fprintf(f, "%.3f -1 1\n", (double) (end - d) / 1e6);
        }
    }

    if (fclose(f) != 0) {
        load_die(file);
    }
}


static void
load_report(load_t *ld, const char *file)
{
    size_t          i, n, m;
    int64_t        *all, *raw, end;
    struct rusage   ru;
    double          cpu;

    all = malloc(ld->total * sizeof(int64_t));
    raw = malloc(ld->total * sizeof(int64_t));
    if (all == NULL || raw == NULL) {
        load_die("malloc");
    }

    end = ld->last_answer > ld->end ? ld->last_answer : ld->end;
    n = m = 0;

    if (file != NULL) {
        load_dump(ld, file, end);
    }

    for (i = 0; i < ld->total; i++) {
        if (ld->sent_at[i] == 0) {
            all[n++] = end - load_due(ld, i);   /* never sent */

        } else if (ld->lat[i] >= 0) {
            all[n++] = ld->lat[i];
            raw[m++] = ld->raw[i];

        } else {
            all[n++] = end - load_due(ld, i);   /* no answer in time */
        }
    }

    qsort(all, n, sizeof(int64_t), load_cmp);
    qsort(raw, m, sizeof(int64_t), load_cmp);

    getrusage(RUSAGE_SELF, &ru);
    cpu = (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
          + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);

    printf("due=%zu sent=%zu sent_late=%zu answered=%zu ok=%zu "
           "accepted=%zu errors=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
           "p99_uncorrected_ms=%.3f cpu_us_per_request=%.1f\n",
           ld->total, ld->on_time, ld->next - ld->on_time, ld->answered,
           ld->ok, ld->accepted, ld->errors + (ld->next - ld->answered),
           load_q(all, n, 0.5),
           load_q(all, n, 0.99), n ? (double) all[n - 1] / 1e6 : 0,
           load_q(raw, m, 0.99), ld->next ? cpu / (double) ld->next : 0);

    free(all);
    free(raw);
}


static void
load_usage(void)
{
    fprintf(stderr, "usage: cast-load -u http://HOST:PORT/PATH -r RATE "
            "-d MS [-c CONNS] [-b BODY] [-n NAMES] [-t TIMEOUT_MS] "
            "[-o FILE]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int          o, conns, names, port, len;
    char         host[64], path[256], body[4096], *url, *fmt, *file;
    double       ms;
    size_t       i;
    load_t      *ld;

    url = NULL;
    file = NULL;
    fmt = "{}";
    conns = 64;
    names = 1;
    ms = 0;

    ld = calloc(1, sizeof(load_t));
    if (ld == NULL) {
        load_die("calloc");
    }

    ld->timeout = 10000000000LL;

    while ((o = getopt(argc, argv, "u:r:d:c:b:n:t:o:")) != -1) {
        switch (o) {
        case 'u':
            url = optarg;
            break;

        case 'r':
            ld->rate = atof(optarg);
            break;

        case 'd':
            ms = atof(optarg);
            break;

        case 'c':
            conns = atoi(optarg);
            break;

        case 'b':
            fmt = optarg;
            break;

        case 'n':
            names = atoi(optarg);
            break;

        case 't':
            ld->timeout = atoll(optarg) * 1000000LL;
            break;

        case 'o':
            file = optarg;
            break;

        default:
            load_usage();
        }
    }

    if (url == NULL || ld->rate <= 0 || ms <= 0 || conns < 1
        || conns > LOAD_CONNS_MAX || names < 1
        || sscanf(url, "http://%63[^:/]:%d%255s", host, &port, path) != 3
        || inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1",
                     &ld->addr.sin_addr) != 1)
    {
        load_usage();
    }

    ld->addr.sin_family = AF_INET;
    ld->addr.sin_port = htons((uint16_t) port);
    ld->nconns = conns;
    ld->total = (size_t) (ms * ld->rate / 1000);
    if (ld->total == 0) {
        load_usage();
    }

    ld->nreqs = (size_t) names;
    ld->reqs = calloc(ld->nreqs, sizeof(char *));
    ld->reqlens = calloc(ld->nreqs, sizeof(size_t));
    ld->sent_at = calloc(ld->total, sizeof(int64_t));
    ld->lat = malloc(ld->total * sizeof(int64_t));
    ld->raw = calloc(ld->total, sizeof(int64_t));
    ld->status = calloc(ld->total, sizeof(int));
    if (ld->reqs == NULL || ld->reqlens == NULL || ld->sent_at == NULL
        || ld->lat == NULL || ld->raw == NULL || ld->status == NULL)
    {
        load_die("calloc");
    }

    for (i = 0; i < ld->total; i++) {
        ld->lat[i] = -1;
    }

    for (i = 0; i < ld->nreqs; i++) {
        len = snprintf(body, sizeof(body), fmt, (int) i + 1);
        if (len < 0 || (size_t) len >= sizeof(body)) {
            load_usage();
        }

        ld->reqs[i] = malloc(sizeof(body) + 512);
        if (ld->reqs[i] == NULL) {
            load_die("malloc");
        }

        ld->reqlens[i] = (size_t) snprintf(ld->reqs[i], sizeof(body) + 512,
            "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n%s", path, host, port, len, body);
    }

    ld->ep = epoll_create1(0);
    if (ld->ep < 0) {
        load_die("epoll_create1");
    }

    load_run(ld);
    load_report(ld, file);

    return 0;
}
