/*
 * Daemon configuration: one declarative table per daemon.
 *
 * Each row names a setting, its type, its default and where it is stored.
 * Values come, later ones winning, from the default, the file given with
 * -c FILE / --config FILE ("key = value" lines, # comments) and the
 * environment (CAST_ + the upper-cased name: redis_url -> CAST_REDIS_URL).
 *
 * A row with dflt NULL is required.  A string row with dflt "" is optional
 * and reads as "" when unset.  Strings are heap copies owned by the table
 * until cast_conf_free().
 */

#ifndef CAST_CONF_H
#define CAST_CONF_H

#include <stddef.h>
#include <stdint.h>


typedef enum {
    CAST_CONF_STR,          /* target: char ** */
    CAST_CONF_INT,          /* target: int64_t * */
    CAST_CONF_BOOL          /* target: int *, 0 or 1 */
} cast_conf_type_e;


typedef struct {
    const char        *name;
    cast_conf_type_e   type;
    const char        *dflt;
    void              *target;
    const char        *help;
} cast_conf_t;

#define cast_conf_null_row  { NULL, CAST_CONF_STR, NULL, NULL, NULL }


typedef enum {
    CAST_CONF_OK = 0,
    CAST_CONF_HELP,
    CAST_CONF_ERROR
} cast_conf_rc_e;


/*
 * Parses the command line, the file and the environment into the table.
 * Options stop at the first argument not starting with '-' (or after
 * "--"); *first_arg is set to its index in argv (argc when there is none),
 * so a command like cast-admin reads its subcommand from argv[*first_arg].
 */
cast_conf_rc_e cast_conf_parse(const cast_conf_t *tab, int argc, char **argv,
    int *first_arg, char *err, size_t errlen);

/*
 * cast_conf_parse() for main(): prints usage and exits 0 on --help, prints
 * the error and exits 2 on a bad setting.  Returns the index in argv of
 * the first positional argument (argc when there is none).
 */
int cast_conf_load(const cast_conf_t *tab, int argc, char **argv,
    const char *prog, const char *summary);

/*
 * cast_conf_load() for a daemon: no positional argument, and *log_level
 * (a row of tab) applied to the logger; exits 2 otherwise.  argv[0] and
 * the log line prefix are prog.
 */
void cast_conf_load_daemon(const cast_conf_t *tab, int argc, char **argv,
    const char *prog, const char *summary, char **log_level);

/* Applies a log_level setting, or exits 2 saying what it must be. */
void cast_conf_log_level(const char *prog, const char *level);

/* Prints the error to stderr with a hint about --help and exits 2. */
void cast_conf_die(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

void cast_conf_usage(const cast_conf_t *tab, const char *prog,
    const char *summary);

/* Sets one row from its text form; 0, or -1 with err filled. */
int cast_conf_set(const cast_conf_t *row, const char *value, char *err,
    size_t errlen);

/* The environment variable name of a row: "CAST_" + upper(name) */
void cast_conf_env_name(const cast_conf_t *row, char *buf, size_t size);

void cast_conf_free(const cast_conf_t *tab);


#endif /* CAST_CONF_H */
