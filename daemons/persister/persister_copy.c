/*
 * The events of a batch as one COPY in PostgreSQL's binary format: no
 * ON CONFLICT probe of the primary key before each insert, no array
 * literal to parse, no timestamp to compute.  A known event id (a
 * replay) fails the COPY with unique_violation; the caller then applies
 * the batch again with ON CONFLICT DO NOTHING (persister_pg.c).
 *
 * Each row: the field count, then per field its length (-1: NULL) and
 * its bytes: event_id and voter as text, ts as a timestamptz
 * (microseconds since 2000-01-01 UTC), ticket_seq as an int8, payload as
 * json (its text).  Integers are big-endian.
 */

#include <stdlib.h>
#include <string.h>

#include "cast_log.h"
#include "cast_pg.h"
#include "persister.h"


#define PERSISTER_COPY_CHUNK   (64 * 1024)  /* bytes sent at a time */
#define PERSISTER_COPY_FIELDS  5

/* 2000-01-01 00:00:00 UTC, PostgreSQL's epoch, in Unix milliseconds */
#define PERSISTER_PG_EPOCH_MS  946684800000LL

#define PERSISTER_SQLSTATE_UNIQUE  "23505"

/*
 * A send that failed ends the COPY as failed, never as done: PostgreSQL
 * takes a binary COPY that stops between two rows, without the trailer,
 * as complete, and would commit the rows it had, the rest of the batch
 * lost.
 */
#define PERSISTER_COPY_UNSENT  "sending the batch failed"


static const char  persister_sql_copy[] =
    "COPY vote_events (event_id, ts, ticket_seq, voter, payload) "
    "FROM STDIN (FORMAT binary)";

/* signature, flags, header extension length */
static const char  persister_copy_header[19] =
    "PGCOPY\n\377\r\n\0" "\0\0\0\0" "\0\0\0\0";


static int persister_copy_room(persister_t *p, size_t n);
static void persister_copy_put(persister_t *p, const void *data, size_t n);
static void persister_copy_uint(persister_t *p, uint64_t v, size_t n);
static void persister_copy_text(persister_t *p, const char *s);
static void persister_copy_payload(persister_t *p, const cast_event_t *ev);
static void persister_copy_row(persister_t *p, const cast_event_t *ev);
static int persister_copy_send(persister_t *p);
static int persister_copy_end(persister_t *p, const char *failed);


/* Room for n more bytes; 0, or -1 (copy_failed set) without memory. */

static int
persister_copy_room(persister_t *p, size_t n)
{
    char    *data;
    size_t   size;

    if (p->copy_failed) {
        return -1;
    }

    if (p->copy_len + n <= p->copy_size) {
        return 0;
    }

    size = p->copy_size ? p->copy_size : 2 * PERSISTER_COPY_CHUNK;
    while (p->copy_len + n > size) {
        size *= 2;
    }

    data = realloc(p->copy, size);
    if (data == NULL) {
        p->copy_failed = 1;
        return -1;
    }

    p->copy = data;
    p->copy_size = size;

    return 0;
}


static void
persister_copy_put(persister_t *p, const void *data, size_t n)
{
    if (persister_copy_room(p, n) == 0) {
        memcpy(p->copy + p->copy_len, data, n);
        p->copy_len += n;
    }
}


/* the low n bytes of v, big-endian */

static void
persister_copy_uint(persister_t *p, uint64_t v, size_t n)
{
    size_t         i;
    unsigned char  b[8];

    for (i = 0; i < n; i++) {
        b[i] = (unsigned char) (v >> (8 * (n - 1 - i)));
    }

    persister_copy_put(p, b, n);
}


static void
persister_copy_text(persister_t *p, const char *s)
{
    size_t  n;

    n = strlen(s);

    persister_copy_uint(p, n, 4);
    persister_copy_put(p, s, n);
}


/* the canonical JSON, written in place after its length */

static void
persister_copy_payload(persister_t *p, const cast_event_t *ev)
{
    size_t  at, len;

    if (persister_copy_room(p, 4) != 0) {
        return;
    }

    at = p->copy_len;
    p->copy_len += 4;

    len = cast_event_write(ev, p->copy + p->copy_len,
                           p->copy_size - p->copy_len);

    if (len > p->copy_size - p->copy_len) {
        if (persister_copy_room(p, len) != 0) {
            return;
        }

        cast_event_write(ev, p->copy + p->copy_len, len);
    }

    p->copy_len += len;

    p->copy[at] = (char) (len >> 24);
    p->copy[at + 1] = (char) (len >> 16);
    p->copy[at + 2] = (char) (len >> 8);
    p->copy[at + 3] = (char) len;
}


static void
persister_copy_row(persister_t *p, const cast_event_t *ev)
{
    persister_copy_uint(p, PERSISTER_COPY_FIELDS, 2);

    persister_copy_text(p, ev->id);

    persister_copy_uint(p, 8, 4);
    persister_copy_uint(p, (uint64_t) ((ev->ts - PERSISTER_PG_EPOCH_MS)
                                       * 1000), 8);

    persister_copy_uint(p, 8, 4);
    persister_copy_uint(p, (uint64_t) ev->ticket, 8);

    if (ev->voter != NULL) {
        persister_copy_text(p, ev->voter);

    } else {
        persister_copy_uint(p, 0xffffffff, 4);
    }

    persister_copy_payload(p, ev);
}


/* What is buffered to the server; 0, or -1 (the COPY is over). */

static int
persister_copy_send(persister_t *p)
{
    int  rc;

    rc = PQputCopyData(p->pg, p->copy, (int) p->copy_len);
    p->copy_len = 0;

    return (rc == 1) ? 0 : -1;
}


/*
 * Ends the COPY (aborted with the reason failed, unless NULL) and reads
 * its results: 0 with the rows in p->tx_rows, PERSISTER_KNOWN when an
 * event id was there already, or -1 (logged).
 */

static int
persister_copy_end(persister_t *p, const char *failed)
{
    int          rc;
    char         msg[512];
    PGresult    *res;
    const char  *state;

    /*
     * An end libpq could not send leaves the connection in the COPY, where
     * PQgetResult() answers PGRES_COPY_IN for ever: it is dropped, and made
     * again before the batch is retried.
     */
    if (PQputCopyEnd(p->pg, failed) != 1) {
        snprintf(msg, sizeof(msg), "cannot end it: %s", PQerrorMessage(p->pg));
        goto stuck;
    }

    rc = 0;

    while ((res = PQgetResult(p->pg)) != NULL) {
        if (PQresultStatus(res) == PGRES_COPY_IN) {
            PQclear(res);
            snprintf(msg, sizeof(msg), "still in progress");
            goto stuck;
        }

        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            p->tx_rows += strtoll(PQcmdTuples(res), NULL, 10);

        } else if (rc == 0) {
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            rc = -1;

            /* the server's own verdict, even when the end was a failure */
            if (state != NULL
                && strcmp(state, PERSISTER_SQLSTATE_UNIQUE) == 0)
            {
                rc = PERSISTER_KNOWN;

            } else {
                snprintf(msg, sizeof(msg), "%s",
                         PQresultErrorMessage(res));
                msg[strcspn(msg, "\n")] = '\0';
                cast_log(CAST_LOG_ERR, "pg", "copy: %s%s%s",
                         failed ? failed : "", failed ? ": " : "", msg);
            }
        }

        PQclear(res);
    }

    return rc;

stuck:

    msg[strcspn(msg, "\n")] = '\0';
    cast_log(CAST_LOG_ERR, "pg", "copy: %s", msg);
    PQfinish(p->pg);
    p->pg = NULL;

    return -1;
}


/*
 * The events (sorted by id, each once) into vote_events: 0,
 * PERSISTER_KNOWN when one is there already, or -1.  The caller rolls
 * the transaction back unless 0.
 */

int
persister_copy_events(persister_t *p, persister_item_t **sorted, size_t n)
{
    size_t     i;
    PGresult  *res;

    res = cast_pg_query(p->pg, persister_sql_copy, 0, NULL, PGRES_COPY_IN);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    p->copy_len = 0;
    p->copy_failed = 0;

    persister_copy_put(p, persister_copy_header,
                       sizeof(persister_copy_header));

    for (i = 0; i < n; i++) {
        persister_copy_row(p, &sorted[i]->ev);

        if (p->copy_len >= PERSISTER_COPY_CHUNK && !p->copy_failed
            && persister_copy_send(p) != 0)
        {
            return persister_copy_end(p, PERSISTER_COPY_UNSENT);
        }
    }

    persister_copy_uint(p, 0xffff, 2);

    if (p->copy_failed) {
        return persister_copy_end(p, "out of memory building a batch");
    }

    if (persister_copy_send(p) != 0) {
        return persister_copy_end(p, PERSISTER_COPY_UNSENT);
    }

    return persister_copy_end(p, NULL);
}
