/*
 * sse_floor: what the kernel alone costs to fan a small event out to many
 * loopback TCP streams, the floor under bench/sse.sh's figures (make
 * bench).  No HTTP, no nginx, no parsing: the least any server and any
 * client on this machine could spend per event.
 *
 *   sse_floor -n STREAMS -s SECONDS [-b BYTES] [-i INTERVAL_MS]
 *
 * Forks a reader, which opens STREAMS loopback TCP connections to the
 * writer (this process; TCP_NODELAY on both ends, as the SSE server and
 * sse_load have them, one end of each stream per process).  Once they are
 * all up it prints "connected STREAMS" on stdout, then the writer sends
 * one BYTES-byte message (100) to every stream each INTERVAL_MS (100, a
 * fraction allowed) for SECONDS, one send() per stream, as a tick of the
 * server does, ticks on a fixed cadence (a late tick does not move the
 * next); the reader waits on one epoll set and read()s each stream with
 * a 64 kB buffer, as sse_load does, until every stream is closed.  Prints
 * one JSON object: the events sent and their rate, the CPU (user +
 * system, from getrusage) of each per event, the wall time of a tick's
 * sends, and the delay a vote would see (p50, p99, max in ms, over every
 * message read): a message carries when its tick and the one before
 * began, a vote's answer is taken at a random time between the two (the
 * tick after it is the first to see it), the delay ends when the
 * message's stream is read.
 */


#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define HIST_MS  10000


static int64_t
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static int64_t
cpu_us(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return (int64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000
           + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}


static int
nodelay(int fd)
{
    int  one = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}


/* a loopback listener on a port of the kernel's choice, its address in sa */
static int
listener(struct sockaddr_in *sa)
{
    int        ls;
    socklen_t  len;

    ls = socket(AF_INET, SOCK_STREAM, 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    len = sizeof(*sa);
    if (ls < 0 || bind(ls, (struct sockaddr *) sa, sizeof(*sa)) != 0
        || listen(ls, 4096) != 0
        || getsockname(ls, (struct sockaddr *) sa, &len) != 0)
    {
        perror("sse_floor: listen");
        return -1;
    }

    return ls;
}


/* the reader's ends: n connections to sa */
static int
connect_all(int n, int *r, struct sockaddr_in *sa)
{
    int  i;

    for (i = 0; i < n; i++) {
        r[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (r[i] < 0
            || connect(r[i], (struct sockaddr *) sa, sizeof(*sa)) != 0)
        {
            perror("sse_floor: connect");
            return -1;
        }

        nodelay(r[i]);
    }

    return 0;
}


/* the writer's ends: n connections accepted */
static int
accept_all(int ls, int n, int *w)
{
    int  i;

    for (i = 0; i < n; i++) {
        w[i] = accept(ls, NULL, NULL);
        if (w[i] < 0) {
            perror("sse_floor: accept");
            return -1;
        }

        nodelay(w[i]);
    }

    return 0;
}


/*
 * The delay of a vote in a message: the message carries when its tick and
 * the one before it began; a vote answered at a uniformly random time
 * between the two is what this tick carries, and its delay ends now.
 */

static void
delay(const char *p, int64_t now, uint32_t *hist, uint64_t *rnd)
{
    int64_t  tick[2], vote, ms;

    memcpy(tick, p, sizeof(tick));

    *rnd = *rnd * 6364136223846793005ULL + 1442695040888963407ULL;
    vote = tick[0] + (int64_t) ((*rnd >> 33) % (uint64_t)
                                (tick[1] - tick[0] + 1));

    ms = (now - vote) / 1000;
    hist[ms < 0 ? 0 : ms < HIST_MS ? ms : HIST_MS - 1]++;
}


/* p50, p99 and max of the histogram, in ms */

static void
percentiles(uint32_t *hist, int64_t *out)
{
    int64_t  i, n, seen;

    n = 0;
    for (i = 0; i < HIST_MS; i++) {
        n += hist[i];
    }

    out[0] = out[1] = out[2] = -1;
    seen = 0;

    for (i = 0; i < HIST_MS && n > 0; i++) {
        seen += hist[i];

        if (out[0] < 0 && seen * 2 >= n) {
            out[0] = i;
        }

        if (out[1] < 0 && seen * 100 >= n * 99) {
            out[1] = i;
        }

        if (hist[i]) {
            out[2] = i;
        }
    }
}


/*
 * Connects, says so on fd out, then reads until every stream is closed;
 * on fd out its CPU, the reads, the bytes and the delays' percentiles.
 */

static int
reader(int n, int *r, struct sockaddr_in *sa, size_t size, int out)
{
    int                  ep, i, k, open;
    char                 buf[65536];
    size_t               j;
    ssize_t              m;
    int64_t              res[6], now, *got;
    uint32_t            *hist;
    uint64_t             rnd;
    struct epoll_event   ev, evs[1024];

    got = calloc(n, sizeof(int64_t));
    hist = calloc(HIST_MS, sizeof(uint32_t));

    if (got == NULL || hist == NULL || connect_all(n, r, sa) != 0) {
        return 1;
    }

    ep = epoll_create1(0);

    for (i = 0; i < n; i++) {
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, r[i], &ev) != 0) {
            return 1;
        }
    }

    if (write(out, "", 1) != 1) {
        return 1;
    }

    memset(res, 0, sizeof(res));
    rnd = 1;
    open = n;
    res[0] = cpu_us();

    while (open > 0) {
        k = epoll_wait(ep, evs, 1024, 10000);
        if (k <= 0) {
            break;
        }

        for (i = 0; i < k; i++) {
            m = read(r[evs[i].data.u32], buf, sizeof(buf));
            if (m <= 0) {
                close(r[evs[i].data.u32]);
                open--;
                continue;
            }

            /* when this stream's read came, as sse_load times it */
            now = now_us();

            /* the messages that begin in this read */
            j = (size - got[evs[i].data.u32] % size) % size;
            for ( /* void */ ; size >= 16 && j + 16 <= (size_t) m; j += size)
            {
                delay(buf + j, now, hist, &rnd);
            }

            got[evs[i].data.u32] += m;
            res[1]++;
            res[2] += m;
        }
    }

    res[0] = cpu_us() - res[0];
    percentiles(hist, &res[3]);

    return write(out, res, sizeof(res)) == sizeof(res) && open == 0 ? 0 : 1;
}


/*
 * One send() of the message to each stream per tick, for seconds; the
 * message begins with when this tick and the one before began.
 */

static void
writer(int n, int *w, char *msg, int size, int64_t interval,
    int seconds, int64_t *ticks, int64_t *sends, int64_t *spent)
{
    int      i;
    int64_t  start, end, next, t, tick[2];

    start = now_us();
    end = start + (int64_t) seconds * 1000000;
    next = start;
    tick[1] = start - interval;

    while (next < end) {
        t = now_us();

        tick[0] = tick[1];
        tick[1] = t;
        if (size >= 16) {
            memcpy(msg, tick, sizeof(tick));
        }

        for (i = 0; i < n; i++) {
            if (send(w[i], msg, size, 0) == size) {
                (*sends)++;
            }
        }

        *spent += now_us() - t;
        (*ticks)++;

        /* a fixed cadence; a tick later than a whole interval resets it */
        next += interval;
        t = now_us();

        if (next > t) {
            usleep(next - t);

        } else if (t - next > interval) {
            next = t;
        }
    }
}


int
main(int argc, char **argv)
{
    int       n = 10000, seconds = 10, size = 100;
    int       opt, i, ls, fds[2], status, *w, *r;
    char      msg[4096], ready;
    double    interval_ms = 100;
    int64_t   cpu, wcpu, res[6], start, wall, spent, sends, ticks;
    pid_t     pid;
    struct rlimit       rl;
    struct sockaddr_in  sa;

    while ((opt = getopt(argc, argv, "n:s:b:i:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 's': seconds = atoi(optarg); break;
        case 'b': size = atoi(optarg); break;
        case 'i': interval_ms = atof(optarg); break;
        default:
            fprintf(stderr, "usage: sse_floor -n STREAMS -s SECONDS "
                    "[-b BYTES] [-i INTERVAL_MS]\n");
            return 2;
        }
    }

    if (n < 1 || seconds < 1 || size < 1 || size > (int) sizeof(msg)
        || !(interval_ms >= 1 && interval_ms <= 60000))
    {
        fprintf(stderr, "sse_floor: bad arguments\n");
        return 2;
    }

    /* each process holds one end of each stream */
    rl.rlim_cur = rl.rlim_max = (rlim_t) n + 64;
    w = calloc(n, sizeof(int));
    r = calloc(n, sizeof(int));

    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || w == NULL || r == NULL
        || (ls = listener(&sa)) < 0 || pipe(fds) != 0)
    {
        perror("sse_floor");
        return 1;
    }

    memset(msg, 'x', size);

    pid = fork();
    if (pid < 0) {
        perror("sse_floor: fork");
        return 1;
    }

    if (pid == 0) {
        close(ls);
        _exit(reader(n, r, &sa, size, fds[1]));
    }

    if (accept_all(ls, n, w) != 0
        || read(fds[0], &ready, 1) != 1)
    {
        kill(pid, SIGKILL);
        return 1;
    }

    close(ls);

    printf("connected %d\n", n);
    fflush(stdout);

    ticks = 0;
    spent = 0;
    sends = 0;
    cpu = cpu_us();
    start = now_us();

    writer(n, w, msg, size, (int64_t) (interval_ms * 1000), seconds,
           &ticks, &sends, &spent);

    wall = now_us() - start;
    wcpu = cpu_us() - cpu;

    for (i = 0; i < n; i++) {
        close(w[i]);
    }

    if (read(fds[0], res, sizeof(res)) != sizeof(res)) {
        memset(res, 0, sizeof(res));
        res[0] = -1;
    }

    waitpid(pid, &status, 0);

    printf("{\"streams\": %d, \"interval_ms\": %.1f, \"bytes\": %d, "
           "\"seconds\": %.2f, \"ticks\": %lld, \"events\": %lld, "
           "\"events_per_s\": %.0f, \"reads\": %lld, \"complete\": %s, "
           "\"writer_cpu_us_per_event\": %.2f, "
           "\"reader_cpu_us_per_event\": %.2f, "
           "\"fanout_ms_per_tick\": %.1f, "
           "\"delay_ms\": {\"p50\": %lld, \"p99\": %lld, \"max\": %lld}}\n",
           n, interval_ms, size, (double) wall / 1e6, (long long) ticks,
           (long long) sends, (double) sends * 1e6 / wall,
           (long long) res[1],
           WIFEXITED(status) && WEXITSTATUS(status) == 0
           && res[2] == sends * size ? "true" : "false",
           sends ? (double) wcpu / sends : 0.0,
           sends && res[0] >= 0 ? (double) res[0] / sends : 0.0,
           ticks ? (double) spent / ticks / 1000 : 0.0,
           (long long) res[3], (long long) res[4], (long long) res[5]);

    return 0;
}
