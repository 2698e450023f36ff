/*
 * The daemon config loader (defaults, file, environment, errors, --help,
 * positional arguments), the Redis URL parser and the log line format.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cast_conf.h"
#include "cast_log.h"
#include "cast_redis.h"


#define nargs(a)  ((int) (sizeof(a) / sizeof(a[0])) - 1)


static char    *url;
static char    *name;
static int64_t  period;
static int64_t  required;
static int      flag;

static const cast_conf_t  tab[] = {
    { "redis_url", CAST_CONF_STR, "redis://127.0.0.1:6379", &url, "redis" },
    { "name", CAST_CONF_STR, "", &name, "optional string" },
    { "period_ms", CAST_CONF_INT, "2000", &period, "an int" },
    { "required_int", CAST_CONF_INT, NULL, &required, "required" },
    { "flag", CAST_CONF_BOOL, "no", &flag, "a bool" },
    cast_conf_null_row
};


static void
write_file(const char *path, const char *text)
{
    FILE  *f;

    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}


static cast_conf_rc_e
parse(int argc, char **argv, int *first, char *err, size_t errlen)
{
    err[0] = '\0';

    return cast_conf_parse(tab, argc, argv, first, err, errlen);
}


static void
test_defaults_and_env(void)
{
    int    first;
    char   err[256];
    char  *argv[] = { "prog", NULL };

    /* required_int has no default */
    unsetenv("CAST_REQUIRED_INT");
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, "required_int is required") != NULL);
    test_ok(strstr(err, "CAST_REQUIRED_INT") != NULL);

    setenv("CAST_REQUIRED_INT", "-7", 1);
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err)) == CAST_CONF_OK);
    test_ok(first == 1);
    test_ok(strcmp(url, "redis://127.0.0.1:6379") == 0);
    test_ok(strcmp(name, "") == 0);
    test_ok(period == 2000);
    test_ok(required == -7);
    test_ok(flag == 0);

    setenv("CAST_PERIOD_MS", "12x", 1);
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, "CAST_PERIOD_MS") != NULL);
    test_ok(strstr(err, "not an integer") != NULL);

    setenv("CAST_PERIOD_MS", "99999999999999999999", 1);
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);

    setenv("CAST_PERIOD_MS", "", 1);
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);

    unsetenv("CAST_PERIOD_MS");
    setenv("CAST_FLAG", "maybe", 1);
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, "not a boolean") != NULL);

    setenv("CAST_FLAG", "On", 1);
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err)) == CAST_CONF_OK);
    test_ok(flag == 1);

    unsetenv("CAST_FLAG");
    unsetenv("CAST_REQUIRED_INT");
}


static void
test_file(const char *path)
{
    int    first;
    char   err[256];
    char  *argv[] = { "prog", "-c", (char *) path, "restore", "-x", NULL };
    char  *argv2[] = { "prog", "--config=/nonexistent/x.conf", NULL };

    write_file(path,
               "# a comment\n"
               "\n"
               "   redis_url = unix:///tmp/r.sock?db=2  \n"
               "name = \"two words\"\n"
               "period_ms=500\n"
               "required_int = 3\n"
               "flag = yes\n");

    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err)) == CAST_CONF_OK);
    test_ok(first == 3);
    test_ok(strcmp(argv[first], "restore") == 0);
    test_ok(strcmp(url, "unix:///tmp/r.sock?db=2") == 0);
    test_ok(strcmp(name, "two words") == 0);
    test_ok(period == 500);
    test_ok(required == 3);
    test_ok(flag == 1);

    /* the environment overrides the file */
    setenv("CAST_PERIOD_MS", "700", 1);
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err)) == CAST_CONF_OK);
    test_ok(period == 700);
    unsetenv("CAST_PERIOD_MS");

    write_file(path, "required_int = 1\nperiod = 5\n");
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, ":2: unknown setting \"period\"") != NULL);

    write_file(path, "required_int = 1\njust words\n");
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, ":2: expected \"key = value\"") != NULL);

    write_file(path, "period_ms = 1.5\n");
    test_ok(parse(nargs(argv), argv, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, ":1: period_ms: \"1.5\" is not an integer") != NULL);

    test_ok(parse(nargs(argv2), argv2, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, "cannot open config file /nonexistent/x.conf")
            != NULL);
}


static void
test_options(void)
{
    int    first;
    char   err[256];
    char  *help[] = { "prog", "--help", NULL };
    char  *bad[] = { "prog", "--verbose", NULL };
    char  *noarg[] = { "prog", "-c", NULL };
    char  *dash[] = { "prog", "--", "-x", NULL };

    test_ok(parse(nargs(help), help, &first, err, sizeof(err))
            == CAST_CONF_HELP);

    test_ok(parse(nargs(bad), bad, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, "unknown option \"--verbose\"") != NULL);

    test_ok(parse(nargs(noarg), noarg, &first, err, sizeof(err))
            == CAST_CONF_ERROR);
    test_ok(strstr(err, "needs a file name") != NULL);

    setenv("CAST_REQUIRED_INT", "1", 1);
    test_ok(parse(nargs(dash), dash, &first, err, sizeof(err)) == CAST_CONF_OK);
    test_ok(first == 2);
    unsetenv("CAST_REQUIRED_INT");
}


/* Runs cast_conf_load in a child; returns its exit status and output */

static int
run_load(char **argv, int argc, char *out, size_t size)
{
    int      fds[2], status;
    pid_t    pid;
    ssize_t  n;
    size_t   len;

    if (pipe(fds) != 0) {
        return -1;
    }

    fflush(stdout);
    pid = fork();

    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        cast_conf_load(tab, argc, argv, "prog", "Does things.");
        exit(100);
    }

    close(fds[1]);

    for (len = 0; len + 1 < size; len += (size_t) n) {
        n = read(fds[0], out + len, size - 1 - len);
        if (n <= 0) {
            break;
        }
    }

    out[len] = '\0';
    close(fds[0]);

    waitpid(pid, &status, 0);

    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


static void
test_load_exits(void)
{
    char   out[8192];
    char  *help[] = { "prog", "--help", NULL };
    char  *none[] = { "prog", NULL };

    unsetenv("CAST_REQUIRED_INT");

    test_ok(run_load(help, nargs(help), out, sizeof(out)) == 0);
    test_ok(strstr(out, "Usage: prog") != NULL);
    test_ok(strstr(out, "Does things.") != NULL);
    test_ok(strstr(out, "redis_url") != NULL);
    test_ok(strstr(out, "env CAST_REDIS_URL") != NULL);
    test_ok(strstr(out, "default: redis://127.0.0.1:6379") != NULL);
    test_ok(strstr(out, "env CAST_REQUIRED_INT") != NULL);
    test_ok(strstr(out, "required") != NULL);

    test_ok(run_load(none, nargs(none), out, sizeof(out)) == 2);
    test_ok(strstr(out, "prog: required_int is required") != NULL);

    setenv("CAST_REQUIRED_INT", "5", 1);
    test_ok(run_load(none, nargs(none), out, sizeof(out)) == 100);
    unsetenv("CAST_REQUIRED_INT");
}


static void
test_redis_url(void)
{
    char              err[256];
    cast_redis_url_t  u;

    test_ok(cast_redis_parse_url("redis://127.0.0.1:21001", &u, err,
                                 sizeof(err)) == 0);
    test_ok(strcmp(u.host, "127.0.0.1") == 0 && u.port == 21001 && u.db == 0);
    test_ok(u.password[0] == '\0');

    test_ok(cast_redis_parse_url("redis://:s3cret@redis.local/4", &u, err,
                                 sizeof(err)) == 0);
    test_ok(strcmp(u.host, "redis.local") == 0 && u.port == 6379);
    test_ok(u.db == 4 && strcmp(u.password, "s3cret") == 0);
    test_ok(u.user[0] == '\0');

    test_ok(cast_redis_parse_url("redis://cast:pw@h:1/", &u, err,
                                 sizeof(err)) == 0);
    test_ok(strcmp(u.user, "cast") == 0 && strcmp(u.password, "pw") == 0);
    test_ok(u.port == 1 && u.db == 0);

    test_ok(cast_redis_parse_url("unix:///run/redis.sock?db=3&password=x", &u,
                                 err, sizeof(err)) == 0);
    test_ok(strcmp(u.host, "/run/redis.sock") == 0 && u.port == 0);
    test_ok(u.db == 3 && strcmp(u.password, "x") == 0);

    test_ok(cast_redis_parse_url("http://h", &u, err, sizeof(err)) == -1);
    test_ok(strstr(err, "expected redis://") != NULL);
    test_ok(cast_redis_parse_url("redis://", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("redis://h:", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("redis://h:0", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("redis://h:70000", &u, err, sizeof(err))
            == -1);
    test_ok(cast_redis_parse_url("redis://h:12a", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("redis://h/x", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("redis://pw@h", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("unix://", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("unix://rel.sock", &u, err, sizeof(err))
            == -1);
    test_ok(cast_redis_parse_url("unix:///s?db=x", &u, err, sizeof(err)) == -1);
    test_ok(cast_redis_parse_url("unix:///s?dbx=1", &u, err, sizeof(err))
            == -1);
}


static void
test_log(void)
{
    int      fds[2], saved;
    char     out[1024];
    ssize_t  n;

    if (pipe(fds) != 0) {
        test_ok(0);
        return;
    }

    fflush(stderr);
    saved = dup(2);
    dup2(fds[1], 2);

    cast_log_open("cast-test");
    test_ok(cast_log_set_level("warn") == 0);
    cast_log(CAST_LOG_INFO, "hidden", "not shown");
    cast_log(CAST_LOG_WARN, "shown", "say \"hi\"\\ now\n");
    test_ok(cast_log_set_level("loud") == -1);
    test_ok(cast_log_set_level("info") == 0);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);

    n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';

    test_ok(strstr(out, "hidden") == NULL);
    test_ok(strncmp(out, "ts=", 3) == 0);
    test_ok(strlen(out) > 27 && out[13] == 'T' && out[26] == 'Z');
    test_ok(strstr(out, " level=warn prog=cast-test event=shown "
                        "msg=\"say \\\"hi\\\"\\\\ now \"\n") != NULL);
}


int
main(void)
{
    char  path[] = "/tmp/cast-test-conf-XXXXXX";
    int   fd;

    fd = mkstemp(path);
    if (fd == -1) {
        printf("test_conf: mkstemp failed\n");
        return 1;
    }

    close(fd);

    /* the table's keys, from whatever stack this shell had sourced */
    unsetenv("CAST_REDIS_URL");
    unsetenv("CAST_NAME");
    unsetenv("CAST_PERIOD_MS");
    unsetenv("CAST_FLAG");

    test_defaults_and_env();
    test_file(path);
    test_options();
    test_load_exits();
    test_redis_url();
    test_log();

    unlink(path);
    cast_conf_free(tab);

    return test_done("test_conf");
}
