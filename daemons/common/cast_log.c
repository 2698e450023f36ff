#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cast_log.h"


#define CAST_LOG_MSG_MAX  1024


static const char  *cast_log_prog = "cast";
static int          cast_log_level = CAST_LOG_INFO;

static const char  *cast_log_names[] = { "err", "warn", "info", "debug" };


void
cast_log_open(const char *prog)
{
    cast_log_prog = prog;
}


/* Returns 0, or -1 when the name is not a level. */

int
cast_log_set_level(const char *name)
{
    int  i;

    for (i = CAST_LOG_ERR; i <= CAST_LOG_DEBUG; i++) {
        if (strcasecmp(name, cast_log_names[i]) == 0) {
            cast_log_level = i;
            return 0;
        }
    }

    if (strcasecmp(name, "error") == 0) {
        cast_log_level = CAST_LOG_ERR;
        return 0;
    }

    return -1;
}


/* Quotes and backslashes are escaped, control characters become spaces. */

static void
cast_log_escape(char *dst, size_t size, const char *src)
{
    size_t  n;

    for (n = 0; *src != '\0' && n + 2 < size; src++) {
        if (*src == '"' || *src == '\\') {
            dst[n++] = '\\';
            dst[n++] = *src;

        } else if ((unsigned char) *src < 0x20) {
            dst[n++] = ' ';

        } else {
            dst[n++] = *src;
        }
    }

    dst[n] = '\0';
}


void
cast_log(int level, const char *event, const char *fmt, ...)
{
    char             msg[CAST_LOG_MSG_MAX], esc[2 * CAST_LOG_MSG_MAX], ts[32];
    va_list          ap;
    struct tm        tm;
    struct timespec  now;

    if (level > cast_log_level) {
        return;
    }

    if (level < CAST_LOG_ERR) {
        level = CAST_LOG_ERR;
    }

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    cast_log_escape(esc, sizeof(esc), msg);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    fprintf(stderr, "ts=%s.%03ldZ level=%s prog=%s event=%s msg=\"%s\"\n",
            ts, now.tv_nsec / 1000000, cast_log_names[level], cast_log_prog,
            event, esc);
}
