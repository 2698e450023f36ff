
/*
 * Copyright (C) CAST developers
 *
 * cast-soak: the traffic of `make soak` (scripts/soak.sh starts the stack,
 * samples the workers and judges the end state).
 *
 *   cast-soak --port P --redis-port R --seconds S --out DIR [options]
 *
 * Background traffic at --rate requests a second, of every kind in
 * soak.h, some pipelined, some written or read slowly, some left by their
 * client.
 * Every --pause-every ms Redis is paused (CLIENT PAUSE, ALL or WRITE) for
 * up to --pause-max ms; meanwhile a few votes and queries wait on it and
 * --churn distinct documents pass through the document caches.  A ticket
 * comes from a cas request every 250 ms.
 *
 * Writes DIR/failures.log (every failure: request and answer) and
 * DIR/ledger.tsv (name, acknowledged votes, votes that may have counted);
 * prints the figures; exits 1 when any answer failed its check.
 */

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "soak.h"


#define SOAK_WAITERS   16       /* requests sent into each pause */
#define SOAK_LOGGED    200      /* failures written out in full */


typedef struct {
    int          port;
    int          redis_port;
    int          seconds;
    int          rate;
    int          conns;
    int          pause_every;
    int          pause_max;
    int          churn;
    int          names;
    const char  *tag;
    const char  *out;
} soak_conf_t;


static void soak_usage(void);
static void soak_options(int argc, char **argv);
static int soak_start(soak_kind_e kind, int shape, soak_mode_e mode);
static int soak_pipeline(void);
static int soak_background(void);
static void soak_pause(int64_t now);
static void soak_schedule(int64_t now);
static void soak_summary(void);


static soak_conf_t  conf = {
    0, 0, 60, 400, 64, 4000, 700, 800, 2000, "soak", "."
};

static int64_t   soak_started;
static int64_t   soak_first_failure = -1;
static uint64_t  soak_failures;
static uint64_t  soak_stray;
static FILE     *soak_log;

static int       redis_fd = -1;
static int64_t   pause_start, pause_end, next_pause, next_cas;
static int       pause_waiters, pausing;
static int64_t   pause_churn;
static double    tokens;
static int64_t   tokens_at;


int64_t
soak_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
soak_usage(void)
{
    fprintf(stderr,
        "usage: cast-soak --port P --redis-port R [--seconds 60] "
        "[--rate 400]\n"
        "       [--conns 64] [--pause-every 4000] [--pause-max 700] "
        "[--churn 800]\n"
        "       [--names 2000] [--tag soak] [--out .]\n");
    exit(2);
}


static void
soak_options(int argc, char **argv)
{
    int                         c;
    static const struct option  opts[] = {
        { "port", required_argument, NULL, 'p' },
        { "redis-port", required_argument, NULL, 'r' },
        { "seconds", required_argument, NULL, 's' },
        { "rate", required_argument, NULL, 'q' },
        { "conns", required_argument, NULL, 'c' },
        { "pause-every", required_argument, NULL, 'e' },
        { "pause-max", required_argument, NULL, 'm' },
        { "churn", required_argument, NULL, 'k' },
        { "names", required_argument, NULL, 'n' },
        { "tag", required_argument, NULL, 't' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 }
    };

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': conf.port = atoi(optarg); break;
        case 'r': conf.redis_port = atoi(optarg); break;
        case 's': conf.seconds = atoi(optarg); break;
        case 'q': conf.rate = atoi(optarg); break;
        case 'c': conf.conns = atoi(optarg); break;
        case 'e': conf.pause_every = atoi(optarg); break;
        case 'm': conf.pause_max = atoi(optarg); break;
        case 'k': conf.churn = atoi(optarg); break;
        case 'n': conf.names = atoi(optarg); break;
        case 't': conf.tag = optarg; break;
        case 'o': conf.out = optarg; break;
        default: soak_usage();
        }
    }

    if (conf.port <= 0 || conf.redis_port <= 0 || conf.seconds <= 0
        || conf.rate <= 0 || conf.conns < 8 || conf.pause_every < 500
        || conf.pause_max < 100 || conf.names < 16 || conf.names > 60000)
    {
        soak_usage();
    }
}


void
soak_record(soak_req_t *rq, soak_outcome_e o, const char *why,
    const char *answer, size_t len)
{
    double  at;

    if (rq != NULL) {
        soak_stats.outcome[rq->kind][o]++;
    } else {
        soak_stray++;
    }

    if (o >= SOAK_NGOOD) {
        if (rq != NULL && o != SOAK_RESET && o != SOAK_HANG) {
            soak_ledger_uncertain(rq);  /* its names count or not */
        }

        at = (soak_now() - soak_started) / 1000.0;

        if (soak_failures++ == 0) {
            soak_first_failure = soak_now() - soak_started;
        }

        if (soak_failures <= 5) {
            fprintf(stderr, "cast-soak: %.1f s: %s %s: %s\n", at,
                    rq ? soak_kind_name(rq->kind) : "-",
                    soak_outcome_name(o), why);
        }

        if (soak_failures <= SOAK_LOGGED && soak_log != NULL) {
            fprintf(soak_log, "=== %.3f s  request %llu  %s  %s: %s\n"
                    "--- request\n%.*s\n--- answer (%zu bytes)\n%.*s\n\n",
                    at, rq ? (unsigned long long) rq->id : 0ULL,
                    rq ? soak_kind_name(rq->kind) : "-",
                    soak_outcome_name(o), why,
                    rq ? (int) (rq->len < 4096 ? rq->len : 4096) : 0,
                    rq ? rq->text : "", len,
                    (int) (len < 4096 ? len : 4096), answer ? answer : "");
            fflush(soak_log);
        }
    }

    if (rq != NULL) {
        soak_req_free(rq);
    }
}


static int
soak_start(soak_kind_e kind, int shape, soak_mode_e mode)
{
    soak_req_t   *rq;
    soak_conn_t  *c;

    c = soak_conn_idle(mode == SOAK_SLOW_READ);
    if (c == NULL) {
        return 0;
    }

    rq = soak_req_new(kind, shape);
    if (soak_conn_start(c, &rq, 1, mode) != 0) {
        soak_req_free(rq);
        return 0;
    }

    return 1;
}


/* 2 to SOAK_MAX_PIPE requests written at once on one connection */
static int
soak_pipeline(void)
{
    int                 i, n;
    soak_req_t         *rqs[SOAK_MAX_PIPE];
    soak_conn_t        *c;
    static const int    kinds[] = {
        SOAK_QUERY, SOAK_VOTE, SOAK_CHURN, SOAK_CHURN, SOAK_CAS,
        SOAK_ERROR, SOAK_INTRO, SOAK_BADTICKET, SOAK_ALIASED
    };

    c = soak_conn_idle(0);
    if (c == NULL) {
        return 0;
    }

    n = 2 + random() % (SOAK_MAX_PIPE - 1);
    for (i = 0; i < n; i++) {
        rqs[i] = soak_req_new(kinds[random() % (sizeof(kinds)
                                                / sizeof(kinds[0]))], 0);
    }

    if (soak_conn_start(c, rqs, n, SOAK_PLAIN) != 0) {
        for (i = 0; i < n; i++) {
            soak_req_free(rqs[i]);
        }
        return 0;
    }

    return n;
}


/* one piece of background traffic; the number of requests started */
static int
soak_background(void)
{
    int  r, heavy;

    r = random() % 1000;
    heavy = random() % 25 == 0 ? SOAK_HEAVY : SOAK_LIGHT;

    if (r < 60) {
        return soak_pipeline();
    }

    if (r < 80) {
        if (soak_conn_slow() >= 4) {
            return 0;
        }
        return soak_start(r & 1 ? SOAK_QUERY : SOAK_VOTE, 0, SOAK_SLOW);
    }

    if (r < 90) {
        return soak_start(SOAK_INTRO, SOAK_WIDE, SOAK_SLOW_READ);
    }

    r = random() % 100;

    return r < 20 ? soak_start(SOAK_QUERY, 0, SOAK_PLAIN)
         : r < 36 ? soak_start(SOAK_VOTE, 0, SOAK_PLAIN)
         : r < 41 ? soak_start(SOAK_ALIASED, heavy, SOAK_PLAIN)
         : r < 67 ? soak_start(SOAK_CHURN, 0, SOAK_PLAIN)
         : r < 77 ? soak_start(SOAK_ERROR, heavy, SOAK_PLAIN)
         : r < 82 ? soak_start(SOAK_INTRO, heavy, SOAK_PLAIN)
         : r < 87 ? soak_start(SOAK_BADTICKET, 0, SOAK_PLAIN)
         : r < 94 ? soak_start(SOAK_ABORT, 0, SOAK_LEAVE_WAITING)
         : soak_start(SOAK_ABORT, 0, SOAK_LEAVE_BODY);
}


static int
soak_redis_open(void)
{
    int                  fd;
    struct timeval       tv = { 0, 500000 };
    struct sockaddr_in   sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(conf.redis_port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        close(fd);
        return -1;
    }

    return fd;
}


/* CLIENT PAUSE <ms> ALL|WRITE; the pause window opens at the +OK */
static void
soak_pause(int64_t now)
{
    int          ms, n, len;
    char         cmd[128], reply[64], num[16];
    const char  *mode;

    next_pause = now + conf.pause_every;

    ms = conf.pause_max / 3 + random() % (conf.pause_max - conf.pause_max / 3
                                          + 1);
    mode = soak_stats.pauses % 3 == 2 ? "WRITE" : "ALL";

    if (redis_fd == -1) {
        redis_fd = soak_redis_open();
    }

    len = snprintf(num, sizeof(num), "%d", ms);
    len = snprintf(cmd, sizeof(cmd), "*4\r\n$6\r\nCLIENT\r\n$5\r\nPAUSE\r\n"
                   "$%d\r\n%s\r\n$%zu\r\n%s\r\n", len, num, strlen(mode),
                   mode);

    n = -1;
    if (redis_fd != -1 && send(redis_fd, cmd, len, MSG_NOSIGNAL) == len) {
        n = recv(redis_fd, reply, sizeof(reply) - 1, 0);
    }

    if (n < 3 || memcmp(reply, "+OK", 3) != 0) {
        soak_stats.pause_errors++;
        if (redis_fd != -1) {
            close(redis_fd);
            redis_fd = -1;
        }
        return;
    }

    now = soak_now();
    pausing = 1;
    pause_start = now;
    pause_end = now + ms;
    pause_waiters = SOAK_WAITERS;
    pause_churn = 0;
    soak_stats.pauses++;
    soak_stats.pause_ms += ms;
}


static void
soak_schedule(int64_t now)
{
    int      n;
    int64_t  window, allowed;

    tokens += (now - tokens_at) * conf.rate / 1000.0;
    tokens_at = now;
    if (tokens > conf.rate / 20.0 + 1) {
        tokens = conf.rate / 20.0 + 1;     /* at most 50 ms of burst */
    }

    if (now >= next_cas && soak_start(SOAK_CAS, 0, SOAK_PLAIN)) {
        next_cas = now + 250;
    }

    if (!soak_have_ticket()) {
        return;
    }

    if (now >= next_pause) {
        soak_pause(now);
    }

    /* while Redis is paused: waiters first, then the churn, spread out */
    if (pausing && now < pause_end - 50) {
        while (pause_waiters > 0
               && (pause_waiters % 4 == 0
                   ? soak_start(SOAK_ABORT, 0, SOAK_LEAVE_WAITING)
                   : soak_start(pause_waiters & 1 ? SOAK_QUERY : SOAK_VOTE,
                                0, SOAK_PLAIN)))
        {
            pause_waiters--;
        }

        window = pause_end - 50 - pause_start;
        allowed = conf.churn * (now - pause_start + 1) / (window > 0 ? window
                                                                     : 1);
        while (pause_churn < allowed && pause_churn < conf.churn
               && soak_start(SOAK_CHURN, 0, SOAK_PLAIN))
        {
            pause_churn++;
            soak_stats.churn_in_pause++;
        }

    } else {
        pausing = 0;
    }

    while (tokens >= 1) {
        n = soak_background();
        if (n == 0) {
            break;
        }
        tokens -= n;
    }
}


static void
soak_summary(void)
{
    int       k, o;
    uint64_t  fails[SOAK_NOUTCOMES], total, sent;

    memset(fails, 0, sizeof(fails));
    sent = 0;

    printf("soak: requests by kind       sent       ok rejected "
           "unavail  aborted   failed\n");

    for (k = 0; k < SOAK_NKINDS; k++) {
        total = 0;
        for (o = SOAK_NGOOD; o < SOAK_NOUTCOMES; o++) {
            total += soak_stats.outcome[k][o];
            fails[o] += soak_stats.outcome[k][o];
        }

        sent += soak_stats.sent[k];
        printf("soak:   %-18s %9llu %8llu %8llu %8llu %8llu %8llu\n",
               soak_kind_name(k), (unsigned long long) soak_stats.sent[k],
               (unsigned long long) soak_stats.outcome[k][SOAK_OK],
               (unsigned long long) soak_stats.outcome[k][SOAK_REJECTED],
               (unsigned long long) soak_stats.outcome[k][SOAK_UNAVAILABLE],
               (unsigned long long) soak_stats.outcome[k][SOAK_ABORTED],
               (unsigned long long) total);
    }

    printf("soak: requests %llu in %d s (%.0f/s), %llu pipelined, "
           "%llu written slowly, %llu read slowly\n",
           (unsigned long long) sent, conf.seconds,
           (double) sent / conf.seconds,
           (unsigned long long) soak_stats.pipelined,
           (unsigned long long) soak_stats.slow,
           (unsigned long long) soak_stats.slow_read);
    printf("soak: redis paused %llu times, %llu ms in all (%llu failed); "
           "%llu distinct documents sent during the pauses\n",
           (unsigned long long) soak_stats.pauses,
           (unsigned long long) soak_stats.pause_ms,
           (unsigned long long) soak_stats.pause_errors,
           (unsigned long long) soak_stats.churn_in_pause);
    printf("soak: name-votes acknowledged %llu; connect errors %llu; "
           "pipelined requests cut by Connection: close %llu\n",
           (unsigned long long) soak_stats.accepted_names,
           (unsigned long long) soak_stats.connect_errors,
           (unsigned long long) soak_stats.pipeline_cut);
    printf("soak: GraphQL errors by code:");
    for (k = 0; k < SOAK_CODES && soak_stats.code[k][0] != '\0'; k++) {
        printf(" %s %llu", soak_stats.code[k],
               (unsigned long long) soak_stats.code_count[k]);
    }
    printf("%s\n", k == 0 ? " none" : "");

    printf("soak: failures %llu:", (unsigned long long) soak_failures);
    for (o = SOAK_NGOOD; o < SOAK_NOUTCOMES; o++) {
        printf(" %s %llu", soak_outcome_name(o),
               (unsigned long long) fails[o]);
    }
    printf(", stray bytes %llu\n", (unsigned long long) soak_stray);

    if (soak_first_failure >= 0) {
        printf("soak: first failure after %.1f s\n",
               soak_first_failure / 1000.0);
    }
}


int
main(int argc, char **argv)
{
    int                 i, n, epfd, stopping;
    char                path[4096];
    int64_t             now, end, report, stop_at;
    struct epoll_event  evs[256];

    soak_options(argc, argv);
    srandom(getpid() ^ time(NULL));
    soak_kind_init(conf.tag, conf.names);

    snprintf(path, sizeof(path), "%s/failures.log", conf.out);
    soak_log = fopen(path, "w");
    if (soak_log == NULL) {
        fprintf(stderr, "cast-soak: %s: %s\n", path, strerror(errno));
        return 2;
    }

    epfd = epoll_create1(0);
    soak_conn_init(epfd, conf.port, conf.conns);

    soak_started = soak_now();
    end = soak_started + conf.seconds * 1000LL;
    next_pause = soak_started + conf.pause_every;
    next_cas = soak_started;
    tokens_at = soak_started;
    report = soak_started + 30000;
    stopping = 0;
    stop_at = 0;

    for ( ;; ) {
        now = soak_now();

        if (!stopping && now >= end) {
            stopping = 1;
            stop_at = now;
        }

        if (stopping && (soak_conn_busy() == 0
                         || now > stop_at + SOAK_TIMEOUT_MS + 2000))
        {
            break;
        }

        if (!stopping) {
            soak_schedule(now);
        }

        soak_conn_timers(now);

        n = epoll_wait(epfd, evs, 256, 2);
        for (i = 0; i < n; i++) {
            soak_conn_event(evs[i].data.ptr, evs[i].events);
        }

        if (now >= report) {
            report = now + 30000;
            printf("soak: %lld s: %llu failures, %llu name-votes "
                   "acknowledged, %llu pauses\n",
                   (long long) (now - soak_started) / 1000,
                   (unsigned long long) soak_failures,
                   (unsigned long long) soak_stats.accepted_names,
                   (unsigned long long) soak_stats.pauses);
            fflush(stdout);
        }
    }

    snprintf(path, sizeof(path), "%s/ledger.tsv", conf.out);
    if (soak_ledger_write(path) != 0) {
        fprintf(stderr, "cast-soak: %s: %s\n", path, strerror(errno));
        return 2;
    }

    fclose(soak_log);
    soak_summary();

    return soak_failures > 0 ? 1 : 0;
}
