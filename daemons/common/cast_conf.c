#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cast_conf.h"
#include "cast_log.h"


#define CAST_CONF_ROWS_MAX  64
#define CAST_CONF_LINE_MAX  4096


static int cast_conf_count(const cast_conf_t *tab, char *err, size_t errlen);
static const cast_conf_t *cast_conf_find(const cast_conf_t *tab,
    const char *name);
static int cast_conf_defaults(const cast_conf_t *tab, char *err,
    size_t errlen);
static int cast_conf_file(const cast_conf_t *tab, const char *path,
    char *set, char *err, size_t errlen);
static int cast_conf_line(const cast_conf_t *tab, char *line, char *set,
    char *err, size_t errlen);
static int cast_conf_env(const cast_conf_t *tab, char *set, char *err,
    size_t errlen);
static int cast_conf_check(const cast_conf_t *tab, const char *set,
    char *err, size_t errlen);
static cast_conf_rc_e cast_conf_args(int argc, char **argv,
    const char **file, int *first_arg, char *err, size_t errlen);
static char *cast_conf_trim(char *s);
static const char *cast_conf_type_name(cast_conf_type_e type);


cast_conf_rc_e
cast_conf_parse(const cast_conf_t *tab, int argc, char **argv, int *first_arg,
    char *err, size_t errlen)
{
    int             n;
    char            set[CAST_CONF_ROWS_MAX];
    const char     *file;
    cast_conf_rc_e  rc;

    n = cast_conf_count(tab, err, errlen);
    if (n < 0) {
        return CAST_CONF_ERROR;
    }

    rc = cast_conf_args(argc, argv, &file, first_arg, err, errlen);
    if (rc != CAST_CONF_OK) {
        return rc;
    }

    memset(set, 0, sizeof(set));

    if (cast_conf_defaults(tab, err, errlen) != 0
        || (file != NULL
            && cast_conf_file(tab, file, set, err, errlen) != 0)
        || cast_conf_env(tab, set, err, errlen) != 0
        || cast_conf_check(tab, set, err, errlen) != 0)
    {
        return CAST_CONF_ERROR;
    }

    return CAST_CONF_OK;
}


int
cast_conf_load(const cast_conf_t *tab, int argc, char **argv,
    const char *prog, const char *summary)
{
    int             first;
    char            err[512];
    cast_conf_rc_e  rc;

    rc = cast_conf_parse(tab, argc, argv, &first, err, sizeof(err));

    switch (rc) {

    case CAST_CONF_HELP:
        cast_conf_usage(tab, prog, summary);
        exit(0);

    case CAST_CONF_ERROR:
        cast_conf_die(prog, "%s", err);

    default:
        return first;
    }
}


void
cast_conf_load_daemon(const cast_conf_t *tab, int argc, char **argv,
    const char *prog, const char *summary, char **log_level)
{
    cast_log_open(prog);

    if (cast_conf_load(tab, argc, argv, prog, summary) != argc) {
        cast_conf_die(prog, "unexpected argument \"%s\"", argv[argc - 1]);
    }

    cast_conf_log_level(prog, *log_level);
}


void
cast_conf_log_level(const char *prog, const char *level)
{
    if (cast_log_set_level(level) != 0) {
        cast_conf_die(prog, "log_level: \"%s\" is not err, warn, info or "
                      "debug", level);
    }
}


void
cast_conf_die(const char *prog, const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "%s: ", prog);

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);

    fprintf(stderr, "\n(try %s --help)\n", prog);
    exit(2);
}


void
cast_conf_usage(const cast_conf_t *tab, const char *prog, const char *summary)
{
    char  env[128];

    printf("Usage: %s [-c FILE | --config FILE] [--help]\n\n%s\n\n"
           "Settings: \"key = value\" lines in FILE; the environment variable"
           " overrides\nthe file.  Settings without a default are required."
           "\n\n", prog, summary);

    for ( /* void */ ; tab->name != NULL; tab++) {
        cast_conf_env_name(tab, env, sizeof(env));

        printf("  %-16s %-4s  env %s\n", tab->name,
               cast_conf_type_name(tab->type), env);
        printf("      %s\n", tab->help);

        if (tab->dflt == NULL) {
            printf("      required\n");

        } else if (tab->dflt[0] != '\0') {
            printf("      default: %s\n", tab->dflt);
        }
    }
}


int
cast_conf_set(const cast_conf_t *row, const char *value, char *err,
    size_t errlen)
{
    char       *end, *copy;
    long long   v;

    switch (row->type) {

    case CAST_CONF_STR:
        copy = strdup(value);
        if (copy == NULL) {
            snprintf(err, errlen, "%s: out of memory", row->name);
            return -1;
        }

        free(*(char **) row->target);
        *(char **) row->target = copy;
        return 0;

    case CAST_CONF_INT:
        errno = 0;
        v = strtoll(value, &end, 10);

        if (errno != 0 || end == value || *end != '\0') {
            snprintf(err, errlen, "%s: \"%s\" is not an integer",
                     row->name, value);
            return -1;
        }

        *(int64_t *) row->target = v;
        return 0;

    default: /* CAST_CONF_BOOL */
        if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "on") == 0
            || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
        {
            *(int *) row->target = 1;
            return 0;
        }

        if (strcasecmp(value, "no") == 0 || strcasecmp(value, "off") == 0
            || strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
        {
            *(int *) row->target = 0;
            return 0;
        }

        snprintf(err, errlen, "%s: \"%s\" is not a boolean (yes/no)",
                 row->name, value);
        return -1;
    }
}


void
cast_conf_env_name(const cast_conf_t *row, char *buf, size_t size)
{
    size_t       n;
    const char  *p;

    n = (size_t) snprintf(buf, size, "CAST_");

    for (p = row->name; *p != '\0' && n + 1 < size; p++) {
        buf[n++] = (char) toupper((unsigned char) *p);
    }

    buf[n] = '\0';
}


void
cast_conf_free(const cast_conf_t *tab)
{
    for ( /* void */ ; tab->name != NULL; tab++) {
        if (tab->type == CAST_CONF_STR) {
            free(*(char **) tab->target);
            *(char **) tab->target = NULL;
        }
    }
}


static int
cast_conf_count(const cast_conf_t *tab, char *err, size_t errlen)
{
    int  n;

    for (n = 0; tab[n].name != NULL; n++) {
        if (n == CAST_CONF_ROWS_MAX) {
            snprintf(err, errlen, "too many settings in the table");
            return -1;
        }
    }

    return n;
}


static const cast_conf_t *
cast_conf_find(const cast_conf_t *tab, const char *name)
{
    for ( /* void */ ; tab->name != NULL; tab++) {
        if (strcmp(tab->name, name) == 0) {
            return tab;
        }
    }

    return NULL;
}


static int
cast_conf_defaults(const cast_conf_t *tab, char *err, size_t errlen)
{
    for ( /* void */ ; tab->name != NULL; tab++) {
        if (tab->dflt != NULL) {
            if (cast_conf_set(tab, tab->dflt, err, errlen) != 0) {
                return -1;
            }

        } else if (tab->type == CAST_CONF_STR) {
            free(*(char **) tab->target);
            *(char **) tab->target = NULL;
        }
    }

    return 0;
}


static int
cast_conf_file(const cast_conf_t *tab, const char *path, char *set,
    char *err, size_t errlen)
{
    int    lineno, rc;
    char   line[CAST_CONF_LINE_MAX], msg[256];
    FILE  *f;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open config file %s: %s",
                 path, strerror(errno));
        return -1;
    }

    rc = 0;

    for (lineno = 1; fgets(line, sizeof(line), f) != NULL; lineno++) {

        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(msg, sizeof(msg), "line too long");
            rc = -1;

        } else {
            rc = cast_conf_line(tab, line, set, msg, sizeof(msg));
        }

        if (rc != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            break;
        }
    }

    fclose(f);

    return rc;
}


static int
cast_conf_line(const cast_conf_t *tab, char *line, char *set, char *err,
    size_t errlen)
{
    char               *key, *value, *eq;
    size_t              n;
    const cast_conf_t  *row;

    key = cast_conf_trim(line);

    if (*key == '\0' || *key == '#') {
        return 0;
    }

    eq = strchr(key, '=');
    if (eq == NULL) {
        snprintf(err, errlen, "expected \"key = value\"");
        return -1;
    }

    *eq = '\0';
    key = cast_conf_trim(key);
    value = cast_conf_trim(eq + 1);

    n = strlen(value);
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
        value[n - 1] = '\0';
        value++;
    }

    row = cast_conf_find(tab, key);
    if (row == NULL) {
        snprintf(err, errlen, "unknown setting \"%.64s\"", key);
        return -1;
    }

    set[row - tab] = 1;

    return cast_conf_set(row, value, err, errlen);
}


static int
cast_conf_env(const cast_conf_t *tab, char *set, char *err, size_t errlen)
{
    char               name[128], msg[256];
    const char        *value;
    const cast_conf_t  *row;

    for (row = tab; row->name != NULL; row++) {
        cast_conf_env_name(row, name, sizeof(name));

        value = getenv(name);
        if (value == NULL) {
            continue;
        }

        if (cast_conf_set(row, value, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "environment %s: %s", name, msg);
            return -1;
        }

        set[row - tab] = 1;
    }

    return 0;
}


static int
cast_conf_check(const cast_conf_t *tab, const char *set, char *err,
    size_t errlen)
{
    char               env[128];
    const cast_conf_t  *row;

    for (row = tab; row->name != NULL; row++) {
        if (row->dflt != NULL || set[row - tab]) {
            continue;
        }

        cast_conf_env_name(row, env, sizeof(env));
        snprintf(err, errlen, "%s is required (config file or %s)",
                 row->name, env);
        return -1;
    }

    return 0;
}


static cast_conf_rc_e
cast_conf_args(int argc, char **argv, const char **file, int *first_arg,
    char *err, size_t errlen)
{
    int          i;
    const char  *a;

    *file = NULL;

    for (i = 1; i < argc; i++) {
        a = argv[i];

        if (a[0] != '-') {
            break;
        }

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return CAST_CONF_HELP;
        }

        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 == argc) {
                snprintf(err, errlen, "%s needs a file name", a);
                return CAST_CONF_ERROR;
            }

            *file = argv[++i];
            continue;
        }

        if (strncmp(a, "--config=", 9) == 0) {
            *file = a + 9;
            continue;
        }

        snprintf(err, errlen, "unknown option \"%.64s\"", a);
        return CAST_CONF_ERROR;
    }

    *first_arg = i;

    return CAST_CONF_OK;
}


static char *
cast_conf_trim(char *s)
{
    char  *end;

    while (isspace((unsigned char) *s)) {
        s++;
    }

    end = s + strlen(s);

    while (end > s && isspace((unsigned char) end[-1])) {
        end--;
    }

    *end = '\0';

    return s;
}


static const char *
cast_conf_type_name(cast_conf_type_e type)
{
    switch (type) {
    case CAST_CONF_STR:
        return "str";
    case CAST_CONF_INT:
        return "int";
    default:
        return "bool";
    }
}
