
/*
 * Copyright (C) CAST developers
 *
 * cast-soak: the load client of `make soak` (scripts/soak.sh).  One
 * thread, one epoll loop, keep-alive connections to nginx on loopback,
 * a bounded request rate, and one connection to Redis that pauses it now
 * and then.  Every request carries its own token, soakq<id>q, in its
 * aliases; every answer must be JSON that echoes exactly its own.
 */

#ifndef SOAK_H
#define SOAK_H

#include <stddef.h>
#include <stdint.h>


#define SOAK_MAX_FIELDS    24     /* vote fields (aliases) per request */
#define SOAK_MAX_NAMES     4      /* usernames per vote field */
#define SOAK_MAX_PIPE      6      /* requests written at once */
#define SOAK_MAX_ANSWER    (4 << 20)
#define SOAK_TIMEOUT_MS    15000  /* an answer later than this is a hang */


/* what a request is: a kind of traffic, each with its own check */
typedef enum {
    SOAK_QUERY = 0,     /* query(username:) under its own alias */
    SOAK_VOTE,          /* one vote field, inline names, own alias */
    SOAK_ALIASED,       /* several aliased vote fields in one request */
    SOAK_CAS,           /* the current ticket */
    SOAK_CHURN,         /* a distinct {__typename} document: cache churn */
    SOAK_ERROR,         /* validation errors, now and then a flood */
    SOAK_INTRO,         /* introspection, now and then the amplifier */
    SOAK_BADTICKET,     /* a vote with a forged ticket */
    SOAK_ABORT,         /* a vote whose client leaves before the answer */
    SOAK_NKINDS
} soak_kind_e;


/* how a request ended */
typedef enum {
    SOAK_OK = 0,        /* answered as it must be */
    SOAK_REJECTED,      /* a vote answered success:false (ticket) */
    SOAK_UNAVAILABLE,   /* a GraphQL error UNAVAILABLE (Redis paused) */
    SOAK_ABORTED,       /* we left on purpose */
    SOAK_NGOOD,
    /* failures from here on: each fails the soak */
    SOAK_BAD_HTTP = SOAK_NGOOD, /* not HTTP/1.1, no length, bad status */
    SOAK_BAD_JSON,      /* the body does not parse */
    SOAK_MISMATCH,      /* JSON, but not the answer to this request */
    SOAK_FOREIGN,       /* carries another request's token */
    SOAK_RESET,         /* connection lost with the request unanswered */
    SOAK_HANG,          /* no answer within SOAK_TIMEOUT_MS */
    SOAK_NOUTCOMES
} soak_outcome_e;


typedef struct {
    uint16_t  name[SOAK_MAX_NAMES];     /* index into the name pool */
    uint8_t   count[SOAK_MAX_NAMES];
    uint8_t   n;
} soak_field_t;


typedef struct soak_req_s  soak_req_t;

struct soak_req_s {
    uint64_t       id;
    soak_kind_e    kind;
    int            variant;
    int            heavy;           /* a hostile variant: may be refused */
    int            uncertain_pool;  /* its names come from the abort pool */
    int            nfields;
    soak_field_t   field[SOAK_MAX_FIELDS];
    char          *text;            /* the whole HTTP request */
    size_t         len;
};


#define SOAK_CODES  16              /* GraphQL error codes counted */


typedef struct {
    uint64_t  sent[SOAK_NKINDS];
    char      code[SOAK_CODES][32];     /* extensions.code seen, "" none */
    uint64_t  code_count[SOAK_CODES];
    uint64_t  outcome[SOAK_NKINDS][SOAK_NOUTCOMES];
    uint64_t  pipelined;            /* requests written with others */
    uint64_t  slow;                 /* requests written byte by byte */
    uint64_t  slow_read;            /* answers read slowly */
    uint64_t  pauses;
    uint64_t  pause_ms;
    uint64_t  accepted_names;       /* name-votes acknowledged */
    uint64_t  connect_errors;
    uint64_t  pause_errors;
    uint64_t  pipeline_cut;         /* unanswered after Connection: close */
    uint64_t  churn_in_pause;       /* documents sent while Redis paused */
} soak_stats_t;


typedef enum {
    SOAK_PLAIN = 0,     /* written at once */
    SOAK_SLOW,          /* written a few bytes at a time */
    SOAK_LEAVE_WAITING, /* written, the client leaves while it waits */
    SOAK_LEAVE_BODY,    /* half the body written, the client leaves */
    SOAK_SLOW_READ      /* the answer read a few hundred bytes at a time */
} soak_mode_e;


/* the shape of a request of a kind */
#define SOAK_LIGHT  0
#define SOAK_HEAVY  1       /* hostile: may be refused by a limit */
#define SOAK_WIDE   2       /* introspection: an answer of some 18 KB */


typedef struct soak_conn_s  soak_conn_t;


/* soak.c */

void soak_record(soak_req_t *rq, soak_outcome_e o, const char *why,
    const char *answer, size_t len);
int64_t soak_now(void);


/* soak_conn.c: keep-alive connections to nginx */

void soak_conn_init(int epfd, int port, int n);
soak_conn_t *soak_conn_idle(int narrow);
int soak_conn_start(soak_conn_t *c, soak_req_t **rqs, int n,
    soak_mode_e mode);
void soak_conn_event(soak_conn_t *c, uint32_t events);
int64_t soak_conn_timers(int64_t now);
int soak_conn_busy(void);
int soak_conn_slow(void);


/* soak_kind.c: building requests */

void soak_kind_init(const char *tag, unsigned names);
void soak_set_ticket(const char *ticket, size_t len);
int soak_have_ticket(void);
soak_req_t *soak_req_new(soak_kind_e kind, int shape);
void soak_req_free(soak_req_t *rq);
const char *soak_name(int uncertain_pool, unsigned i);
void soak_alias(soak_req_t *rq, int i, char *buf, size_t size);
const char *soak_kind_name(soak_kind_e kind);
const char *soak_outcome_name(soak_outcome_e o);


/* soak_check.c: what each answer must be */

soak_outcome_e soak_check(soak_req_t *rq, int status, const char *body,
    size_t len, char *why, size_t why_size);


/* soak_ledger.c: the votes acknowledged and those that may have counted */

void soak_ledger_init(unsigned names);
void soak_ledger_add(soak_req_t *rq, soak_field_t *f, int sure);
void soak_ledger_uncertain(soak_req_t *rq);
int soak_ledger_write(const char *path);


extern soak_stats_t  soak_stats;

#endif /* SOAK_H */
