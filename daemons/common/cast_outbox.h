/*
 * The outbox stream's entries of cast.lua (docs/redis.md, "Outbox
 * entry"): one stream entry holds the events of a batch's accepted votes
 * as plain strings.  A batch entry's fields and values, read as one flat
 * list:
 *
 *   "b" ts  { seq use voter k  { name n c ver } * k } * votes
 *
 * (numbers in decimal, voter "" for none).  A packed entry holds votes of
 * one name counted once, of one ticket, its uses one after the other,
 * as one field "p" whose value is these strings joined by '\n':
 *
 *   ts seq first  { len(voter) voter len(name) name c ver } * votes
 *
 * (a voter or a name is exactly its length's bytes, '\n' or not).
 * cast_outbox_split() turns either into one version 1 event per vote,
 * the JSON byte for byte as cast.lua formatted it before (its
 * string.format and cjson escapes), so that consumers see no change.
 */

#ifndef CAST_OUTBOX_H
#define CAST_OUTBOX_H

#include <stddef.h>

#include "cast_event.h"


#define CAST_OUTBOX_TAG       "b"
#define CAST_OUTBOX_PACKED    "p"
#define CAST_OUTBOX_NUM_MAX   16          /* digits: 2^53 - 1 has 16 */


typedef struct {
    const char   *data;
    size_t        len;
} cast_outbox_str_t;


typedef struct {
    char          id[CAST_EVENT_ID_MAX];  /* <seq>-<use>, the Kafka key */
    char         *json;                   /* malloc'd */
    size_t        len;
} cast_outbox_event_t;


/*
 * The events of the entry whose flat field/value list is f[0..n-1]: 0
 * with *events (free it with cast_outbox_free) and *nevents set, or -1
 * with reason set and nothing to free.
 */
int cast_outbox_split(const cast_outbox_str_t *f, size_t n,
    cast_outbox_event_t **events, size_t *nevents, char *reason,
    size_t reasonlen);

void cast_outbox_free(cast_outbox_event_t *events, size_t n);

/* Whether a string is written escaped, as cjson writes it (see .c) */
int cast_outbox_needs_escape(const char *s, size_t len);


#endif /* CAST_OUTBOX_H */
