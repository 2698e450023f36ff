#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cast_log.h"
#include "cast_redis.h"
#include "cast_time.h"


/*
 * What a reply may hold as hiredis holds it: some 48 bytes an object
 * (sizeof(redisReply)), a string's bytes and an array's slots (8 each)
 * besides, and the bytes read but not yet made into one.  A Sentinel's
 * address: an array of two short strings, some 200 bytes.  A link's, the
 * daemons' replies: a SCAN of 1000 fields and values (cast-admin
 * check), some 230 KB, a ROLE, an FCALL's; cast-relay's XREAD of
 * batch_max outbox entries is larger (cast_redis_reply_max()).
 */
#define CAST_REDIS_SENTINEL_MAX       4096
#define CAST_REDIS_REPLY_MAX          (16 * 1024 * 1024)


/* what a reader takes of a reply (cast_redis_read()) */
typedef struct {
    size_t       max;          /* bytes, as hiredis holds them */
    size_t       held;         /*   of the reply in progress */
    int          refused;      /* set when it held more */
    const char  *log;          /* logged as, or NULL: the caller says it */
} cast_redis_bound_t;


static int cast_redis_parse_tcp(const char *p, cast_redis_url_t *u,
    char *err, size_t errlen);
static int cast_redis_parse_unix(const char *p, cast_redis_url_t *u,
    char *err, size_t errlen);
static int cast_redis_copy(char *dst, size_t size, const char *src,
    size_t len);
static int cast_redis_number(const char *s, size_t len, int max);
static int cast_redis_setup(redisContext *c, const cast_redis_url_t *u,
    char *err, size_t errlen);
static redisContext *cast_redis_connect_url(cast_redis_url_t *u,
    int timeout_ms, char *err, size_t errlen);
static int cast_redis_sentinels_name(const char *sentinels,
    const char *master_name, int timeout_ms, int64_t deadline,
    cast_redis_url_t *u, char *err, size_t errlen);
static int cast_redis_ask_sentinel(const char *addr, size_t len,
    const char *master_name, int timeout_ms, cast_redis_url_t *u,
    char *err, size_t errlen);
static redisReply *cast_redis_sentinel_reply(redisContext *c,
    const char *master_name, int64_t deadline, const char **why);
static redisReply *cast_redis_exchange(redisContext *c,
    cast_redis_bound_t *b, int64_t deadline);
static redisReply *cast_redis_read(redisContext *c, cast_redis_bound_t *b,
    int64_t deadline);
static void cast_redis_fail(redisContext *c, int type, const char *why);
static int64_t cast_redis_deadline(redisContext *c);
static int cast_redis_take(const redisReadTask *task, size_t size);
static void *cast_redis_string(const redisReadTask *task, char *str,
    size_t len);
static void *cast_redis_array(const redisReadTask *task, int elements);
static void *cast_redis_integer(const redisReadTask *task, long long value);
static void *cast_redis_nil(const redisReadTask *task);
static int cast_redis_command_ok(redisContext *c, const char *what,
    redisReply *r, char *err, size_t errlen);
static void cast_redis_down(cast_redis_link_t *l, int64_t now,
    const char *why);


/* hiredis's reply functions, and the same with replies bounded */
static redisReplyObjectFunctions  *cast_redis_reply_fn;
static redisReplyObjectFunctions   cast_redis_bounded_fn;

/* a link's reply, at most (cast_redis_reply_max()) */
static size_t  cast_redis_link_max = CAST_REDIS_REPLY_MAX;


void
cast_redis_reply_max(size_t max)
{
    if (max > cast_redis_link_max) {
        cast_redis_link_max = max;
    }
}


redisReply *
cast_redis_command(redisContext *c, const char *fmt, ...)
{
    va_list      ap;
    redisReply  *r;

    va_start(ap, fmt);
    r = cast_redis_vcommand(c, fmt, ap);
    va_end(ap);

    return r;
}


redisReply *
cast_redis_vcommand(redisContext *c, const char *fmt, va_list ap)
{
    cast_redis_bound_t  b = { cast_redis_link_max, 0, 0, "redis" };

    if (redisvAppendCommand(c, fmt, ap) != REDIS_OK) {
        return NULL;
    }

    return cast_redis_exchange(c, &b, cast_redis_deadline(c));
}


redisReply *
cast_redis_command_argv(redisContext *c, int argc, const char **argv,
    const size_t *argvlen)
{
    cast_redis_bound_t  b = { cast_redis_link_max, 0, 0, "redis" };

    if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK) {
        return NULL;
    }

    return cast_redis_exchange(c, &b, cast_redis_deadline(c));
}


void
cast_redis_init(cast_redis_link_t *l, int64_t backoff_min,
    int64_t backoff_max, cast_redis_setup_pt setup, void *data)
{
    l->backoff_min = backoff_min;
    l->backoff_max = backoff_max;
    l->setup = setup;
    l->data = data;
}


int
cast_redis_up(cast_redis_link_t *l, int64_t now)
{
    char  err[512];

    if (l->ctx != NULL) {
        return 0;
    }

    if (now < l->retry_at) {
        return -1;
    }

    l->ctx = cast_redis_connect_primary(l->url, l->sentinels,
                                        l->master_name, (int) l->timeout_ms,
                                        err, sizeof(err));

    if (l->ctx == NULL
        || (l->setup != NULL
            && l->setup(l->ctx, l->data, err, sizeof(err)) != 0))
    {
        if (l->ctx != NULL) {
            redisFree(l->ctx);
            l->ctx = NULL;
        }

        cast_redis_down(l, now, err);
        return -1;
    }

    cast_log(CAST_LOG_INFO, "redis_up", "connected to %s:%d",
             l->ctx->tcp.host ? l->ctx->tcp.host : l->url, l->ctx->tcp.port);
    l->backoff_ms = 0;

    return 0;
}


void
cast_redis_lost(cast_redis_link_t *l, int64_t now, const char *why)
{
    /* why may be the context's errstr: logged before the context goes */
    cast_redis_down(l, now, why);

    redisFree(l->ctx);
    l->ctx = NULL;
}


void
cast_redis_close(cast_redis_link_t *l)
{
    if (l->ctx != NULL) {
        redisFree(l->ctx);
        l->ctx = NULL;
    }
}


/* A failed attempt, or a lost connection (l->ctx still set) */

static void
cast_redis_down(cast_redis_link_t *l, int64_t now, const char *why)
{
    l->errors++;

    /* one line per outage, not one per attempt */
    cast_log((l->ctx != NULL || l->backoff_ms == 0) ? CAST_LOG_WARN
                                                    : CAST_LOG_DEBUG,
             "redis_down", "%s; retrying with backoff", why);

    l->backoff_ms = (l->backoff_ms == 0) ? l->backoff_min
                                         : 2 * l->backoff_ms;

    if (l->backoff_ms > l->backoff_max) {
        l->backoff_ms = l->backoff_max;
    }

    l->retry_at = now + l->backoff_ms;
}


int
cast_redis_parse_url(const char *url, cast_redis_url_t *u, char *err,
    size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->port = 6379;

    if (strncmp(url, "redis://", 8) == 0) {
        return cast_redis_parse_tcp(url + 8, u, err, errlen);
    }

    if (strncmp(url, "unix://", 7) == 0) {
        u->port = 0;
        return cast_redis_parse_unix(url + 7, u, err, errlen);
    }

    snprintf(err, errlen, "redis url \"%.128s\": expected redis:// or "
             "unix://", url);
    return -1;
}


redisContext *
cast_redis_connect(const char *url, int timeout_ms, char *err, size_t errlen)
{
    cast_redis_url_t  u;

    if (cast_redis_parse_url(url, &u, err, errlen) != 0) {
        return NULL;
    }

    return cast_redis_connect_url(&u, timeout_ms, err, errlen);
}


redisContext *
cast_redis_connect_primary(const char *url, const char *sentinels,
    const char *master_name, int timeout_ms, char *err, size_t errlen)
{
    redisReply        *r;
    redisContext      *c;
    cast_redis_url_t   u;

    if (sentinels == NULL || sentinels[0] == '\0') {
        return cast_redis_connect(url, timeout_ms, err, errlen);
    }

    if (cast_redis_parse_url(url, &u, err, errlen) != 0
        || cast_redis_sentinels_name(sentinels, master_name, timeout_ms, 0,
                                     &u, err, errlen)
           != 0)
    {
        return NULL;
    }

    c = cast_redis_connect_url(&u, timeout_ms, err, errlen);
    if (c == NULL) {
        return NULL;
    }

    /* what a Sentinel names may have just been demoted: it must say so */
    r = cast_redis_command(c, "ROLE");

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0
        || r->element[0]->type != REDIS_REPLY_STRING
        || strcmp(r->element[0]->str, "master") != 0)
    {
        snprintf(err, errlen, "redis %s:%d is not the primary (ROLE)",
                 u.host, u.port);
        if (r != NULL) {
            freeReplyObject(r);
        }
        redisFree(c);
        return NULL;
    }

    freeReplyObject(r);

    return c;
}


/*
 * The primary the first Sentinel that answers names, into u: 0, or -1.
 * Each is given timeout_ms, and with a deadline (not 0) all of them end
 * there.
 */

static int
cast_redis_sentinels_name(const char *sentinels, const char *master_name,
    int timeout_ms, int64_t deadline, cast_redis_url_t *u, char *err,
    size_t errlen)
{
    int          ms;
    size_t       len;
    int64_t      left;
    const char  *p;

    snprintf(err, errlen, "redis_sentinels: no sentinel listed");

    for (p = sentinels; *p != '\0'; p += len) {
        p += strspn(p, " ,");
        len = strcspn(p, " ,");

        if (len == 0) {
            break;
        }

        ms = timeout_ms;

        if (deadline != 0) {
            left = deadline - cast_mono_ms();

            if (left <= 0) {
                snprintf(err, errlen, "redis_sentinels: none answered in "
                         "%d ms", timeout_ms);
                break;
            }

            if (left < ms) {
                ms = (int) left;
            }
        }

        if (cast_redis_ask_sentinel(p, len, master_name, ms, u, err, errlen)
            == 0)
        {
            return 0;
        }
    }

    return -1;
}


/*
 * A write refused by a Redis that is no longer the primary.  READONLY: it
 * is a replica now.  NOREPLICAS (min-replicas-to-write): it may be a
 * primary the Sentinels replaced while it kept running (a manual failover,
 * or one after it stalled past down-after), which they turn into a
 * replica only some seconds later; until then it refuses every write so,
 * and the link would stay on it.  It is left when the Sentinels name
 * another address; a primary merely short of replicas is kept.  They are
 * asked within one timeout in all, not one each: a primary short of
 * replicas refuses every write, and the loop must get back to its next
 * attempt, which may succeed.  For the same reason they are asked at most
 * once per timeout, counted from the end of the last ask (each a fresh
 * connection to each, which a loop writing often would make at every
 * write), and that none told is logged when it starts (a warning, with
 * why) and when it ends, each time in between at debug level only.
 */

int
cast_redis_demoted(cast_redis_link_t *l, const redisReply *r)
{
    int               rc;
    char              err[512];
    int64_t           now;
    cast_redis_url_t  u;

    if (cast_redis_readonly(r)) {
        return 1;
    }

    if (r == NULL || r->type != REDIS_REPLY_ERROR
        || strncmp(r->str, "NOREPLICAS ", 11) != 0
        || l->sentinels == NULL || l->sentinels[0] == '\0'
        || l->ctx == NULL || l->ctx->connection_type != REDIS_CONN_TCP
        || cast_redis_parse_url(l->url, &u, err, sizeof(err)) != 0)
    {
        return 0;
    }

    now = cast_mono_ms();

    if (l->asked_at != 0 && now - l->asked_at < l->timeout_ms) {
        return 0;
    }

    rc = cast_redis_sentinels_name(l->sentinels, l->master_name,
                                   (int) l->timeout_ms, now + l->timeout_ms,
                                   &u, err, sizeof(err));

    l->asked_at = cast_mono_ms();

    if (rc != 0) {
        /* the Redis is kept: it may be a primary short of replicas */
        cast_log(l->untold ? CAST_LOG_DEBUG : CAST_LOG_WARN, "sentinel",
                 "%s", err);
        l->untold = 1;
        return 0;
    }

    if (l->untold) {
        cast_log(CAST_LOG_INFO, "sentinel", "a sentinel names the primary "
                 "again: %s:%d", u.host, u.port);
        l->untold = 0;
    }

    return u.port != l->ctx->tcp.port
           || strcmp(u.host, l->ctx->tcp.host) != 0;
}


/* SENTINEL GET-MASTER-ADDR-BY-NAME of the Sentinel at addr; 0 sets u */

static int
cast_redis_ask_sentinel(const char *addr, size_t len, const char *master_name,
    int timeout_ms, cast_redis_url_t *u, char *err, size_t errlen)
{
    int             port, named, rc;
    char            host[CAST_REDIS_HOST_MAX];
    int64_t         deadline;
    const char     *colon, *why;
    redisReply     *r;
    redisContext   *c;
    struct timeval  tv;

    colon = memchr(addr, ':', len);

    if (colon == NULL || (size_t) (colon - addr) >= sizeof(host)
        || (port = cast_redis_number(colon + 1, addr + len - colon - 1,
                                     65535)) < 1)
    {
        snprintf(err, errlen, "redis_sentinels: \"%.*s\" is not host:port",
                 (int) len, addr);
        return -1;
    }

    memcpy(host, addr, colon - addr);
    host[colon - addr] = '\0';

    /* the connect and the whole answer */
    deadline = cast_mono_ms() + timeout_ms;

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;

    c = redisConnectWithTimeout(host, port, tv);

    if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "sentinel %s:%d: %s", host, port,
                 c ? c->errstr : "out of memory");
        if (c != NULL) {
            redisFree(c);
        }
        return -1;
    }

    why = "no address";
    r = cast_redis_sentinel_reply(c, master_name, deadline, &why);

    rc = -1;

    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2
        && r->element[0]->type == REDIS_REPLY_STRING
        && r->element[1]->type == REDIS_REPLY_STRING
        && cast_redis_copy(u->host, sizeof(u->host), r->element[0]->str,
                           r->element[0]->len) == 0
        && (named = cast_redis_number(r->element[1]->str,
                                      r->element[1]->len, 65535)) > 0)
    {
        u->port = named;
        rc = 0;

    } else {
        snprintf(err, errlen, "sentinel %s:%d does not know the primary "
                 "\"%s\": %s", host, port, master_name,
                 (r != NULL && r->type == REDIS_REPLY_ERROR) ? r->str : why);
    }

    if (r != NULL) {
        freeReplyObject(r);
    }

    redisFree(c);

    return rc;
}


/*
 * SENTINEL get-master-addr-by-name, the whole answer by the deadline and
 * within CAST_REDIS_SENTINEL_MAX as hiredis holds it (cast_redis_read()).
 * NULL with *why set.
 */

static redisReply *
cast_redis_sentinel_reply(redisContext *c, const char *master_name,
    int64_t deadline, const char **why)
{
    redisReply          *r;
    cast_redis_bound_t   b = { CAST_REDIS_SENTINEL_MAX, 0, 0, NULL };

    if (redisAppendCommand(c, "SENTINEL get-master-addr-by-name %s",
                           master_name)
        != REDIS_OK)
    {
        *why = c->errstr;
        return NULL;
    }

    r = cast_redis_exchange(c, &b, deadline);

    if (r == NULL) {
        *why = c->errstr;
    }

    return r;
}


/* the command appended to c written, and its reply read */

static redisReply *
cast_redis_exchange(redisContext *c, cast_redis_bound_t *b, int64_t deadline)
{
    int  done;

    do {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            return NULL;
        }
    } while (!done);

    return cast_redis_read(c, b, deadline);
}


/*
 * The next reply on c, whole by the deadline (0: none) and within b's
 * bound, the one way the daemons read Redis.  hiredis's blocking read
 * bounded each read() only (the socket's timeout): a Redis or Sentinel
 * that sent a reply a byte at a time held the daemon's loop for as long
 * as it went on; and it kept a bulk string's bytes until the last had
 * come ("$2000000000", then streamed, grew the daemon by what it sent),
 * allocated an array's slots as it read the header ("*2000000000", 13
 * bytes, took 16 GB of address space).  The objects are counted as
 * hiredis makes them, and refused past the bound (a reader error); the
 * bytes read and not yet made into one before each read, which then
 * fails, so a reply holds at most its bound and one read (16 KB).  NULL
 * with c->err and c->errstr set, as hiredis's own errors: the caller
 * drops the context.  hiredis 0.14 is assumed: the reader's fields (len,
 * err, errstr, privdata handed to the reply functions); hiredis 1.x
 * has RESP3's createDouble and createBool besides (not bounded here).
 */

static redisReply *
cast_redis_read(redisContext *c, cast_redis_bound_t *b, int64_t deadline)
{
    int            n;
    char           buf[16384];
    void          *reply;
    ssize_t        got;
    int64_t        left;
    struct pollfd  pfd;

    if (cast_redis_reply_fn == NULL) {
        cast_redis_reply_fn = c->reader->fn;
        cast_redis_bounded_fn = *cast_redis_reply_fn;
        cast_redis_bounded_fn.createString = cast_redis_string;
        cast_redis_bounded_fn.createArray = cast_redis_array;
        cast_redis_bounded_fn.createInteger = cast_redis_integer;
        cast_redis_bounded_fn.createNil = cast_redis_nil;
    }

    /* b lives as long as this call: the reader points to it meanwhile */
    c->reader->fn = &cast_redis_bounded_fn;
    c->reader->privdata = b;

    b->held = 0;
    b->refused = 0;

    for ( ;; ) {
        reply = NULL;

        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            if (!b->refused) {
                cast_redis_fail(c, c->reader->err, c->reader->errstr);
            }
            break;
        }

        if (reply != NULL) {
            break;
        }

        if (b->held > b->max || c->reader->len > b->max - b->held) {
            b->refused = 1;
            break;
        }

        left = (deadline != 0) ? deadline - cast_mono_ms() : -1;

        if (deadline != 0 && left <= 0) {
            cast_redis_fail(c, REDIS_ERR_IO, "no whole reply in time");
            break;
        }

        pfd.fd = c->fd;
        pfd.events = POLLIN;

        n = poll(&pfd, 1, (int) left);

        if (n == 0) {
            cast_redis_fail(c, REDIS_ERR_IO, "no whole reply in time");
            break;
        }

        got = (n > 0) ? read(c->fd, buf, sizeof(buf)) : -1;

        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }

        if (got <= 0) {
            cast_redis_fail(c, got ? REDIS_ERR_IO : REDIS_ERR_EOF,
                            got ? strerror(errno)
                                : "Server closed the connection");
            break;
        }

        if (redisReaderFeed(c->reader, buf, got) != REDIS_OK) {
            cast_redis_fail(c, REDIS_ERR_OOM, "Out of memory");
            break;
        }
    }

    c->reader->privdata = NULL;

    if (b->refused) {
        cast_redis_fail(c, REDIS_ERR_PROTOCOL, "");
        snprintf(c->errstr, sizeof(c->errstr), "a reply of more than %zu "
                 "bytes", b->max);

        if (b->log != NULL && c->connection_type == REDIS_CONN_UNIX) {
            cast_log(CAST_LOG_ERR, b->log, "redis unix:%s sent %s: refused",
                     c->unix_sock.path, c->errstr);

        } else if (b->log != NULL) {
            cast_log(CAST_LOG_ERR, b->log, "redis %s:%d sent %s: refused",
                     c->tcp.host, c->tcp.port, c->errstr);
        }
    }

    return reply;
}


/* c fails as hiredis's own errors do: a context to drop */

static void
cast_redis_fail(redisContext *c, int type, const char *why)
{
    c->err = type;
    snprintf(c->errstr, sizeof(c->errstr), "%s", why);
}


/* a reply's deadline: the socket's timeout (redisSetTimeout()) from now */

static int64_t
cast_redis_deadline(redisContext *c)
{
    socklen_t       len;
    struct timeval  tv;

    len = sizeof(tv);

    if (getsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) != 0
        || (tv.tv_sec == 0 && tv.tv_usec == 0))
    {
        return 0;
    }

    return cast_mono_ms() + (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


/*
 * Whether the reply being read may hold size more bytes: 1, and it holds
 * them; 0, and the reply function returns NULL, a reader error.  A reply
 * read outside cast_redis_read() has no bound: refused.
 */

static int
cast_redis_take(const redisReadTask *task, size_t size)
{
    cast_redis_bound_t  *b = task->privdata;

    if (b == NULL) {
        return 0;
    }

    if (b->held > b->max || size > b->max - b->held) {
        b->refused = 1;
        return 0;
    }

    b->held += size;

    return 1;
}


static void *
cast_redis_string(const redisReadTask *task, char *str, size_t len)
{
    if (!cast_redis_take(task, sizeof(redisReply) + len + 1)) {
        return NULL;
    }

    return cast_redis_reply_fn->createString(task, str, len);
}


/* the slots are allocated as the header is read */

static void *
cast_redis_array(const redisReadTask *task, int elements)
{
    cast_redis_bound_t  *b = task->privdata;

    if (b != NULL
        && (elements < 0
            || (size_t) elements > b->max / sizeof(redisReply *)))
    {
        b->refused = 1;
        return NULL;
    }

    if (!cast_redis_take(task, sizeof(redisReply)
                               + (size_t) elements * sizeof(redisReply *)))
    {
        return NULL;
    }

    return cast_redis_reply_fn->createArray(task, elements);
}


static void *
cast_redis_integer(const redisReadTask *task, long long value)
{
    if (!cast_redis_take(task, sizeof(redisReply))) {
        return NULL;
    }

    return cast_redis_reply_fn->createInteger(task, value);
}


static void *
cast_redis_nil(const redisReadTask *task)
{
    if (!cast_redis_take(task, sizeof(redisReply))) {
        return NULL;
    }

    return cast_redis_reply_fn->createNil(task);
}


int
cast_redis_readonly(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR
           && strncmp(r->str, "READONLY ", 9) == 0;
}


static redisContext *
cast_redis_connect_url(cast_redis_url_t *u, int timeout_ms, char *err,
    size_t errlen)
{
    redisContext      *c;
    struct timeval     tv;

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;

    if (u->port != 0) {
        c = redisConnectWithTimeout(u->host, u->port, tv);

    } else {
        c = redisConnectUnixWithTimeout(u->host, tv);
    }

    if (c == NULL) {
        snprintf(err, errlen, "redis %s: out of memory", u->host);
        return NULL;
    }

    if (c->err) {
        snprintf(err, errlen, "redis %s:%d: %s", u->host, u->port, c->errstr);
        redisFree(c);
        return NULL;
    }

    if (redisSetTimeout(c, tv) != REDIS_OK
        || cast_redis_setup(c, u, err, errlen) != 0)
    {
        if (c->err) {
            snprintf(err, errlen, "redis %s:%d: %s", u->host, u->port,
                     c->errstr);
        }

        redisFree(c);
        return NULL;
    }

    return c;
}


int
cast_redis_int64(const redisReply *r, int64_t *v)
{
    char  *end;

    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0) {
        return -1;
    }

    *v = strtoll(r->str, &end, 10);

    return *end == '\0' ? 0 : -1;
}


/* [[user]:password@]host[:port][/db] */

static int
cast_redis_parse_tcp(const char *p, cast_redis_url_t *u, char *err,
    size_t errlen)
{
    const char  *at, *colon, *host, *slash, *port;

    at = strrchr(p, '@');

    if (at != NULL) {
        colon = memchr(p, ':', at - p);
        if (colon == NULL) {
            snprintf(err, errlen, "redis url: expected [user]:password@");
            return -1;
        }

        if (cast_redis_copy(u->user, sizeof(u->user), p, colon - p) != 0
            || cast_redis_copy(u->password, sizeof(u->password), colon + 1,
                               at - colon - 1) != 0)
        {
            snprintf(err, errlen, "redis url: credentials too long");
            return -1;
        }

        p = at + 1;
    }

    host = p;
    slash = strchr(host, '/');
    if (slash == NULL) {
        slash = host + strlen(host);
    }

    port = memchr(host, ':', slash - host);
    if (port == NULL) {
        port = slash;

    } else {
        u->port = cast_redis_number(port + 1, slash - port - 1, 65535);
        if (u->port <= 0) {
            snprintf(err, errlen, "redis url: bad port");
            return -1;
        }
    }

    if (port == host
        || cast_redis_copy(u->host, sizeof(u->host), host, port - host) != 0)
    {
        snprintf(err, errlen, "redis url: bad host");
        return -1;
    }

    if (*slash == '/' && slash[1] != '\0') {
        u->db = cast_redis_number(slash + 1, strlen(slash + 1), 1 << 20);
        if (u->db < 0) {
            snprintf(err, errlen, "redis url: bad database number");
            return -1;
        }
    }

    return 0;
}


/* /path[?db=N][&password=P] */

static int
cast_redis_parse_unix(const char *p, cast_redis_url_t *u, char *err,
    size_t errlen)
{
    size_t       len;
    const char  *q, *v, *end;

    q = strchr(p, '?');
    len = (q != NULL) ? (size_t) (q - p) : strlen(p);

    if (len == 0 || p[0] != '/'
        || cast_redis_copy(u->host, sizeof(u->host), p, len) != 0)
    {
        snprintf(err, errlen, "redis url: bad socket path");
        return -1;
    }

    while (q != NULL) {
        v = q + 1;
        q = strchr(v, '&');
        end = (q != NULL) ? q : v + strlen(v);

        if (strncmp(v, "db=", 3) == 0) {
            u->db = cast_redis_number(v + 3, end - v - 3, 1 << 20);
            if (u->db < 0) {
                snprintf(err, errlen, "redis url: bad database number");
                return -1;
            }

        } else if (strncmp(v, "password=", 9) == 0) {
            if (cast_redis_copy(u->password, sizeof(u->password), v + 9,
                                end - v - 9) != 0)
            {
                snprintf(err, errlen, "redis url: password too long");
                return -1;
            }

        } else {
            snprintf(err, errlen, "redis url: unknown parameter \"%.*s\"",
                     (int) (end - v), v);
            return -1;
        }
    }

    return 0;
}


static int
cast_redis_copy(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size) {
        return -1;
    }

    memcpy(dst, src, len);
    dst[len] = '\0';

    return 0;
}


/* A decimal number 0..max of exactly len digits, or -1 */

static int
cast_redis_number(const char *s, size_t len, int max)
{
    int     n;
    size_t  i;

    if (len == 0 || len > 9) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    return (n <= max) ? n : -1;
}


static int
cast_redis_setup(redisContext *c, const cast_redis_url_t *u, char *err,
    size_t errlen)
{
    redisReply  *r;

    if (u->password[0] != '\0') {
        if (u->user[0] != '\0') {
            r = cast_redis_command(c, "AUTH %s %s", u->user,
                                   u->password);

        } else {
            r = cast_redis_command(c, "AUTH %s", u->password);
        }

        if (cast_redis_command_ok(c, "AUTH", r, err, errlen) != 0) {
            return -1;
        }
    }

    if (u->db != 0) {
        r = cast_redis_command(c, "SELECT %d", u->db);

        if (cast_redis_command_ok(c, "SELECT", r, err, errlen) != 0) {
            return -1;
        }
    }

    return 0;
}


/* Frees the reply; 0 when it was not an error */

static int
cast_redis_command_ok(redisContext *c, const char *what, redisReply *r,
    char *err, size_t errlen)
{
    if (r == NULL) {
        snprintf(err, errlen, "redis %s: %s", what, c->errstr);
        return -1;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis %s: %s", what, r->str);
        freeReplyObject(r);
        return -1;
    }

    freeReplyObject(r);

    return 0;
}
