#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_log.h"
#include "cast_outbox.h"
#include "cast_redis.h"
#include "cast_restore.h"
#include "cast_time.h"
#include "relay.h"


#define RELAY_REDIS_BACKOFF_MIN  100
#define RELAY_REDIS_BACKOFF_MAX  1000    /* restores count on it: 1 s */
#define RELAY_BACKLOG_MS      1000
#define RELAY_INFLIGHT_TTL_MS 3000


static int relay_redis_setup(redisContext *c, void *data, char *err,
    size_t errlen);
static void relay_redis_lost(relay_t *rl, const char *what, redisReply *r);
static int relay_seen(relay_t *rl, uint64_t ms, uint64_t seq);
static int relay_legacy(relay_entry_t *e, const redisReply *value);
static int relay_batch(relay_entry_t *e, const redisReply *fields);
static int relay_entry(relay_t *rl, const redisReply *item);
static void relay_advance(relay_t *rl);
static int relay_replicated(relay_t *rl);


/* The connection's settings, once the configuration is read */

void
relay_redis_init(relay_t *rl)
{
    cast_redis_init(&rl->redis, RELAY_REDIS_BACKOFF_MIN,
                    RELAY_REDIS_BACKOFF_MAX, relay_redis_setup, rl);
}


/*
 * The server may have restarted with a stream older or newer than the
 * cursor: read it again from the start, and trim nothing of it before a
 * delivery says what.
 */

static int
relay_redis_setup(redisContext *c, void *data, char *err, size_t errlen)
{
    relay_t  *rl = data;

    (void) c;
    (void) err;
    (void) errlen;

    strcpy(rl->cursor, "0-0");
    rl->trim_pending = 0;

    return 0;
}


/* Drops the connection after a failed command; the loop reconnects. */

static void
relay_redis_lost(relay_t *rl, const char *what, redisReply *r)
{
    char  why[512];

    snprintf(why, sizeof(why), "%s: %s", what,
             r == NULL ? rl->redis.ctx->errstr
                       : (r->type == REDIS_REPLY_ERROR ? r->str
                                                       : "unexpected reply"));

    if (r != NULL) {
        freeReplyObject(r);
    }

    /* the next Redis is told at once */
    rl->packed_at = 0;

    cast_redis_lost(&rl->redis, cast_mono_ms(), why);
}


/*
 * Whether an entry read again after a reconnect was handled already: the
 * ring holds a contiguous run of the stream, everything before it was
 * delivered, so any id up to the newest in the ring is known.
 */

static int
relay_seen(relay_t *rl, uint64_t ms, uint64_t seq)
{
    relay_entry_t  *last;

    if (rl->count == 0) {
        return 0;
    }

    last = &rl->ring[(rl->head + rl->count - 1) % rl->inflight_max];

    return ms < last->ms || (ms == last->ms && seq <= last->seq);
}


/*
 * A legacy entry (field "e", written by a cast.lua before the batch
 * entries, still in the outbox after an upgrade): its value is the event,
 * produced unchanged under the entry id.  Without the field: an empty
 * event, which the persister dead-letters.
 */

static int
relay_legacy(relay_entry_t *e, const redisReply *value)
{
    relay_msg_t  *m;

    m = calloc(1, sizeof(relay_msg_t));
    if (m == NULL) {
        return -1;
    }

    m->len = (value != NULL) ? value->len : 0;
    m->value = malloc(m->len + 1);
    if (m->value == NULL) {
        free(m);
        return -1;
    }

    if (value != NULL) {
        memcpy(m->value, value->str, value->len);
    }

    m->entry = e;
    strcpy(m->key, e->id);

    e->msgs = m;
    e->nmsgs = 1;

    return 0;
}


/*
 * A batch entry of cast.lua: one event per vote, its JSON formatted here
 * (cast_outbox.c), keyed by its event id.  One that does not read as a
 * batch goes on as a single empty event, dead-lettered by the persister.
 */

static int
relay_batch(relay_entry_t *e, const redisReply *fields)
{
    char                  reason[CAST_EVENT_REASON_MAX];
    size_t                i, n;
    cast_outbox_str_t    *f;
    cast_outbox_event_t  *ev;

    f = malloc(fields->elements * sizeof(cast_outbox_str_t));
    if (f == NULL) {
        return -1;
    }

    for (i = 0; i < fields->elements; i++) {
        f[i].data = fields->element[i]->str;
        f[i].len = fields->element[i]->len;
    }

    if (cast_outbox_split(f, fields->elements, &ev, &n, reason,
                          sizeof(reason))
        != 0)
    {
        free(f);

        if (strcmp(reason, "out of memory") == 0) {
            return -1;
        }

        cast_log(CAST_LOG_WARN, "outbox", "entry %s: %s", e->id, reason);
        return relay_legacy(e, NULL);
    }

    free(f);

    e->msgs = calloc(n, sizeof(relay_msg_t));
    if (e->msgs == NULL) {
        cast_outbox_free(ev, n);
        return -1;
    }

    for (i = 0; i < n; i++) {
        e->msgs[i].entry = e;
        strcpy(e->msgs[i].key, ev[i].id);
        e->msgs[i].value = ev[i].json;
        e->msgs[i].len = ev[i].len;
        ev[i].json = NULL;
    }

    e->nmsgs = n;
    cast_outbox_free(ev, n);

    return 0;
}


void
relay_entry_free(relay_entry_t *e)
{
    size_t  i;

    for (i = 0; i < e->nmsgs; i++) {
        free(e->msgs[i].value);
    }

    free(e->msgs);
    e->msgs = NULL;
    e->nmsgs = 0;
}


/* One stream entry: [id, [field, value, ...]] into the ring, produced. */

static int
relay_entry(relay_t *rl, const redisReply *item)
{
    int                rc, batch;
    size_t             i;
    relay_entry_t     *e;
    unsigned long long ms, seq;
    const redisReply  *id, *fields, *value;

    if (item->type != REDIS_REPLY_ARRAY || item->elements != 2
        || item->element[0]->type != REDIS_REPLY_STRING
        || item->element[0]->len >= RELAY_ID_MAX
        || sscanf(item->element[0]->str, "%llu-%llu", &ms, &seq) != 2)
    {
        cast_log(CAST_LOG_ERR, "outbox", "unexpected XREAD entry");
        return -1;
    }

    id = item->element[0];

    if (relay_seen(rl, ms, seq)) {
        memcpy(rl->cursor, id->str, id->len + 1);
        return 0;
    }

    fields = item->element[1];

    for (i = 0; fields->type == REDIS_REPLY_ARRAY && i < fields->elements;
         i++)
    {
        if (fields->element[i]->type != REDIS_REPLY_STRING) {
            cast_log(CAST_LOG_ERR, "outbox", "unexpected XREAD entry");
            return -1;
        }
    }

    e = &rl->ring[(rl->head + rl->count) % rl->inflight_max];
    memcpy(e->id, id->str, id->len + 1);
    e->ms = ms;
    e->seq = seq;
    e->msgs = NULL;
    e->nmsgs = 0;

    /*
     * The tag first: in a batch entry a voter or a name stands where a
     * field name does, and may well be "e".
     */
    batch = fields->type == REDIS_REPLY_ARRAY && fields->elements > 0
            && (strcmp(fields->element[0]->str, CAST_OUTBOX_TAG) == 0
                || strcmp(fields->element[0]->str, CAST_OUTBOX_PACKED) == 0);
    value = NULL;

    for (i = 0; !batch && fields->type == REDIS_REPLY_ARRAY
                && i + 1 < fields->elements;
         i += 2)
    {
        if (strcmp(fields->element[i]->str, "e") == 0) {
            value = fields->element[i + 1];
            break;
        }
    }

    if (batch) {
        rc = relay_batch(e, fields);

    } else if (value != NULL) {
        rc = relay_legacy(e, value);

    } else {
        cast_log(CAST_LOG_WARN, "outbox", "entry %s has no field e", e->id);
        rc = relay_legacy(e, NULL);
    }

    if (rc != 0) {
        relay_entry_free(e);
        cast_log(CAST_LOG_ERR, "outbox", "out of memory");
        return -1;
    }

    e->pending = e->nmsgs;

    rl->count++;
    rl->events += e->nmsgs;
    rl->read_total++;
    memcpy(rl->cursor, e->id, id->len + 1);

    for (i = 0; i < e->nmsgs; i++) {
        relay_produce(rl, &e->msgs[i]);
    }

    return 0;
}


/*
 * With redis_min_replicas: whether that many replicas have everything
 * this connection has seen.  WAIT counts up to the connection's last
 * write, so one comes first (the inflight key, after the XREAD): what was
 * read was written before it.  0 when enough acknowledged; -1 otherwise
 * (the entries are read again next turn), or with the connection lost.
 */

static int
relay_replicated(relay_t *rl)
{
    char         n[24], t[24];
    long long    acked;
    redisReply  *r;

    if (rl->min_replicas == 0) {
        return 0;
    }

    relay_publish_inflight(rl);

    if (rl->redis.ctx == NULL) {
        return -1;
    }

    snprintf(n, sizeof(n), "%lld", (long long) rl->min_replicas);
    snprintf(t, sizeof(t), "%lld", (long long) rl->redis.timeout_ms / 2);

    r = cast_redis_command(rl->redis.ctx, "WAIT %s %s", n, t);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        relay_redis_lost(rl, "WAIT", r);
        return -1;
    }

    acked = r->integer;
    freeReplyObject(r);

    if (acked < rl->min_replicas) {
        if (rl->unacked_total++ == 0 || rl->unacked_total % 100 == 0) {
            cast_log(CAST_LOG_WARN, "unreplicated", "%lld of %lld replicas "
                     "have the outbox entries: not producing them yet",
                     acked, (long long) rl->min_replicas);
        }
        return -1;
    }

    return 0;
}


/*
 * XREAD what fits in the ring after the cursor, waiting up to block_ms
 * when the stream has nothing new; the number of entries read.  A reply
 * must come whole within the link's timeout: after a read that did not
 * (a slow network, a backlog of large entries; or Redis gone), the next
 * ones ask for half as many entries, down to one, and each whole reply
 * of as many as asked for grows that by an eighth (one at least) back up
 * to batch_max: slowly, as the size that failed may fail again.  Read
 * again and again at the same size, such a backlog would never be read
 * at all.
 */

int
relay_read(relay_t *rl, int block_ms)
{
    char         count[24], block[24];
    size_t       i, room;
    redisReply  *r, *entries;

    /* entries hold a call's events each: bounded in both */
    room = rl->inflight_max - rl->count;
    if (room == 0 || rl->events >= (size_t) rl->inflight_max) {
        return 0;
    }

    if (room > (size_t) rl->read_max) {
        room = rl->read_max;
    }

    rl->read_full = 0;

    snprintf(count, sizeof(count), "%zu", room);
    snprintf(block, sizeof(block), "%d", block_ms);

    r = (block_ms > 0)
        ? cast_redis_command(rl->redis.ctx,
                             "XREAD COUNT %s BLOCK %s STREAMS %s %s",
                             count, block, CAST_KEY_OUTBOX, rl->cursor)
        : cast_redis_command(rl->redis.ctx, "XREAD COUNT %s STREAMS %s %s",
                             count, CAST_KEY_OUTBOX, rl->cursor);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        if (r == NULL && rl->read_max > 1) {
            rl->read_max /= 2;
            cast_log(CAST_LOG_WARN, "outbox", "XREAD failed: reading %lld "
                     "entries at a time now", (long long) rl->read_max);
        }

        relay_redis_lost(rl, "XREAD", r);
        return 0;
    }


    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1
        || r->element[0]->type != REDIS_REPLY_ARRAY
        || r->element[0]->elements != 2)
    {
        freeReplyObject(r);     /* nil: nothing new */
        return 0;
    }

    entries = r->element[0]->element[1];

    if (entries->elements == room) {
        rl->read_full = 1;

        if (rl->read_max < rl->batch_max) {
            rl->read_max += (rl->read_max / 8 > 0) ? rl->read_max / 8 : 1;
            if (rl->read_max > rl->batch_max) {
                rl->read_max = rl->batch_max;
            }
        }
    }

    if (entries->elements > 0 && relay_replicated(rl) != 0) {
        freeReplyObject(r);     /* read again from the cursor next turn */
        return 0;
    }

    for (i = 0; i < entries->elements; i++) {
        if (relay_entry(rl, entries->element[i]) != 0) {
            break;
        }
    }

    freeReplyObject(r);
    return (int) i;
}


/* Pops the delivered prefix of the ring; the stream may lose it. */

static void
relay_advance(relay_t *rl)
{
    relay_entry_t  *e;

    while (rl->count > 0) {
        e = &rl->ring[rl->head];

        if (e->pending != 0) {
            break;
        }

        rl->trim_ms = e->ms;
        rl->trim_seq = e->seq + 1;
        rl->trim_pending = 1;

        rl->events -= e->nmsgs;
        relay_entry_free(e);

        rl->head = (rl->head + 1) % rl->inflight_max;
        rl->count--;
    }
}


void
relay_trim(relay_t *rl)
{
    char         minid[RELAY_ID_MAX];
    redisReply  *r;

    relay_advance(rl);

    if (!rl->trim_pending || rl->redis.ctx == NULL) {
        return;
    }

    snprintf(minid, sizeof(minid), "%" PRIu64 "-%" PRIu64, rl->trim_ms,
             rl->trim_seq);

    r = cast_redis_command(rl->redis.ctx, "XTRIM %s MINID %s",
                           CAST_KEY_OUTBOX, minid);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        relay_redis_lost(rl, "XTRIM", r);
        return;
    }

    freeReplyObject(r);
    rl->trim_pending = 0;
    rl->trims_total++;
}


/*
 * What the ring holds, for a restore to wait on: those events are in
 * neither the outbox nor Kafka.  And that this relay reads packed outbox
 * entries: cast.lua writes them only while {cast}:relay:packed says so,
 * so no new one is written for a relay of an older CAST, which would
 * dead-letter them (one that starts while packed entries are left needs
 * them drained first: docs/redis.md, "Outbox entry").  Both expire when
 * the relay is gone; the second is said again a third of its life later,
 * not at each turn.
 */

void
relay_publish_inflight(relay_t *rl)
{
    char         n[24], ttl[24];
    int64_t      now;
    redisReply  *r;

    snprintf(n, sizeof(n), "%zu", rl->count);
    snprintf(ttl, sizeof(ttl), "%d", RELAY_INFLIGHT_TTL_MS);

    r = cast_redis_command(rl->redis.ctx, "SET %s %s PX %s",
                           CAST_KEY_RELAY_INFLIGHT, n, ttl);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        relay_redis_lost(rl, "SET " CAST_KEY_RELAY_INFLIGHT, r);
        return;
    }

    freeReplyObject(r);

    now = cast_mono_ms();
    if (now < rl->packed_at) {
        return;
    }

    r = cast_redis_command(rl->redis.ctx, "SET %s 1 PX %s",
                           CAST_KEY_RELAY_PACKED, ttl);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        relay_redis_lost(rl, "SET " CAST_KEY_RELAY_PACKED, r);
        return;
    }

    freeReplyObject(r);

    rl->packed_at = now + RELAY_INFLIGHT_TTL_MS / 3;
}


/*
 * A relay that stops says at once that it no longer reads packed entries
 * (a relay of an older CAST may start next); best effort, as it expires.
 */

void
relay_unpublish(relay_t *rl)
{
    redisReply  *r;

    if (rl->redis.ctx == NULL) {
        return;
    }

    r = cast_redis_command(rl->redis.ctx, "DEL %s", CAST_KEY_RELAY_PACKED);
    if (r != NULL) {
        freeReplyObject(r);
    }
}


void
relay_backlog(relay_t *rl, int64_t now)
{
    int64_t  n;

    if (now < rl->backlog_at) {
        return;
    }

    rl->backlog_at = now + RELAY_BACKLOG_MS;

    n = cast_restore_outbox_len(rl->redis.ctx);
    if (n < 0) {
        cast_redis_lost(&rl->redis, now, "XLEN " CAST_KEY_OUTBOX " failed");
        return;
    }

    rl->backlog = n;
}
