#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_ticket.h"
#include "ticketd.h"


#define TICKETD_SECRET_ENV  "CAST_TICKET_SECRET"


static int ticketd_secret_read(ticketd_t *td, char *err, size_t errlen);


/*
 * The HMAC secret comes from ticket_secret_file or from CAST_TICKET_SECRET,
 * never from a default: a guessable secret would let anyone forge tickets.
 */

int
ticketd_secret_load(ticketd_t *td, char *err, size_t errlen)
{
    size_t       len;
    const char  *env;

    env = getenv(TICKETD_SECRET_ENV);

    if (td->secret_file[0] != '\0' && env != NULL) {
        snprintf(err, errlen, "both ticket_secret_file and %s are set; "
                 "set one", TICKETD_SECRET_ENV);
        return -1;
    }

    if (td->secret_file[0] != '\0') {
        if (ticketd_secret_read(td, err, errlen) != 0) {
            return -1;
        }

    } else if (env != NULL) {
        len = strlen(env);

        if (len > TICKETD_SECRET_MAX) {
            snprintf(err, errlen, "%s is longer than %d bytes",
                     TICKETD_SECRET_ENV, TICKETD_SECRET_MAX);
            return -1;
        }

        memcpy(td->secret, env, len);
        td->secret_len = len;

    } else {
        snprintf(err, errlen, "no ticket secret: set ticket_secret_file "
                 "or %s (at least %d bytes)", TICKETD_SECRET_ENV,
                 CAST_TICKET_SECRET_MIN);
        return -1;
    }

    if (td->secret_len < CAST_TICKET_SECRET_MIN) {
        snprintf(err, errlen, "the ticket secret has %zu bytes; at least %d "
                 "are required", td->secret_len, CAST_TICKET_SECRET_MIN);
        return -1;
    }

    return 0;
}


/* The file's bytes without their line ending, the rule nginx applies too */

static int
ticketd_secret_read(ticketd_t *td, char *err, size_t errlen)
{
    int     big;
    FILE   *f;
    size_t  n;

    f = fopen(td->secret_file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "ticket_secret_file %s: %s", td->secret_file,
                 strerror(errno));
        return -1;
    }

    n = fread(td->secret, 1, TICKETD_SECRET_MAX, f);
    big = (n == TICKETD_SECRET_MAX && fgetc(f) != EOF);

    if (ferror(f) || big) {
        snprintf(err, errlen, "ticket_secret_file %s: %s", td->secret_file,
                 big ? "too long" : "read error");
        fclose(f);
        return -1;
    }

    fclose(f);

    td->secret_len = cast_ticket_secret_len(td->secret, n);

    return 0;
}
