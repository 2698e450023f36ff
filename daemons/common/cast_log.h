/*
 * One structured line per event on stderr, e.g.
 *   ts=2026-11-25T18:00:00.123Z level=info prog=cast-ticketd event=mint
 *   msg="minted seq=882048000"   (all on one line)
 */

#ifndef CAST_LOG_H
#define CAST_LOG_H


typedef enum {
    CAST_LOG_ERR = 0,
    CAST_LOG_WARN,
    CAST_LOG_INFO,
    CAST_LOG_DEBUG
} cast_log_level_e;


void cast_log_open(const char *prog);
int cast_log_set_level(const char *name);
void cast_log(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


#endif /* CAST_LOG_H */
