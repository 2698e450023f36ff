/*
 * libFuzzer target for the outbox event codec.  Any input that decodes is
 * encoded and decoded again: the second event must equal the first, and
 * encoding it must give the same canonical JSON.  cast_event_write(), which
 * the persister points into its COPY buffer, keeps to its size: into a
 * buffer of exactly the size an input's last byte picks (ASan sees a byte
 * past it), it returns the full length, and a buffer that fits gets the
 * canonical JSON.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cast_event.h"


static int
fuzz_same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }

    return strcmp(a, b) == 0;
}


static void
fuzz_write(const cast_event_t *ev, const char *json, size_t size)
{
    char    *buf;
    size_t   len;

    len = strlen(json);

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        __builtin_trap();
    }

    if (cast_event_write(ev, size ? buf : NULL, size) != len
        || (size >= len && memcmp(buf, json, len) != 0))
    {
        __builtin_trap();
    }

    free(buf);
}


static int
fuzz_same_event(const cast_event_t *a, const cast_event_t *b)
{
    size_t  i;

    if (strcmp(a->id, b->id) != 0 || a->ts != b->ts
        || a->ticket != b->ticket || !fuzz_same_str(a->voter, b->voter)
        || a->nvotes != b->nvotes)
    {
        return 0;
    }

    for (i = 0; i < a->nvotes; i++) {
        if (!fuzz_same_str(a->votes[i].user, b->votes[i].user)
            || a->votes[i].n != b->votes[i].n
            || a->votes[i].c != b->votes[i].c
            || a->votes[i].ver != b->votes[i].ver)
        {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *json, *again;
    char           reason[CAST_EVENT_REASON_MAX];
    cast_event_t   ev, ev2;

    reason[0] = '\0';

    if (cast_event_decode((const char *) data, size, &ev, reason,
                          sizeof(reason)) != 0)
    {
        if (reason[0] == '\0') {
            __builtin_trap();
        }

        return 0;
    }

    json = cast_event_encode(&ev);
    if (json == NULL) {
        __builtin_trap();
    }

    fuzz_write(&ev, json, 0);
    fuzz_write(&ev, json, strlen(json));
    fuzz_write(&ev, json, strlen(json) - data[size - 1] % (strlen(json) + 1));

    if (cast_event_decode(json, strlen(json), &ev2, reason, sizeof(reason))
        != 0)
    {
        __builtin_trap();
    }

    again = cast_event_encode(&ev2);

    if (!fuzz_same_event(&ev, &ev2) || again == NULL
        || strcmp(json, again) != 0)
    {
        __builtin_trap();
    }

    free(again);
    free(json);
    cast_event_free(&ev2);
    cast_event_free(&ev);

    return 0;
}
