/*
 * libFuzzer target for the relay's batch entries: the input, cut at NUL
 * bytes, is an entry's flat field/value list.  Whatever cast_outbox_split()
 * makes of it is well-formed JSON: each event either decodes with the
 * event's own id, or is refused for what its values are (a name that is
 * not valid UTF-8, too long, with a control character; numbers out of
 * range), never as JSON that does not parse.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cast_event.h"
#include "cast_outbox.h"


#define FUZZ_FIELDS_MAX  8192


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  reason[CAST_EVENT_REASON_MAX];
    size_t                i, n, nev, start;
    cast_event_t          ev;
    cast_outbox_str_t    *f;
    cast_outbox_event_t  *events;

    f = malloc(FUZZ_FIELDS_MAX * sizeof(cast_outbox_str_t));
    if (f == NULL) {
        return 0;
    }

    n = 0;
    start = 0;

    for (i = 0; i <= size && n < FUZZ_FIELDS_MAX; i++) {
        if (i == size || data[i] == '\0') {
            f[n].data = (const char *) data + start;
            f[n].len = i - start;
            n++;
            start = i + 1;
        }
    }

    reason[0] = '\0';

    if (cast_outbox_split(f, n, &events, &nev, reason, sizeof(reason))
        != 0)
    {
        if (reason[0] == '\0' || events != NULL || nev != 0) {
            __builtin_trap();
        }

        free(f);
        return 0;
    }

    for (i = 0; i < nev; i++) {
        if (events[i].json == NULL || strlen(events[i].json) != events[i].len)
        {
            __builtin_trap();
        }

        if (cast_event_decode(events[i].json, events[i].len, &ev, reason,
                              sizeof(reason))
            == 0)
        {
            if (strcmp(ev.id, events[i].id) != 0) {
                __builtin_trap();
            }

            cast_event_free(&ev);
            continue;
        }

        if (strstr(reason, "not valid JSON") != NULL
            || strstr(reason, "trailing data") != NULL
            || strstr(reason, "duplicate key") != NULL
            || strstr(reason, "missing field") != NULL
            || strstr(reason, "raw control character") != NULL)
        {
            __builtin_trap();
        }
    }

    cast_outbox_free(events, nev);
    free(f);

    return 0;
}
