
/*
 * Copyright (C) CAST developers
 *
 * Who calls whom.  The glue is layered: each file calls only files below
 * it in this list, and hears back from them only through a handler it
 * passed down (a function and its data) or a return value.
 *
 *   ngx_http_cast_module.c   directives; a worker's init and exit
 *   ngx_http_cast_conf.c     the directives' own parsers, and the checks
 *                            of those that depend on each other
 *   ngx_http_cast_handler.c  the GraphQL endpoint: body, GraphiQL,
 *                            the engine's prepare and finish
 *   ngx_http_cast_replay.c   the herd's answers given again: a spent
 *                            ticket's refusals kept by the bytes asked
 *   ngx_http_cast_probe.c    the schema, health and readiness endpoints
 *   ngx_http_cast_request.c  a request's fields run and waited for: the
 *                            one owner of a request's progress
 *   ngx_http_cast_sse.c      subscriptions: streams of Server-Sent
 *                            Events admitted, a view per distinct request
 *   ngx_http_cast_sse_tick.c a tick: each view's event rendered once
 *   ngx_http_cast_sse_stream.c  one stream: events to its socket,
 *                            backpressure, its end
 *   ngx_http_cast_watch.c    what the subscriptions watch: one call per
 *                            worker per tick
 *   ngx_http_cast_resolve.c  one field: its call, and its reply parsed
 *                            into its slot (query, cas, board, state)
 *   ngx_http_cast_vote.c     a vote: its input and ticket checked, its
 *                            call, its reply
 *   ngx_http_cast_field.c    a field's call joined to its batch, its
 *                            reply handed back, its errors
 *   ngx_http_cast_memo.c     the refusals of Redis a worker repeats by
 *                            itself: spent tickets, used-up shares
 *   ngx_http_cast_batch.c    calls coalesced into one command per kind
 *   + ngx_http_cast_batch_reply.c  the same layer (a "+": the two files
 *                            may call each other): a batch's reply to
 *                            its calls; a read the replica did not
 *                            answer sent again
 *   ngx_http_cast_wait.c     a vote batch's reply held until the
 *                            replicas acknowledged it (WAIT)
 *   ngx_http_cast_redis.c    the Redis connections: commands, replies,
 *                            the primary and a replica followed
 *   ngx_http_cast_redis_link.c  one connection: opened, left, dropped,
 *                            made again after a backoff
 *   ngx_http_cast_redis_setup.c  a new connection's set-up: AUTH,
 *                            SELECT, ROLE, fsync checks, FUNCTION LOAD
 *   ngx_http_cast_sentinel.c the Sentinels asked for the primary's
 *                            address, or a replica's
 *   ngx_http_cast_metrics.c  the counters, and the /metrics page
 *   ngx_http_cast_client.c   a request's client key; the streams and names
 *                            of each
 *   ngx_http_cast_send.c     a response in one buffer
 *   ngx_http_cast_hiredis.c  a hiredis context on nginx's events
 *
 * A reply travels back up by handlers: the transport calls its carrier's
 * handler in the batch layer, which calls each call's handler in the
 * resolver, which calls its field's done handler in the request.  A
 * request that goes away cancels its fields' calls and hears no more.
 * The GraphQL engine and the codecs (cast_*.h) call none of the glue.
 */


#ifndef _NGX_HTTP_CAST_MODULE_H_INCLUDED_
#define _NGX_HTTP_CAST_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "cast_graphql.h"
#include "cast_dec.h"


#define NGX_HTTP_CAST_NAME_MAX       64
/* a vote's message from Redis, as cast_max_result_items counts it */
#define NGX_HTTP_CAST_MESSAGE_MAX    38
#define NGX_HTTP_CAST_IDEM_MAX       128

/*
 * A client key of up to 31 bytes is used as it is; a longer one is
 * replaced by its SHA-256 (32 bytes), so keys as they are and digests
 * never meet, and a Redis field is never longer than 32 bytes.
 */
#define NGX_HTTP_CAST_CLIENT_MAX     31
#define NGX_HTTP_CAST_CLIENT_DIGEST  32


typedef struct ngx_http_cast_call_s   ngx_http_cast_call_t;
typedef struct ngx_http_cast_field_s  ngx_http_cast_field_t;

/* a Redis reply, or NULL when none will come */
typedef void (*ngx_http_cast_reply_pt)(void *data, redisReply *reply);
/* NGX_OK: the call still needs Redis; else it was answered without */
typedef ngx_int_t (*ngx_http_cast_recheck_pt)(void *data);
typedef ngx_int_t (*ngx_http_cast_still_pt)(ngx_http_cast_field_t *field);
typedef void (*ngx_http_cast_field_done_pt)(ngx_http_cast_field_t *field);
typedef void (*ngx_http_cast_parse_pt)(ngx_http_cast_field_t *field,
    redisReply *reply);


typedef struct {
    ngx_url_t                 redis;          /* resolved at config time */
    ngx_array_t              *sentinels;      /* of ngx_url_t, or NULL */
    ngx_str_t                 master_name;
    size_t                    min_replicas;   /* WAIT after each vote batch */
    ngx_flag_t                primary_fsync;  /* appendfsync always set */
    ngx_flag_t                replica_reads;  /* reads to a replica */
    ngx_str_t                 redis_password;
    ngx_uint_t                redis_db;
    ngx_msec_t                redis_timeout;
    ngx_str_t                 functions;      /* the library's text */
    ngx_str_t                 ticket_secret;  /* empty: MAC not checked */

    size_t                    max_usernames;
    size_t                    max_vote_count;
    size_t                    max_vote_fields;
    size_t                    max_body_size;
    size_t                    max_top_limit;

    ngx_msec_t                subscription_interval;
    ngx_msec_t                subscription_keepalive;
    size_t                    max_subscribers;
    size_t                    max_client_subscribers;  /* 0: no limit */
    size_t                    max_client_names;        /* 0: no limit */
    size_t                    max_watched_names;

    ngx_http_complex_value_t *client_key;     /* cast_client_key */
    size_t                    client_uses;    /* 0: no share */

    cast_gql_limits_t         limits;
    ngx_flag_t                introspection;

    ngx_flag_t                graphiql;       /* a browser's GET: the page */
    ngx_str_t                 graphiql_page;  /*   at this URI */

    ngx_shm_zone_t           *metrics_zone;
} ngx_http_cast_main_conf_t;


/* a command sent on a Redis connection: the caller's until replied to */
typedef struct {
    ngx_queue_t               queue;          /* in flight, oldest first */
    ngx_msec_t                sent;
    size_t                    len;            /* of the command, sent */
    ngx_http_cast_reply_pt    handler;
    void                     *data;
} ngx_http_cast_redis_cmd_t;


/* a command's reply held until WAIT's: ngx_http_cast_wait.c */
typedef struct {
    ngx_http_cast_redis_cmd_t cmd;            /* the WAIT */
    redisReply               *held;           /* the command's, copied */
    ngx_uint_t                pending;        /* replies still to come */
    ngx_http_cast_reply_pt    handler;        /* the command's own */
    void                     *data;
} ngx_http_cast_wait_t;


/*
 * A field being resolved: its caller's, in the request's pool.  While its
 * call waits for Redis, call is set; done is called once it is finished.
 */
struct ngx_http_cast_field_s {
    cast_gql_slot_t              *slot;
    ngx_pool_t                   *pool;           /* the request's */
    ngx_http_cast_field_done_pt   done;
    void                         *data;           /* the caller's */
    ngx_http_cast_call_t         *call;           /* the resolver's */
    ngx_http_cast_parse_pt        parse;          /*   own */
    ngx_http_cast_still_pt        still;          /*   own, or NULL */
    ngx_msec_t                    asked;          /*   (call made) */
    uint64_t                      seq;            /* a vote's ticket's */
    ngx_str_t                     client;         /* its client key, when
                                                     a share is set */
};


typedef struct ngx_http_cast_ctx_s  ngx_http_cast_ctx_t;
typedef struct ngx_http_cast_replay_key_s  ngx_http_cast_replay_key_t;

typedef ngx_int_t (*ngx_http_cast_complete_pt)(ngx_http_request_t *r,
    ngx_http_cast_ctx_t *ctx);

/* a request's fields and its progress (ngx_http_cast_request.c) */
struct ngx_http_cast_ctx_s {
    ngx_http_request_t         *request;
    ngx_http_cast_complete_pt   complete;
    cast_gql_exec_t            *exec;
    ngx_http_cast_field_t      *fields;       /* one per slot */
    size_t                      nfields;
    size_t                      next;         /* field to resolve next */
    ngx_uint_t                  pending;      /* fields waiting for Redis */
    ngx_event_t                 timer;
    ngx_uint_t                  status;       /* a refused subscription's */
    ngx_http_cast_replay_key_t *replay;       /* its answer may be kept */
    unsigned                    done:1;
};


extern ngx_module_t  ngx_http_cast_module;


/*
 * ngx_http_cast_redis.c: the transport.  Connection 0 carries every
 * command; with cast_redis_min_replicas, connections 1 to
 * NGX_HTTP_CAST_REDIS_VOTE_LINKS carry the vote batches and their WAITs;
 * with cast_redis_replica_reads, NGX_HTTP_CAST_REDIS_REPLICA is to a
 * replica, for the reads ngx_http_cast_redis_reader() sends there.
 */
#define NGX_HTTP_CAST_REDIS_VOTE_LINKS  2
#define NGX_HTTP_CAST_REDIS_LINKS       (1 + NGX_HTTP_CAST_REDIS_VOTE_LINKS)
#define NGX_HTTP_CAST_REDIS_REPLICA     NGX_HTTP_CAST_REDIS_LINKS
#define NGX_HTTP_CAST_REDIS_ALL_LINKS   (NGX_HTTP_CAST_REDIS_LINKS + 1)

ngx_int_t ngx_http_cast_redis_init(ngx_cycle_t *cycle,
    ngx_http_cast_main_conf_t *cmcf);
void ngx_http_cast_redis_exit(void);
ngx_uint_t ngx_http_cast_redis_links(void);
ngx_uint_t ngx_http_cast_redis_connected(ngx_uint_t n);
ngx_int_t ngx_http_cast_redis_send(ngx_uint_t n,
    ngx_http_cast_redis_cmd_t *cmd, const char *buf, size_t len);
u_char *ngx_http_cast_redis_bulk(u_char *p, const void *data, size_t len);
void ngx_http_cast_redis_check_stuck(void);
ngx_str_t *ngx_http_cast_redis_address(void);
ngx_uint_t ngx_http_cast_redis_reader(void);
ngx_str_t *ngx_http_cast_redis_reads_address(void);

/*
 * ngx_http_cast_redis_link.c: one of the transport's connections.  done
 * hears the set-up's verdict: NGX_OK usable, NGX_DECLINED leave it (why),
 * NGX_ERROR drop it now; connect is the transport's, called when it is
 * time to connect again.
 */
#define NGX_HTTP_CAST_REDIS_ADDR_LEN    (NGX_SOCKADDR_STRLEN + 8)

/* a reply's bound: a base, and more a byte asked (ngx_http_cast_redis.c) */
#define NGX_HTTP_CAST_REDIS_REPLY_BASE  (1024 * 1024)
#define NGX_HTTP_CAST_REDIS_REPLY_RATIO 64

typedef struct ngx_http_cast_redis_link_s  ngx_http_cast_redis_link_t;

typedef void (*ngx_http_cast_redis_done_pt)(ngx_http_cast_redis_link_t *link,
    ngx_int_t rc, const char *why);
typedef void (*ngx_http_cast_redis_connect_pt)(
    ngx_http_cast_redis_link_t *link);

struct ngx_http_cast_redis_link_s {
    redisAsyncContext            *ac;
    ngx_http_cast_main_conf_t    *cmcf;
    ngx_log_t                    *log;
    ngx_http_cast_redis_connect_pt  connect;
    ngx_event_t                   retry;
    ngx_msec_t                    backoff;
    ngx_queue_t                   inflight;      /* oldest first */
    redisAsyncContext            *old;           /* to a primary that */
    ngx_queue_t                   old_inflight;  /*   moved, closing */
    ngx_msec_t                    old_since;     /*   since it was left */
    ngx_str_t                     address;       /* "ip:port" connected to */
    ngx_str_t                    *primary;       /* a replica's: the one
                                                    the Sentinels name */
    u_char                        addr[NGX_HTTP_CAST_REDIS_ADDR_LEN];
    ngx_http_cast_redis_done_pt   done;
    ngx_msec_t                    checked;       /* a replica's ROLE sent */
    unsigned                      loading:1;     /* FUNCTION LOAD in flight */
    unsigned                      waiting:1;     /* for the Sentinels */
    unsigned                      replica:1;     /* for reads */
    unsigned                      ready:1;       /*   ROLE said linked */
    unsigned                      checking:1;    /*   ROLE in flight */
    unsigned                      closed:1;      /* the worker exits */
};

void ngx_http_cast_redis_link_init(ngx_http_cast_redis_link_t *link,
    ngx_http_cast_main_conf_t *cmcf, ngx_log_t *log,
    ngx_http_cast_redis_connect_pt connect);
void ngx_http_cast_redis_link_open(ngx_http_cast_redis_link_t *link,
    redisAsyncContext *ac);
void ngx_http_cast_redis_link_close(ngx_http_cast_redis_link_t *link);
void ngx_http_cast_redis_link_leave(ngx_http_cast_redis_link_t *link,
    const char *why);
void ngx_http_cast_redis_link_drop(ngx_http_cast_redis_link_t *link);
void ngx_http_cast_redis_link_move(ngx_http_cast_redis_link_t *link,
    const char *why);
ngx_uint_t ngx_http_cast_redis_link_stuck(ngx_http_cast_redis_link_t *link);
void ngx_http_cast_redis_link_expire(ngx_http_cast_redis_link_t *link);
void ngx_http_cast_redis_link_schedule(ngx_http_cast_redis_link_t *link);

/* ngx_http_cast_redis_setup.c: queued first on each new connection */
void ngx_http_cast_redis_setup(ngx_http_cast_redis_link_t *link,
    ngx_http_cast_main_conf_t *cmcf);
void ngx_http_cast_redis_setup_role(ngx_http_cast_redis_link_t *link);

/*
 * ngx_http_cast_wait.c: cmd's reply held until the WAIT sent behind it
 * on link has counted cast_redis_min_replicas replicas
 */
void ngx_http_cast_wait_hold(ngx_http_cast_wait_t *w,
    ngx_http_cast_redis_cmd_t *cmd);
void ngx_http_cast_wait_send(ngx_http_cast_wait_t *w, ngx_uint_t link);

/*
 * ngx_http_cast_sentinel.c: the primary's address, "ip" and port, or NULL
 * when no Sentinel knows it; called once per ask that returned NGX_OK
 */
typedef void (*ngx_http_cast_sentinel_pt)(void *data, const char *ip,
    int port);

ngx_int_t ngx_http_cast_sentinel_ask(ngx_http_cast_main_conf_t *cmcf,
    ngx_log_t *log, ngx_http_cast_sentinel_pt handler, void *data);
ngx_int_t ngx_http_cast_sentinel_ask_replica(ngx_http_cast_main_conf_t *cmcf,
    ngx_log_t *log, ngx_uint_t pick, ngx_http_cast_sentinel_pt handler,
    void *data);
void ngx_http_cast_sentinel_exit(void);

/*
 * ngx_http_cast_hiredis.c: ac on an nginx connection and its events; with
 * post, a write is posted to the end of the worker's round.  A reply may
 * hold bound bytes as hiredis holds it (name, "redis" or "sentinel", says
 * whose in the log), widened and narrowed again by its owner.
 */
ngx_int_t ngx_http_cast_hiredis_attach(redisAsyncContext *ac, ngx_log_t *log,
    ngx_uint_t post, const char *name, size_t bound);
void ngx_http_cast_hiredis_widen(redisAsyncContext *ac, size_t more);
void ngx_http_cast_hiredis_narrow(redisAsyncContext *ac, size_t less);

/*
 * ngx_http_cast_batch.c: calls coalesced.  The kinds of batches: a vote or
 * query batch's reply is an array of one reply per call; from CAS on,
 * every call of the batch shares the one reply, unless the calls carry
 * arguments (a cas with a client share): then each has its own.
 */
enum {
    NGX_HTTP_CAST_BATCH_VOTE = 0,
    NGX_HTTP_CAST_BATCH_QUERY,
    NGX_HTTP_CAST_BATCH_CAS,
    NGX_HTTP_CAST_BATCH_STATE,
    NGX_HTTP_CAST_BATCH_BOARD,
    NGX_HTTP_CAST_BATCH_WATCH,
    NGX_HTTP_CAST_BATCH_KINDS
};

ngx_int_t ngx_http_cast_batch_add(ngx_uint_t kind, int argc,
    const char **argv, const size_t *argvlen, ngx_http_cast_reply_pt handler,
    void *data, ngx_http_cast_call_t **callp);
void ngx_http_cast_batch_recheck(ngx_http_cast_call_t *call,
    ngx_http_cast_recheck_pt recheck);
void ngx_http_cast_batch_cancel(ngx_http_cast_call_t *call);
void ngx_http_cast_batch_exit(void);

/*
 * The batch layer's own, shared by ngx_http_cast_batch.c (calls gathered,
 * batches sent) and ngx_http_cast_batch_reply.c (their replies).
 */

/* room kept in front of the arguments for the command's header */
#define NGX_HTTP_CAST_BATCH_HEAD     64
#define NGX_HTTP_CAST_BATCH_DEPTH    2

typedef struct {
    u_char                     *data;
    size_t                      size;
} ngx_http_cast_batch_buf_t;

typedef struct {
    ngx_str_t                   command;
    ngx_str_t                   function;

    ngx_event_t                 flush;        /* posted while calls wait */
    ngx_queue_t                 calls;        /* waiting */
    u_char                     *buf;
    size_t                      len;          /* including the head room */
    size_t                      size;
    ngx_uint_t                  kind;
    ngx_uint_t                  inflight;     /* sent, reply not in */
    ngx_uint_t                  replica;      /*   of them on the replica */
    ngx_uint_t                  nspare;       /* buffers back from it */
    ngx_http_cast_batch_buf_t   spare[NGX_HTTP_CAST_BATCH_DEPTH];
} ngx_http_cast_batch_t;

/*
 * A call: its reply goes to handler(data, reply), once, unless the caller
 * cancels it first.  The batch layer owns it until then and after.
 */
struct ngx_http_cast_call_s {
    ngx_queue_t                 queue;        /* batched, carried, spare */
    ngx_http_cast_reply_pt      handler;      /* NULL once cancelled */
    void                       *data;
    ngx_http_cast_recheck_pt    recheck;      /* NULL: sent as it is */
    ngx_msec_t                  sent;         /* first sent */
    size_t                      off;          /* its arguments in its */
    size_t                      len;          /*   batch's buffer */
    ngx_uint_t                  nargs;
};

/*
 * A sent batch: the command that carries its calls (and its WAIT).  On
 * the replica, it holds its batch's buffer, where the calls' arguments
 * lie, until its reply: the primary may be sent them yet.
 */
typedef struct {
    ngx_http_cast_redis_cmd_t   cmd;
    ngx_http_cast_wait_t        wait;
    ngx_queue_t                 calls;
    ngx_http_cast_batch_t      *batch;
    ngx_uint_t                  nargs;        /* its calls' arguments */
    ngx_uint_t                  link;         /* the connection it is on */
    ngx_http_cast_batch_buf_t   held;         /* on the replica: its buf */
} ngx_http_cast_carrier_t;

ngx_uint_t ngx_http_cast_batch_pack(ngx_queue_t *calls, u_char *buf,
    ngx_queue_t *answered, size_t *len);
u_char *ngx_http_cast_batch_head(ngx_http_cast_batch_t *b, u_char *buf,
    ngx_uint_t nargs);
void ngx_http_cast_batch_out(ngx_http_cast_carrier_t *carrier,
    ngx_uint_t link);
void ngx_http_cast_batch_in(ngx_http_cast_carrier_t *carrier);
void ngx_http_cast_batch_release(ngx_http_cast_carrier_t *carrier);
void ngx_http_cast_batch_call_put(ngx_http_cast_call_t *call);
void ngx_http_cast_batch_reply(void *data, redisReply *reply);
void ngx_http_cast_batch_deliver(ngx_queue_t *calls, redisReply *reply,
    ngx_uint_t shared);
void ngx_http_cast_batch_answered(ngx_queue_t *answered);

/*
 * ngx_http_cast_watch.c: what the subscriptions watch, one call a tick.
 * A name is held by each view that watches it.
 */
typedef struct ngx_http_cast_watch_name_s  ngx_http_cast_watch_name_t;

struct ngx_http_cast_watch_name_s {
    ngx_queue_t                   queue;
    ngx_http_cast_watch_name_t   *next;           /* in its bucket */
    ngx_uint_t                    key;
    ngx_uint_t                    refs;
    int64_t                       count;
    unsigned                      known:1;        /* count read once */
    ngx_str_t                     name;           /* the bytes follow */
};

typedef struct {
    const char                   *error;          /* NULL: the rest holds */
    int64_t                       total;
    cast_gql_slot_t               top;            /* the largest limit's */
    cast_gql_slot_t               ticket;         /* or its error */
} ngx_http_cast_watch_state_t;

typedef void (*ngx_http_cast_watch_pt)(void *data);

ngx_http_cast_watch_name_t *ngx_http_cast_watch_name(u_char *data,
    size_t len, ngx_uint_t max);
void ngx_http_cast_watch_release(ngx_http_cast_watch_name_t *n);
void ngx_http_cast_watch_limit(size_t limit);
ngx_http_cast_watch_state_t *ngx_http_cast_watch_state(void);
void ngx_http_cast_watch_run(ngx_msec_t interval, ngx_msec_t timeout,
    ngx_http_cast_watch_pt handler, void *data);
void ngx_http_cast_watch_stop(void);
void ngx_http_cast_watch_exit(void);

/* ngx_http_cast_client.c: a request's client, its streams and names */
typedef struct ngx_http_cast_client_s  ngx_http_cast_client_t;

ngx_int_t ngx_http_cast_client_key(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *key);
ngx_int_t ngx_http_cast_client_hold(ngx_str_t *key, ngx_uint_t max,
    ngx_uint_t names, ngx_uint_t max_names, ngx_http_cast_client_t **clientp);
void ngx_http_cast_client_release(ngx_http_cast_client_t *cl,
    ngx_uint_t names);

/* ngx_http_cast_sse.c: subscriptions over Server-Sent Events */
typedef ngx_int_t (*ngx_http_cast_sse_prepare_pt)(void *data,
    ngx_pool_t *pool, cast_gql_exec_t **exec);

ngx_int_t ngx_http_cast_sse_subscribe(ngx_http_request_t *r,
    cast_gql_exec_t *exec, ngx_str_t *key,
    ngx_http_cast_sse_prepare_pt prepare, void *data);
void ngx_http_cast_sse_exit(void);

/*
 * An event's text, shared by the subscribers sending it, with its
 * HTTP/1.1 chunk framing around it: chunk .. data + len + 2 is the chunk.
 */
typedef struct {
    ngx_uint_t                     refs;
    size_t                         len;
    u_char                        *data;
    u_char                        *chunk;
    u_char                         buf[1];
} ngx_http_cast_event_t;

#define NGX_HTTP_CAST_SSE_CHUNK_HEAD  (NGX_SIZE_T_LEN + 2)

/* the subscribers of one request, and its latest event */
typedef struct {
    ngx_queue_t                    queue;        /* the worker's views */
    ngx_queue_t                    subs;
    ngx_uint_t                     nsubs;
    ngx_str_t                      key;          /* the request, as sent */
    ngx_uint_t                     hash;
    ngx_pool_t                    *pool;         /* the plan's, the key's */
    cast_gql_exec_t               *exec;
    cast_gql_slot_t               *slot;
    ngx_http_cast_watch_name_t   **names;        /* Subscription.votes */
    int64_t                       *votes;
    ngx_http_cast_event_t         *event;        /* the latest */
    ngx_uint_t                     version;
} ngx_http_cast_view_t;

/*
 * A subscriber: in its request's pool until the stream is detached from
 * the request (ngx_http_cast_sse_detach), then in its connection's.
 */
typedef struct {
    ngx_queue_t                    queue;        /* its view's */
    ngx_http_request_t            *request;      /* NULL once detached */
    ngx_connection_t              *connection;
    ngx_http_core_loc_conf_t      *clcf;         /* send_timeout, lowat */
    ngx_pool_cleanup_t            *cln;
    ngx_http_cast_view_t          *view;
    ngx_http_cast_client_t        *client;       /* when counted, */
    ngx_uint_t                     names;        /*   with these names */
    ngx_http_cast_event_t         *sending;      /* held by the output */
    ngx_uint_t                     version;      /* the view's, last sent */
    ngx_msec_t                     last;         /* when it last wrote */
    ngx_buf_t                      buf;
    ngx_chain_t                    out;
    u_char                        *pos;          /* sent directly, */
    u_char                        *last_byte;    /*   still to go */
    ngx_event_t                    closer;       /* posted: finalize */
    ngx_int_t                      rc;           /*   with this */
    unsigned                       busy:1;       /* buf in the output */
    unsigned                       complete:1;   /* ends with complete */
    unsigned                       closing:1;
    unsigned                       chunked:1;
    unsigned                       detached:1;
} ngx_http_cast_sub_t;

/* the worker's subscriptions */
typedef struct {
    ngx_queue_t                    views;
    ngx_uint_t                     nsubs;
    ngx_pool_t                    *render;       /* scratch, each view */
    ngx_msec_t                     swept;
    ngx_http_cast_main_conf_t     *cmcf;
} ngx_http_cast_sse_t;

/* ngx_http_cast_sse_tick.c: a view's event rendered, once per tick */
void ngx_http_cast_sse_tick(void *data);
void ngx_http_cast_sse_limit(ngx_http_cast_sse_t *sse);

/* ngx_http_cast_sse_stream.c: one subscriber's stream */
extern ngx_str_t  ngx_http_cast_sse_comment[2];

void ngx_http_cast_sse_send(ngx_http_cast_sub_t *sub);
void ngx_http_cast_sse_text(ngx_http_cast_sub_t *sub, ngx_str_t *text);
void ngx_http_cast_sse_writer(ngx_http_request_t *r);
void ngx_http_cast_sse_close(ngx_http_cast_sub_t *sub, ngx_int_t rc);
void ngx_http_cast_sse_closer(ngx_event_t *ev);
void ngx_http_cast_sse_event_put(ngx_http_cast_event_t *ev);

/* ngx_http_cast_resolve.c: one field at a time */
ngx_int_t ngx_http_cast_resolve_check(cast_gql_exec_t *exec,
    ngx_pool_t *pool, ngx_http_cast_main_conf_t *cmcf);
ngx_int_t ngx_http_cast_resolve(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf);
ngx_int_t ngx_http_cast_resolve_state(ngx_http_cast_field_t *field);
ngx_int_t ngx_http_cast_resolve_limit(cast_gql_slot_t *slot,
    ngx_pool_t *pool, ngx_http_cast_main_conf_t *cmcf);
ngx_int_t ngx_http_cast_resolve_scores(cast_gql_slot_t *slot,
    ngx_pool_t *pool, redisReply *flat, size_t n);
ngx_int_t ngx_http_cast_resolve_ticket(cast_gql_slot_t *slot,
    ngx_pool_t *pool, redisReply *reply);

/* ngx_http_cast_vote.c: the vote field */
ngx_int_t ngx_http_cast_vote_resolve(ngx_http_cast_field_t *field,
    ngx_http_cast_main_conf_t *cmcf);
void ngx_http_cast_vote_learn_seq(uint64_t seq);
ngx_uint_t ngx_http_cast_vote_spent(const u_char *ticket);

/* ngx_http_cast_field.c: a field's call, and how it ends */
ngx_int_t ngx_http_cast_field_call(ngx_http_cast_field_t *field,
    ngx_uint_t kind, ngx_http_cast_parse_pt parse, int argc,
    const char **argv, const size_t *argvlen);
void ngx_http_cast_field_cancel(ngx_http_cast_field_t *field);
ngx_int_t ngx_http_cast_field_reply_error(cast_gql_slot_t *slot,
    ngx_pool_t *pool, redisReply *reply);
void ngx_http_cast_field_unavailable(cast_gql_slot_t *slot,
    const char *why);
void ngx_http_cast_field_fail(cast_gql_slot_t *slot, const char *code,
    const char *message, ngx_uint_t outcome);
void ngx_http_cast_field_reject(cast_gql_slot_t *slot, ngx_uint_t outcome,
    const char *message);
void ngx_http_cast_field_bad_input(cast_gql_slot_t *slot,
    const char *message);
ngx_int_t ngx_http_cast_field_name(ngx_pool_t *pool, cast_str_t *dst,
    redisReply *src);
ngx_int_t ngx_http_cast_field_text(ngx_pool_t *pool, cast_str_t *dst,
    redisReply *src, size_t max);

/* ngx_http_cast_memo.c: refusals a worker repeats (till Redis's deadline) */
ngx_uint_t ngx_http_cast_memo_spent(const u_char *ticket, uint64_t *seq);
void ngx_http_cast_memo_learn_spent(const u_char *ticket, ngx_msec_t asked,
    int64_t left);
ngx_uint_t ngx_http_cast_memo_expired(const u_char *ticket);
void ngx_http_cast_memo_learn_expired(const u_char *ticket);
ngx_uint_t ngx_http_cast_memo_share(const u_char *ticket, ngx_str_t *client);
void ngx_http_cast_memo_learn_share(const u_char *ticket, ngx_str_t *client,
    ngx_msec_t asked, int64_t left);

/* ngx_http_cast_replay.c: the herd's answers, given again */
ngx_int_t ngx_http_cast_replay(ngx_http_request_t *r, cast_gql_http_t *in,
    ngx_http_cast_replay_key_t **key);
void ngx_http_cast_replay_keep(ngx_http_cast_ctx_t *ctx,
    cast_gql_response_t *resp);
void ngx_http_cast_replay_exit(void);

/* ngx_http_cast_request.c: a request's fields */
ngx_http_cast_ctx_t *ngx_http_cast_request_create(ngx_http_request_t *r,
    ngx_http_cast_complete_pt complete, cast_gql_slot_t *slots,
    size_t nslots);
void ngx_http_cast_request_start(ngx_http_cast_ctx_t *ctx);
ngx_int_t ngx_http_cast_request_wait(ngx_http_request_t *r,
    ngx_http_cast_ctx_t *ctx);

/* ngx_http_cast_conf.c: the directives' own parsers, and their checks */
extern ngx_conf_post_t  ngx_http_cast_count_off;

char *ngx_http_cast_conf_check(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf);
char *ngx_http_cast_conf_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_cast_conf_sentinel(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_cast_conf_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_cast_conf_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_cast_conf_set_count_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_cast_handler.c: the GraphQL endpoint */
ngx_int_t ngx_http_cast_graphql_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_cast_engine_init(ngx_http_cast_main_conf_t *cmcf);
void ngx_http_cast_engine_exit(void);

/* ngx_http_cast_probe.c: the schema and the probes */
ngx_int_t ngx_http_cast_schema_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_cast_healthz_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_cast_readyz_handler(ngx_http_request_t *r);

/* ngx_http_cast_send.c */
ngx_int_t ngx_http_cast_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len);

/* ngx_http_cast_metrics.c */
ngx_int_t ngx_http_cast_metrics_init_conf(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf);
ngx_int_t ngx_http_cast_metrics_handler(ngx_http_request_t *r);
void ngx_http_cast_metrics_request(cast_gql_op_e op, ngx_uint_t error);
void ngx_http_cast_metrics_vote(ngx_uint_t outcome);
void ngx_http_cast_metrics_redis(ngx_msec_t elapsed);
void ngx_http_cast_metrics_reconnect(void);
void ngx_http_cast_metrics_failover(void);
void ngx_http_cast_metrics_replica_read(ngx_uint_t fallback);
void ngx_http_cast_metrics_unacked(void);
void ngx_http_cast_metrics_cache(uint64_t hits, uint64_t misses);
void ngx_http_cast_metrics_replay(void);
void ngx_http_cast_metrics_tick(ngx_msec_t elapsed);
void ngx_http_cast_metrics_streams(ngx_int_t change);
void ngx_http_cast_metrics_events(ngx_uint_t n);
void ngx_http_cast_metrics_dropped(void);


/* vote outcomes, in the order of the metric labels */
enum {
    NGX_HTTP_CAST_VOTE_ACCEPTED = 0,
    NGX_HTTP_CAST_VOTE_INVALID,
    NGX_HTTP_CAST_VOTE_EXPIRED,
    NGX_HTTP_CAST_VOTE_EXHAUSTED,
    NGX_HTTP_CAST_VOTE_BAD_INPUT,
    NGX_HTTP_CAST_VOTE_UNAVAILABLE,
    NGX_HTTP_CAST_VOTE_SHARE,
    NGX_HTTP_CAST_VOTE_NOUTCOMES
};


#endif /* _NGX_HTTP_CAST_MODULE_H_INCLUDED_ */
