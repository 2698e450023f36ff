
/*
 * Copyright (C) CAST developers
 *
 * A hiredis async context on nginx's event loop: the adapter the transport
 * (ngx_http_cast_redis.c) and the Sentinel asks (ngx_http_cast_sentinel.c)
 * share.
 *
 * The context's fd is wrapped in an nginx connection whose events are
 * registered level-triggered, so a reply hiredis only partly consumed is
 * never stranded.  With "post", a write hiredis asks for on a connected
 * context is posted to the end of the worker's round instead: what the
 * round's commands queued goes out at once, usually without waiting for
 * the socket's write event.  hiredis closes the fd itself after calling
 * the cleanup hook; the hook only gives the nginx connection back.
 *
 * A reply no command asked for (a misbehaving server or proxy) would stop
 * the worker on an assertion in hiredis (only a subscribed context may
 * get one): the context's reader refuses such a reply as it starts,
 * which hiredis takes as a read error and disconnects; its owner then
 * reconnects as after any lost connection.
 *
 * So is a reply that holds more than the context's bound, the one way a
 * link's replies are bounded: what hiredis holds of the reply in
 * progress (each object as it makes it: an array's slots as it reads the
 * header, "*2000000000" took 16 GB) plus the bytes read and not yet made
 * into one (a bulk string's, kept until its last byte has come: a
 * server that announced "$2000000000" and streamed it grew the worker by
 * what it could send until the link was found stuck, never while it kept
 * sending).  The objects are counted as they are made, and refused past
 * the bound; the bytes before each read, which then fails: the read adds
 * at most 16 KB (hiredis's own buffer), so the context holds at most its
 * bound and 16 KB.  The refusal is logged once, with the address and the
 * bound.  The owner picks the bound (ngx_http_cast_redis.c: 1 MB and 64
 * bytes a byte of the commands in flight; ngx_http_cast_sentinel.c: 1
 * MB), and may widen it for a command and narrow it once answered.
 *
 * hiredis 0.14 (Debian's) is assumed here: the reader's fields (buf's
 * len, ridx -1 between replies, err and errstr, privdata handed to the
 * reply functions), the 16 KB read, and the event hooks' cleanup called
 * once as the context is freed, after the callbacks heard it (so the
 * bound is freed there).  hiredis 1.x calls the cleanup earlier (on a
 * disconnect, before the callbacks get their NULL replies: the owner
 * narrows only on a reply, never on NULL), has reader->maxelements (the
 * array slots alone) and push replies that a context may get unasked.
 *
 * It calls only nginx and hiredis.
 */


#include "ngx_http_cast_module.h"


typedef struct {
    redisAsyncContext  *ac;
    const char         *name;        /* whose: "redis", "sentinel" */
    size_t              bound;       /* a reply's bytes, as hiredis holds */
    size_t              held;        /*   of the reply in progress */
    ngx_uint_t          refused;     /* a reply passed the bound */
} ngx_http_cast_hiredis_t;


static void ngx_http_cast_hiredis_read(ngx_event_t *ev);
static void ngx_http_cast_hiredis_write(ngx_event_t *ev);
static void ngx_http_cast_hiredis_add_read(void *data);
static void ngx_http_cast_hiredis_del_read(void *data);
static void ngx_http_cast_hiredis_add_write(void *data);
static void ngx_http_cast_hiredis_post_write(void *data);
static void ngx_http_cast_hiredis_del_write(void *data);
static void ngx_http_cast_hiredis_cleanup(void *data);
static ngx_uint_t ngx_http_cast_hiredis_take(const redisReadTask *task,
    size_t size);
static void ngx_http_cast_hiredis_refuse(ngx_http_cast_hiredis_t *h);
static void *ngx_http_cast_hiredis_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_cast_hiredis_array(const redisReadTask *task,
    int elements);
static void *ngx_http_cast_hiredis_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_cast_hiredis_nil(const redisReadTask *task);


/* the connection whose write handler is running, if any */
static ngx_connection_t  *ngx_http_cast_hiredis_writing;

/* hiredis's own reply functions, and ours that check each reply first */
static redisReplyObjectFunctions  *ngx_http_cast_hiredis_reply;
static redisReplyObjectFunctions   ngx_http_cast_hiredis_checked;


/*
 * Gives ac an nginx connection and hooks its events: NGX_OK, or NGX_ERROR
 * when no connection is free (the caller still owns ac then).  The
 * caller sets its connect and disconnect callbacks.
 */

ngx_int_t
ngx_http_cast_hiredis_attach(redisAsyncContext *ac, ngx_log_t *log,
    ngx_uint_t post, const char *name, size_t bound)
{
    ngx_connection_t           *c;
    ngx_http_cast_hiredis_t    *h;
    redisReplyObjectFunctions  *fn;

    h = ngx_alloc(sizeof(ngx_http_cast_hiredis_t), log);
    if (h == NULL) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        ngx_free(h);
        return NGX_ERROR;
    }

    h->ac = ac;
    h->name = name;
    h->bound = bound;
    h->held = 0;
    h->refused = 0;

    c->data = ac;
    c->read->handler = ngx_http_cast_hiredis_read;
    c->write->handler = ngx_http_cast_hiredis_write;
    c->read->log = log;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_cast_hiredis_add_read;
    ac->ev.delRead = ngx_http_cast_hiredis_del_read;
    ac->ev.addWrite = post ? ngx_http_cast_hiredis_post_write
                           : ngx_http_cast_hiredis_add_write;
    ac->ev.delWrite = ngx_http_cast_hiredis_del_write;
    ac->ev.cleanup = ngx_http_cast_hiredis_cleanup;

    fn = &ngx_http_cast_hiredis_checked;

    if (ngx_http_cast_hiredis_reply == NULL) {
        ngx_http_cast_hiredis_reply = ac->c.reader->fn;

        *fn = *ac->c.reader->fn;
        fn->createString = ngx_http_cast_hiredis_string;
        fn->createArray = ngx_http_cast_hiredis_array;
        fn->createInteger = ngx_http_cast_hiredis_integer;
        fn->createNil = ngx_http_cast_hiredis_nil;
    }

    ac->c.reader->fn = fn;
    ac->c.reader->privdata = h;

    return NGX_OK;
}


/* a command sent that may be answered with more: the bound grows by it */

void
ngx_http_cast_hiredis_widen(redisAsyncContext *ac, size_t more)
{
    ngx_http_cast_hiredis_t  *h = ac->c.reader->privdata;

    h->bound += more;
}


/* and once answered (never with NULL: the context may be going) */

void
ngx_http_cast_hiredis_narrow(redisAsyncContext *ac, size_t less)
{
    ngx_http_cast_hiredis_t  *h = ac->c.reader->privdata;

    h->bound -= less;
}


/*
 * Whether the reply being read may hold size more bytes: 1, and it holds
 * them; or 0 (said in the log), and the reply function returns NULL,
 * which hiredis takes as a read error.  A reply starts (its task has no
 * parent) while the callbacks of the replies before it are already
 * taken, so the head of the queue is its own: a reply without one is
 * refused.
 */

static ngx_uint_t
ngx_http_cast_hiredis_take(const redisReadTask *task, size_t size)
{
    ngx_http_cast_hiredis_t  *h = task->privdata;

    if (task->parent == NULL) {
        if (h->ac->replies.head == NULL) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "cast: %s sent a reply no command asked for, "
                          "disconnecting", h->name);
            return 0;
        }

        h->held = 0;
    }

    if (h->held > h->bound || size > h->bound - h->held) {
        ngx_http_cast_hiredis_refuse(h);
        return 0;
    }

    h->held += size;

    return 1;
}


static void
ngx_http_cast_hiredis_refuse(ngx_http_cast_hiredis_t *h)
{
    redisContext  *c = &h->ac->c;

    h->refused = 1;

    if (c->connection_type == REDIS_CONN_UNIX) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cast: %s unix:%s "
                      "sent a reply of more than %uz bytes, disconnecting",
                      h->name, c->unix_sock.path, h->bound);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cast: %s %s:%d sent a "
                  "reply of more than %uz bytes, disconnecting",
                  h->name, c->tcp.host, c->tcp.port, h->bound);
}


/* each object as hiredis makes it: the object, and what it points to */

static void *
ngx_http_cast_hiredis_string(const redisReadTask *task, char *str,
    size_t len)
{
    if (!ngx_http_cast_hiredis_take(task, sizeof(redisReply) + len + 1)) {
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createString(task, str, len);
}


static void *
ngx_http_cast_hiredis_array(const redisReadTask *task, int elements)
{
    size_t                    n;
    ngx_http_cast_hiredis_t  *h = task->privdata;

    /* the slots are allocated as the header is read: n as a size */
    n = (elements < 0 || (size_t) elements > h->bound / sizeof(redisReply *))
        ? h->bound : (size_t) elements * sizeof(redisReply *);

    if (!ngx_http_cast_hiredis_take(task, sizeof(redisReply) + n)) {
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createArray(task, elements);
}


static void *
ngx_http_cast_hiredis_integer(const redisReadTask *task, long long value)
{
    if (!ngx_http_cast_hiredis_take(task, sizeof(redisReply))) {
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createInteger(task, value);
}


static void *
ngx_http_cast_hiredis_nil(const redisReadTask *task)
{
    if (!ngx_http_cast_hiredis_take(task, sizeof(redisReply))) {
        return NULL;
    }

    return ngx_http_cast_hiredis_reply->createNil(task);
}


/* nginx events <-> hiredis hooks */

/*
 * The bytes read and not yet made into a reply, and what the reply in
 * progress holds, within the bound, or the reader fails as hiredis's own
 * errors do: the read disconnects.
 */

static void
ngx_http_cast_hiredis_read(ngx_event_t *ev)
{
    ngx_connection_t         *c = ev->data;
    redisReader              *r;
    redisAsyncContext        *ac;
    ngx_http_cast_hiredis_t  *h;

    ac = c->data;
    r = ac->c.reader;
    h = r->privdata;

    if (r->ridx == -1) {
        h->held = 0;
    }

    if (r->err == 0 && (h->held > h->bound || r->len > h->bound - h->held)) {
        ngx_http_cast_hiredis_refuse(h);

        r->err = REDIS_ERR_PROTOCOL;
        ngx_cpystrn((u_char *) r->errstr, (u_char *) "reply too large",
                    sizeof(r->errstr));
    }

    /* may free the context and the connection: touch neither after */
    redisAsyncHandleRead(ac);
}


static void
ngx_http_cast_hiredis_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;
    ngx_connection_t  *writing;

    writing = ngx_http_cast_hiredis_writing;

    ngx_http_cast_hiredis_writing = c;
    redisAsyncHandleWrite(c->data);
    ngx_http_cast_hiredis_writing = writing;
}


static void
ngx_http_cast_hiredis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_cast_hiredis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_cast_hiredis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


/*
 * The write is posted, once the worker's round of events is over.  Only
 * what the socket did not take (a write from within the write handler),
 * or a connect in progress, waits for the socket's event.
 */

static void
ngx_http_cast_hiredis_post_write(void *data)
{
    ngx_connection_t   *c = data;
    redisAsyncContext  *ac = c->data;

    if (c->write->active || c->write->posted) {
        return;
    }

    if (ngx_http_cast_hiredis_writing == c
        || !(ac->c.flags & REDIS_CONNECTED))
    {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
        return;
    }

    ngx_post_event(c->write, &ngx_posted_events);
}


static void
ngx_http_cast_hiredis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
}


/*
 * hiredis closes the fd after this: give the connection back, keep the
 * fd; the bound goes
 */

static void
ngx_http_cast_hiredis_cleanup(void *data)
{
    ngx_connection_t         *c = data;
    redisAsyncContext        *ac = c->data;
    ngx_http_cast_hiredis_t  *h = ac->c.reader->privdata;

    /*
     * hiredis words a reply refused as it was made (a reply function
     * returned NULL) "Out of memory", which it was not; the owner's
     * disconnect callback, which hiredis 0.14 calls after this, logs it
     */
    if (h->refused) {
        ngx_cpystrn((u_char *) ac->c.errstr,
                    (u_char *) "a reply larger than its bound",
                    sizeof(ac->c.errstr));
    }

    ngx_free(h);
    ac->c.reader->privdata = NULL;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}
