/*
 * sse_load: many Server-Sent Events subscribers held cheaply on one epoll
 * loop, and the delay from a vote's answer to its event (make bench).
 *
 *   sse_load -p PORT -n SUBSCRIBERS -s SECONDS -u NAME [-v VOTE_PORT]
 *            [-w WAIT]
 *
 * Opens SUBSCRIBERS connections to 127.0.0.1:PORT/graphql, each
 * subscribing to `subscription { votes(usernames: [NAME]) { votes } }`
 * (all of them one view in the server), at most 500 connecting at a time.
 * Once all stream, it prints "connected N" on stdout and, with -v, a
 * thread votes (after WAIT seconds) for NAME through 127.0.0.1:VOTE_PORT
 * every 100 ms (its
 * own ticket from cas), noting when each answer came and the count it
 * made.  Each subscriber notes when it first saw each count.  After
 * SECONDS it prints one JSON object: subscribers, events, the bytes read
 * once all streamed, probes, and the delay from a probe vote's answer to
 * a subscriber's event showing it (p50, p99, max in ms, over every
 * subscriber and probe; an event that came before the answer counts 0).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define MAX_PROBES   1024
#define CONNECTING   500


typedef struct {
    int        fd;
    int        state;          /* 0 connecting, 1 streaming, 2 gone */
    int64_t    seen;           /* the highest count seen */
    char       tail[96];       /* an event's start cut by a read */
    size_t     ntail;
} sub_t;


static int          port, vote_port, nsubs, seconds, wait_s;
static const char  *name;
static char         request[1024];
static size_t       request_len;

/* the probe votes: the count each made and when its answer came (ns) */
static pthread_mutex_t  lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t          probe_count[MAX_PROBES];
static int64_t          probe_at[MAX_PROBES];
static int              nprobes;
static volatile int     stop;

static int64_t          base_count = -1;
static int64_t          start_ns;
static uint32_t        *first_seen;    /* [sub][count - base]: us + 1 */
static int              span = 512;
static uint64_t         events;
static uint64_t         bytes;


static int64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static int
connect_to(int p, int nonblock)
{
    int                 fd, one = 1;
    struct sockaddr_in  sa;

    fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        return -1;
    }

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(p);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    return fd;
}


/* one blocking HTTP/1.0 exchange: the body, or NULL */
static char *
http_post(const char *body, char *buf, size_t size)
{
    int      fd;
    char     head[512];
    size_t   got;
    ssize_t  n;
    char    *b;

    fd = connect_to(vote_port, 0);
    if (fd < 0) {
        return NULL;
    }

    n = snprintf(head, sizeof(head), "POST /graphql HTTP/1.0\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n", strlen(body));

    if (write(fd, head, n) != n
        || write(fd, body, strlen(body)) != (ssize_t) strlen(body))
    {
        close(fd);
        return NULL;
    }

    got = 0;
    while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0) {
        got += n;
    }

    close(fd);
    buf[got] = '\0';

    b = strstr(buf, "\r\n\r\n");
    return b ? b + 4 : NULL;
}


/* every 100 ms: cas, then a vote for the name; its count and time kept */
static void *
prober(void *arg)
{
    char      buf[8192], body[1024], ticket[256], *p, *e;
    int64_t   t, count;
    (void) arg;

    sleep(wait_s);

    while (!stop && nprobes < MAX_PROBES) {
        p = http_post("{\"query\":\"{cas{ticket}}\"}", buf, sizeof(buf));
        p = p ? strstr(p, "\"ticket\":\"") : NULL;
        e = p ? strchr(p + 10, '"') : NULL;

        if (e && e - (p + 10) < (long) sizeof(ticket)) {
            memcpy(ticket, p + 10, e - (p + 10));
            ticket[e - (p + 10)] = '\0';

            snprintf(body, sizeof(body), "{\"query\":\"mutation{vote("
                     "usernames:[\\\"%s\\\"],ticket:\\\"%s\\\"){votes}}\"}",
                     name, ticket);

            p = http_post(body, buf, sizeof(buf));
            t = now_ns();
            p = p ? strstr(p, "\"votes\":[") : NULL;

            if (p) {
                count = strtoll(p + 9, NULL, 10);
                pthread_mutex_lock(&lock);
                probe_count[nprobes] = count;
                probe_at[nprobes] = t;
                nprobes++;
                pthread_mutex_unlock(&lock);
            }
        }

        usleep(100000);
    }

    return NULL;
}


static sub_t  *subs;


/* subscriber i saw count (and the counts it skipped) at t */
static void
seen(int i, int64_t count, int64_t t)
{
    int64_t  c, from;

    events++;

    if (base_count < 0) {
        base_count = count;
    }

    from = subs[i].seen < base_count ? base_count : subs[i].seen + 1;

    for (c = from; c <= count && c - base_count < span; c++) {
        if (c >= base_count) {
            first_seen[(int64_t) i * span + (c - base_count)] =
                (uint32_t) ((t - start_ns) / 1000) + 1;
        }
    }

    if (count > subs[i].seen) {
        subs[i].seen = count;
    }
}


/* the events in what was read (a "votes": cut by a read waits in tail) */
static void
parse(int i, char *buf, size_t n, int64_t t)
{
    char    *p, *end, *q;
    sub_t   *s = &subs[i];
    char     joined[65536 + 96];

    if (s->ntail) {
        memcpy(joined, s->tail, s->ntail);
        memcpy(joined + s->ntail, buf, n);
        n += s->ntail;
        buf = joined;
        s->ntail = 0;
    }

    end = buf + n;

    for (p = buf; (q = memmem(p, end - p, "\"votes\":", 8)) != NULL; ) {
        char  *d = q + 8, *e = d;

        while (e < end && *e >= '0' && *e <= '9') {
            e++;
        }

        if (e == end) {
            p = q;
            break;
        }

        /* "votes":[ opens the list: not a count */
        if (e > d) {
            seen(i, strtoll(d, NULL, 10), t);
        }
        p = e;
    }

    /* keep what might be the start of a cut "votes": */
    if (end - p > 0) {
        size_t  keep = end - p < 32 ? end - p : 32;
        memcpy(s->tail, end - keep, keep);
        s->ntail = keep;
    }
}


static int
cmp64(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}


int
main(int argc, char **argv)
{
    int                  ep, i, n, opt, opened, streaming, gone;
    char                 buf[65536];
    ssize_t              r;
    int64_t              t, end, *delays, c;
    size_t               nd, k;
    pthread_t            th;
    struct rlimit        rl;
    struct epoll_event   ev, evs[4096];

    while ((opt = getopt(argc, argv, "p:n:s:u:v:w:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': nsubs = atoi(optarg); break;
        case 's': seconds = atoi(optarg); break;
        case 'u': name = optarg; break;
        case 'v': vote_port = atoi(optarg); break;
        case 'w': wait_s = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: sse_load -p PORT -n N -s SECONDS "
                    "-u NAME [-v VOTE_PORT]\n");
            return 2;
        }
    }

    if (!port || nsubs < 1 || !name) {
        fprintf(stderr, "sse_load: -p, -n and -u are required\n");
        return 2;
    }

    rl.rlim_cur = rl.rlim_max = nsubs + 1024;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("sse_load: setrlimit");
        return 1;
    }

    subs = calloc(nsubs, sizeof(sub_t));
    first_seen = calloc((size_t) nsubs * span, sizeof(uint32_t));
    start_ns = now_ns();
    if (subs == NULL || first_seen == NULL) {
        fprintf(stderr, "sse_load: out of memory\n");
        return 1;
    }

    snprintf(buf, sizeof(buf), "{\"query\":\"subscription{votes(usernames:"
             "[\\\"%s\\\"]){votes}}\"}", name);
    request_len = snprintf(request, sizeof(request),
                           "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Accept: text/event-stream\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n%s",
                           strlen(buf), buf);

    ep = epoll_create1(0);
    opened = streaming = gone = 0;

    for (i = 0; i < nsubs; i++) {
        subs[i].fd = -1;
        subs[i].seen = -1;
    }

    /* connect in waves; a stream counts once its headers came */
    end = now_ns() + 120LL * 1000000000;

    while (streaming + gone < nsubs && now_ns() < end) {
        while (opened < nsubs && opened - streaming - gone < CONNECTING) {
            subs[opened].fd = connect_to(port, 1);
            if (subs[opened].fd < 0) {
                subs[opened].state = 2;
                gone++;
                opened++;
                continue;
            }
            ev.events = EPOLLOUT | EPOLLIN;
            ev.data.u32 = opened;
            epoll_ctl(ep, EPOLL_CTL_ADD, subs[opened].fd, &ev);
            opened++;
        }

        n = epoll_wait(ep, evs, 4096, 100);

        for (k = 0; k < (size_t) n; k++) {
            i = evs[k].data.u32;

            if (subs[i].state == 0 && (evs[k].events & EPOLLOUT)) {
                if (write(subs[i].fd, request, request_len)
                    != (ssize_t) request_len)
                {
                    subs[i].state = 2;
                    gone++;
                    close(subs[i].fd);
                    continue;
                }
                ev.events = EPOLLIN;
                ev.data.u32 = i;
                epoll_ctl(ep, EPOLL_CTL_MOD, subs[i].fd, &ev);
                subs[i].state = 3;       /* sent, waiting for headers */
                continue;
            }

            if (evs[k].events & EPOLLIN) {
                r = read(subs[i].fd, buf, sizeof(buf));
                if (r <= 0) {
                    subs[i].state = 2;
                    gone++;
                    close(subs[i].fd);
                    continue;
                }
                if (subs[i].state == 3) {
                    if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
                        subs[i].state = 2;
                        gone++;
                        close(subs[i].fd);
                        continue;
                    }
                    subs[i].state = 1;
                    streaming++;
                }
                parse(i, buf, r, now_ns());
            }
        }
    }

    printf("connected %d\n", streaming);
    fflush(stdout);

    /* the counts before the probes: what each subscriber saw is kept */
    if (vote_port) {
        pthread_create(&th, NULL, prober, NULL);
    }

    end = now_ns() + (int64_t) seconds * 1000000000;

    while (now_ns() < end) {
        n = epoll_wait(ep, evs, 4096, 100);

        for (k = 0; k < (size_t) n; k++) {
            i = evs[k].data.u32;
            r = read(subs[i].fd, buf, sizeof(buf));
            /* when this stream's event was read, not when the batch came */
            t = now_ns();
            if (r <= 0) {
                if (subs[i].state != 2) {
                    subs[i].state = 2;
                    gone++;
                    streaming--;
                    close(subs[i].fd);
                }
                continue;
            }
            bytes += r;
            parse(i, buf, r, t);
        }
    }

    stop = 1;
    if (vote_port) {
        pthread_join(th, NULL);
    }

    /* delays: each probe's count, each subscriber that saw it */
    delays = malloc(sizeof(int64_t) * ((size_t) nprobes * nsubs + 1));
    nd = 0;

    for (k = 0; k < (size_t) nprobes && delays; k++) {
        c = probe_count[k] - base_count;
        if (base_count < 0 || c < 0 || c >= span) {
            continue;
        }
        for (i = 0; i < nsubs; i++) {
            t = first_seen[(int64_t) i * span + c];
            if (subs[i].state == 1 && t) {
                t = start_ns + (t - 1) * 1000;
                delays[nd++] = t > probe_at[k] ? t - probe_at[k] : 0;
            }
        }
    }

    if (nd) {
        qsort(delays, nd, sizeof(int64_t), cmp64);
    }

    printf("{\"subscribers\": %d, \"lost\": %d, \"events\": %llu, "
           "\"bytes\": %llu, \"probes\": %d, \"delays\": %zu, "
           "\"p50_ms\": %.1f, "
           "\"p99_ms\": %.1f, \"max_ms\": %.1f}\n",
           streaming, gone, (unsigned long long) events,
           (unsigned long long) bytes, nprobes, nd,
           nd ? delays[nd / 2] / 1e6 : 0.0,
           nd ? delays[nd * 99 / 100] / 1e6 : 0.0,
           nd ? delays[nd - 1] / 1e6 : 0.0);

    return 0;
}
