/*
 * The outbox vote event, version 1 (docs/redis.md):
 *
 *   {"v":1,"id":"<ticket seq>-<use>","ts":ms,"ticket":seq,
 *    "voter":str|null,"votes":[{"u":name,"n":added,"c":total,"ver":v}]}
 *
 * cast_event_decode() validates everything a consumer relies on and says
 * why an event is refused; cast_event_encode() writes the canonical form
 * (the payload PostgreSQL stores, and test events).
 */

#ifndef CAST_EVENT_H
#define CAST_EVENT_H

#include <stddef.h>
#include <stdint.h>


#define CAST_EVENT_VERSION     1
#define CAST_EVENT_MAX_BYTES   (256 * 1024)
#define CAST_EVENT_MAX_VOTES   1000         /* MAX_NAMES of cast.lua */
#define CAST_EVENT_NAME_MAX    1024         /* bytes of a username or voter */
#define CAST_EVENT_ID_MAX      48

/* integers must survive a JSON double: |x| <= 2^53 */
#define CAST_EVENT_INT_MAX     9007199254740992LL

#define CAST_EVENT_REASON_MAX  128


typedef struct {
    char         *user;
    int64_t       n;            /* votes added, >= 1 */
    int64_t       c;            /* new total, >= n */
    int64_t       ver;          /* new version, >= 1 */
} cast_event_vote_t;


typedef struct {
    char               id[CAST_EVENT_ID_MAX];
    int64_t            ts;
    int64_t            ticket;
    char              *voter;   /* NULL: no voter */
    cast_event_vote_t *votes;
    size_t             nvotes;
} cast_event_t;


/*
 * 0 with ev filled (free it with cast_event_free), or -1 with reason set
 * and nothing to free.
 */
int cast_event_decode(const char *data, size_t len, cast_event_t *ev,
    char *reason, size_t reasonlen);

void cast_event_free(cast_event_t *ev);

/* The canonical JSON (malloc'd, NUL-terminated), or NULL without memory */
char *cast_event_encode(const cast_event_t *ev);

/*
 * The canonical JSON into buf when it fits in size bytes (no NUL is
 * written); its length either way, as snprintf() counts.
 */
size_t cast_event_write(const cast_event_t *ev, char *buf, size_t size);


#endif /* CAST_EVENT_H */
