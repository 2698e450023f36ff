
/*
 * Copyright (C) CAST developers
 *
 * hiredis on nginx's event loop: pipelined connections to Redis, one per
 * worker for every command, and with cast_redis_min_replicas
 * NGX_HTTP_CAST_REDIS_VOTE_LINKS more for the vote batches alone.  A vote
 * batch's WAIT blocks its connection until the replicas acknowledge:
 * on connections of their own, the reads never wait behind it, and a vote
 * batch runs on the primary while another waits for the replicas.
 *
 * Each context is put on nginx's events by the adapter
 * (ngx_http_cast_hiredis.c): its read event is level-triggered, so a reply
 * hiredis only partly consumed is never stranded.  Commands are written
 * from a posted event at the end of the worker's round; only what the
 * socket did not take waits for a level-triggered write event.  A
 * connection's own life (its set-up, leaving, dropping, the backoff
 * before it is made again) is ngx_http_cast_redis_link.c's.
 *
 * With cast_redis_sentinel, the address comes from the Sentinels
 * (ngx_http_cast_sentinel.c) before each connect, one ask for every
 * connection waiting for it, and is checked with ROLE right after it: a
 * Redis that is not a primary is left at once.  While connected, the
 * Sentinels are asked again every second: a connection to another Redis
 * than the one they name is dropped; and a READONLY error means the
 * primary is no longer one: every connection is dropped.  Commands in
 * flight on a dropped connection answer with no reply, and it is made
 * again to the primary the Sentinels name.
 *
 * With cast_redis_replica_reads, one more connection goes to a replica
 * the Sentinels name (SENTINEL REPLICAS), and the reads the batch layer
 * sends through ngx_http_cast_redis_reader() go there while ROLE says it
 * is a replica linked to its primary: ROLE is asked again every second,
 * and the replica is left when it is not, when the primary moves (a
 * failover: it may be the primary now) or when it names the primary.  A
 * command goes only on the connection its caller chose: a read the
 * replica does not answer (its connection lost or dropped as stuck,
 * LOADING, MASTERDOWN, no function library yet) has its handler told so,
 * and the batch layer sends it again to the primary, so a replica down
 * never fails a read.  Nothing else ever goes to the replica.
 *
 * A reply may hold, as hiredis holds it (the adapter's bound: past it
 * the connection is dropped as lost), NGX_HTTP_CAST_REDIS_REPLY_BASE and
 * NGX_HTTP_CAST_REDIS_REPLY_RATIO bytes for each byte of the commands
 * sent on the connection and not yet answered; no batch has a largest
 * size (a round's votes make one), so the bound follows what was asked.
 * hiredis holds an object in some 48 bytes (sizeof(redisReply)), a
 * string's bytes and an array's slots (8 each) besides.  The replies that
 * grow with their command, for its fewest bytes: a vote's, a name and
 * its total for each name (14 bytes at least, "$1 a $1 1"), some 113
 * bytes and the name's (ratio 8); a query's, a count for each name (7
 * bytes, "$1 a"), 56 (ratio 8); a cas with client shares', a list of five
 * for each pair (14 bytes), some 460 with the ticket's id of 86 (ratio
 * 33).  Those that do not: a leaderboard of 1000 names of 64 bytes, some
 * 200 KB; the watch's, that and a count for each name, 270 KB; ROLE and
 * the set-up's, a few hundred bytes.  So 1 MB and 64 a byte: twice the
 * largest of each at least.
 *
 * The transport knows formatted commands, each with a reply handler and
 * its data, and nothing of what they carry: the handler is called once
 * with the reply, or with NULL when the connection is lost or freed.  It
 * calls only nginx, hiredis, the connections, their set-up, the
 * Sentinels, the metrics and the adapter (a reply's bound); it is called
 * by the batch layer (ngx_http_cast_batch.c, ngx_http_cast_batch_reply.c)
 * and the replicas' WAIT (ngx_http_cast_wait.c), which send commands
 * they write with ngx_http_cast_redis_bulk(), by a request's timeout and
 * the watch's tick (the stuck connection check), the probes (the
 * addresses) and the module's init and exit.
 */


#include "ngx_http_cast_module.h"


#define NGX_HTTP_CAST_WATCH          1000


typedef struct {
    ngx_http_cast_main_conf_t  *cmcf;
    ngx_log_t                  *log;
    ngx_http_cast_redis_link_t  links[NGX_HTTP_CAST_REDIS_ALL_LINKS];
    ngx_uint_t                  nlinks;       /* to the primary */
    ngx_event_t                 watch;        /* re-ask the Sentinels */
    ngx_str_t                   address;      /* the primary written to */
    u_char                      addr[NGX_HTTP_CAST_REDIS_ADDR_LEN];
    ngx_uint_t                  asking;       /* a Sentinel ask going on */
    ngx_uint_t                  picks;        /* replicas asked for */
    unsigned                    pending:1;    /* an ask found them busy */
    unsigned                    exiting:1;
} ngx_http_cast_redis_t;


static void ngx_http_cast_redis_connect(ngx_http_cast_redis_link_t *link);
static void ngx_http_cast_redis_ask(void);
static void ngx_http_cast_redis_connect_to(ngx_http_cast_redis_link_t *link,
    const char *ip, int port);
static void ngx_http_cast_redis_found(void *data, const char *ip, int port);
static void ngx_http_cast_redis_replica_found(void *data, const char *ip,
    int port);
static void ngx_http_cast_redis_primary(u_char *addr, size_t len);
static void ngx_http_cast_redis_watch(ngx_event_t *ev);
static void ngx_http_cast_redis_watch_replica(void);
static void ngx_http_cast_redis_reply(redisAsyncContext *ac, void *r,
    void *data);


static ngx_http_cast_redis_t  ngx_http_cast_redis;


ngx_int_t
ngx_http_cast_redis_init(ngx_cycle_t *cycle, ngx_http_cast_main_conf_t *cmcf)
{
    ngx_uint_t              i;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    rd->cmcf = cmcf;
    rd->log = cycle->log;
    rd->nlinks = cmcf->min_replicas ? NGX_HTTP_CAST_REDIS_LINKS : 1;

    rd->watch.handler = ngx_http_cast_redis_watch;
    rd->watch.log = cycle->log;
    rd->watch.data = rd;
    rd->watch.cancelable = 1;

    rd->address.data = rd->addr;

    for (i = 0; i < NGX_HTTP_CAST_REDIS_ALL_LINKS; i++) {
        ngx_http_cast_redis_link_init(&rd->links[i], cmcf, cycle->log,
                                      ngx_http_cast_redis_connect);
    }

    rd->links[NGX_HTTP_CAST_REDIS_REPLICA].replica = 1;
    rd->links[NGX_HTTP_CAST_REDIS_REPLICA].primary = &rd->address;

    for (i = 0; i < rd->nlinks; i++) {
        ngx_http_cast_redis_connect(&rd->links[i]);
    }

    if (cmcf->replica_reads) {
        ngx_http_cast_redis_connect(&rd->links[NGX_HTTP_CAST_REDIS_REPLICA]);
    }

    return NGX_OK;
}


void
ngx_http_cast_redis_exit(void)
{
    ngx_uint_t              i;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->cmcf == NULL) {
        return;
    }

    rd->exiting = 1;

    if (rd->watch.timer_set) {
        ngx_del_timer(&rd->watch);
    }

    for (i = 0; i < NGX_HTTP_CAST_REDIS_ALL_LINKS; i++) {
        ngx_http_cast_redis_link_close(&rd->links[i]);
    }
}


static void
ngx_http_cast_redis_connect(ngx_http_cast_redis_link_t *link)
{
    u_char                  ip[NGX_SOCKADDR_STRLEN];
    size_t                  len;
    ngx_url_t              *u;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (link->replica) {
        /* one ask at a time: a busy one is tried again after the backoff */
        if (ngx_http_cast_sentinel_ask_replica(rd->cmcf, rd->log, rd->picks++,
                ngx_http_cast_redis_replica_found, link)
            != NGX_OK)
        {
            ngx_http_cast_redis_link_schedule(link);
        }

        return;
    }

    if (rd->cmcf->sentinels) {
        link->waiting = 1;
        ngx_http_cast_redis_ask();
        return;
    }

    u = &rd->cmcf->redis;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u->family == AF_UNIX) {
        rd->address = u->url;
        link->address = u->url;

        ngx_http_cast_redis_link_open(link, redisAsyncConnectUnix(
                   ((struct sockaddr_un *) u->addrs[0].sockaddr)->sun_path));
        return;
    }
#endif

    len = ngx_sock_ntop(u->addrs[0].sockaddr, u->addrs[0].socklen,
                        ip, sizeof(ip) - 1, 0);
    ip[len] = '\0';

    ngx_http_cast_redis_connect_to(link, (char *) ip,
                                   ngx_inet_get_port(u->addrs[0].sockaddr));
}


/* the Sentinels asked, unless they are being asked already */

static void
ngx_http_cast_redis_ask(void)
{
    ngx_int_t               rc;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->asking) {
        return;
    }

    rc = ngx_http_cast_sentinel_ask(rd->cmcf, rd->log,
                                    ngx_http_cast_redis_found, rd);

    /* asked for a replica: the primary's ask follows that answer */
    rd->pending = (rc != NGX_OK);
    rd->asking = (rc == NGX_OK);
}


/*
 * The Sentinels' answer, the primary's address or NULL: the connections
 * waiting for it connect (or try again later), those to another Redis
 * leave.
 */

static void
ngx_http_cast_redis_found(void *data, const char *ip, int port)
{
    u_char                       addr[NGX_HTTP_CAST_REDIS_ADDR_LEN];
    size_t                       len;
    ngx_uint_t                   i;
    ngx_http_cast_redis_link_t  *link;
    ngx_http_cast_redis_t       *rd = data;

    rd->asking = 0;

    if (rd->exiting) {
        return;
    }

    len = 0;

    if (ip) {
        len = ngx_snprintf(addr, sizeof(addr), "%s:%d", ip, port) - addr;
        ngx_http_cast_redis_primary(addr, len);
    }

    for (i = 0; i < rd->nlinks; i++) {
        link = &rd->links[i];

        if (link->ac && ip
            && (len != link->address.len
                || ngx_memcmp(addr, link->address.data, len) != 0))
        {
            /* made again to the new primary at once, the old one closing */
            ngx_http_cast_redis_link_move(link, "the sentinels name "
                                          "another primary");
            link->waiting = 1;
        }

        if (link->ac || !link->waiting) {
            continue;
        }

        link->waiting = 0;

        if (ip == NULL) {
            ngx_http_cast_redis_link_schedule(link);
            continue;
        }

        ngx_http_cast_redis_connect_to(link, ip, port);
    }

    link = &rd->links[NGX_HTTP_CAST_REDIS_REPLICA];

    if (ip && link->ac && len == link->address.len
        && ngx_memcmp(addr, link->address.data, len) == 0)
    {
        ngx_http_cast_redis_link_leave(link, "the sentinels name it the "
                                       "primary");
    }
}


/* a replica for the reads, or NULL: tried again after the backoff */

static void
ngx_http_cast_redis_replica_found(void *data, const char *ip, int port)
{
    ngx_http_cast_redis_link_t  *link = data;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    if (rd->exiting) {
        return;
    }

    if (rd->pending) {
        ngx_http_cast_redis_ask();
    }

    if (ip == NULL) {
        ngx_http_cast_redis_link_schedule(link);
        return;
    }

    ngx_http_cast_redis_connect_to(link, ip, port);
}


/*
 * The primary this worker writes to; a move is a failover, counted once,
 * and the replica read from is picked again: it may be the primary now.
 */

static void
ngx_http_cast_redis_primary(u_char *addr, size_t len)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (len == rd->address.len
        && ngx_memcmp(rd->address.data, addr, len) == 0)
    {
        return;
    }

    if (rd->address.len) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0, "cast: redis primary moved "
                      "from %V to %*s", &rd->address, len, addr);
        ngx_http_cast_metrics_failover();
        ngx_http_cast_redis_link_leave(
            &rd->links[NGX_HTTP_CAST_REDIS_REPLICA], "the primary moved");
    }

    rd->address.data = rd->addr;
    rd->address.len = len;
    ngx_memcpy(rd->addr, addr, len);
}


static void
ngx_http_cast_redis_connect_to(ngx_http_cast_redis_link_t *link,
    const char *ip, int port)
{
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    link->address.data = link->addr;
    link->address.len = ngx_snprintf(link->addr, sizeof(link->addr), "%s:%d",
                                     ip, port)
                        - link->addr;

    if (rd->cmcf->sentinels == NULL) {
        ngx_http_cast_redis_primary(link->addr, link->address.len);
    }

    ngx_http_cast_redis_link_open(link, redisAsyncConnect(ip, port));

    if (rd->cmcf->sentinels && link->ac && !rd->watch.timer_set) {
        ngx_add_timer(&rd->watch, NGX_HTTP_CAST_WATCH);
    }
}


/*
 * once a second while connected: the primary may have moved, and the old
 * one's connections may hang
 */

static void
ngx_http_cast_redis_watch(ngx_event_t *ev)
{
    ngx_uint_t              i;
    ngx_http_cast_redis_t  *rd = &ngx_http_cast_redis;

    if (rd->exiting) {
        return;
    }

    ngx_add_timer(&rd->watch, NGX_HTTP_CAST_WATCH);

    for (i = 0; i < rd->nlinks; i++) {
        ngx_http_cast_redis_link_expire(&rd->links[i]);
    }

    ngx_http_cast_redis_ask();
    ngx_http_cast_redis_watch_replica();
}


/*
 * The replica read from is asked ROLE again: a replica whose link to its
 * primary broke is left within a second of its noticing.  One that does
 * not answer ROLE (its first too, or its connect) or a read within the
 * Redis timeout is dropped.
 */

static void
ngx_http_cast_redis_watch_replica(void)
{
    ngx_http_cast_redis_link_t  *link;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    link = &rd->links[NGX_HTTP_CAST_REDIS_REPLICA];

    if (link->ac == NULL) {
        return;
    }

    /* a replica that accepts and never answers its set-up is dropped too */
    if (ngx_http_cast_redis_link_stuck(link)
        || (link->checking
            && ngx_current_msec - link->checked >= rd->cmcf->redis_timeout))
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis replica %V did "
                      "not answer within %M ms, reads go to the primary",
                      &link->address, rd->cmcf->redis_timeout);
        ngx_http_cast_redis_link_drop(link);
        return;
    }

    if (link->ready) {
        ngx_http_cast_redis_setup_role(link);
    }
}


/* the Redis this worker writes to, "ip:port" (empty before the first) */

ngx_str_t *
ngx_http_cast_redis_address(void)
{
    return &ngx_http_cast_redis.address;
}


/*
 * The Redis this worker reads from: the replica's, or the primary's; NULL
 * without cast_redis_replica_reads
 */

ngx_str_t *
ngx_http_cast_redis_reads_address(void)
{
    ngx_uint_t  n;

    if (ngx_http_cast_redis.cmcf == NULL
        || !ngx_http_cast_redis.cmcf->replica_reads)
    {
        return NULL;
    }

    n = ngx_http_cast_redis_reader();

    return n ? &ngx_http_cast_redis.links[n].address
             : &ngx_http_cast_redis.address;
}


/*
 * How many connections the worker has to the primary: 1, or 1 +
 * NGX_HTTP_CAST_REDIS_VOTE_LINKS with cast_redis_min_replicas (the vote
 * batches' own, numbered from 1).
 */

ngx_uint_t
ngx_http_cast_redis_links(void)
{
    return ngx_http_cast_redis.nlinks;
}


/* the link a read goes on: the replica's while ROLE vouches for it, or 0 */

ngx_uint_t
ngx_http_cast_redis_reader(void)
{
    ngx_http_cast_redis_link_t  *link;

    link = &ngx_http_cast_redis.links[NGX_HTTP_CAST_REDIS_REPLICA];

    /* a replica being left takes no command, whatever ROLE said since */
    return (link->ac && link->ready
            && !(link->ac->c.flags & REDIS_DISCONNECTING))
           ? NGX_HTTP_CAST_REDIS_REPLICA : 0;
}


/*
 * Whether a command may be sent on link n: it is there or on its way,
 * and not closing, in a worker not exiting
 */

ngx_uint_t
ngx_http_cast_redis_connected(ngx_uint_t n)
{
    /* a worker exiting sends nothing more: a reply would find it gone */
    if (ngx_http_cast_redis.exiting) {
        return 0;
    }

    if (n == NGX_HTTP_CAST_REDIS_REPLICA) {
        return ngx_http_cast_redis_reader() == n;
    }

    /* one being left takes no command: it would fail at once */
    return n < ngx_http_cast_redis.nlinks
           && ngx_http_cast_redis.links[n].ac != NULL
           && !(ngx_http_cast_redis.links[n].ac->c.flags
                & REDIS_DISCONNECTING);
}


/*
 * Sends a formatted command on link n: NGX_OK, and cmd->handler is called
 * once its reply is in, or with NULL if it never will be; the caller
 * keeps cmd until then.  Otherwise NGX_ERROR, and the handler is never
 * called: a command for the replica when it is not there too (it never
 * moves to another connection by itself; the caller chose the link).
 */

ngx_int_t
ngx_http_cast_redis_send(ngx_uint_t n, ngx_http_cast_redis_cmd_t *cmd,
    const char *buf, size_t len)
{
    ngx_http_cast_redis_link_t  *link;

    if (!ngx_http_cast_redis_connected(n)) {
        return NGX_ERROR;
    }

    link = &ngx_http_cast_redis.links[n];

    if (redisAsyncFormattedCommand(link->ac, ngx_http_cast_redis_reply, cmd,
                                   buf, len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    cmd->sent = ngx_current_msec;
    cmd->len = len;

    ngx_queue_insert_tail(&link->inflight, &cmd->queue);
    ngx_http_cast_hiredis_widen(link->ac,
                                len * NGX_HTTP_CAST_REDIS_REPLY_RATIO);

    return NGX_OK;
}


/* "$<len>\r\n<data>\r\n" at p: a formatted command's bulk string */

u_char *
ngx_http_cast_redis_bulk(u_char *p, const void *data, size_t len)
{
    *p++ = '$';
    p = (u_char *) cast_dec((char *) p, len);
    *p++ = '\r';
    *p++ = '\n';
    p = ngx_cpymem(p, data, len);
    *p++ = '\r';
    *p++ = '\n';

    return p;
}


/*
 * A request timed out.  If Redis has kept a command longer than the
 * timeout, the connection is stuck: drop it, which answers every waiting
 * command with no reply, and connect again.
 */

void
ngx_http_cast_redis_check_stuck(void)
{
    ngx_uint_t                   i;
    ngx_http_cast_redis_link_t  *link;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    for (i = 0; i < NGX_HTTP_CAST_REDIS_ALL_LINKS; i++) {
        link = &rd->links[i];

        if (ngx_http_cast_redis_link_stuck(link)) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0, "cast: redis did not "
                          "answer within %M ms, reconnecting",
                          rd->cmcf->redis_timeout);
            ngx_http_cast_redis_link_drop(link);
        }
    }
}


static void
ngx_http_cast_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    ngx_uint_t                   i;
    redisReply                  *reply = r;
    ngx_http_cast_redis_cmd_t   *cmd = data;
    ngx_http_cast_redis_link_t  *link = ac->data;
    ngx_http_cast_redis_t       *rd = &ngx_http_cast_redis;

    ngx_queue_remove(&cmd->queue);

    /* NULL: the context may be going, its bound already freed */
    if (reply) {
        ngx_http_cast_hiredis_narrow(ac, cmd->len
                                         * NGX_HTTP_CAST_REDIS_REPLY_RATIO);
    }

    /* a replica's answer, or none: the batch layer may send it again */
    if (link->replica) {
        cmd->handler(cmd->data, reply);
        return;
    }

    if (reply && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "READONLY ", 9) == 0
        && rd->cmcf->sentinels && ac == link->ac)
    {
        /* every connection to that Redis leaves it */
        for (i = 0; i < rd->nlinks; i++) {
            if (rd->links[i].address.len == link->address.len
                && ngx_memcmp(rd->links[i].address.data, link->address.data,
                              link->address.len)
                   == 0)
            {
                ngx_http_cast_redis_link_leave(&rd->links[i],
                                               "it is a replica now");
            }
        }
    }

    if (reply && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "ERR Function not found", 22) == 0
        && ac == link->ac && !link->loading)
    {
        /* Redis lost its functions (restart without data): load again */
        ngx_http_cast_redis_setup(link, rd->cmcf);
    }

    cmd->handler(cmd->data, reply);
}
