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


/*
 * The rows several programs have: one name, default and help for each
 * setting everywhere.  t: the target.
 */

#define cast_conf_redis_url_row(t)                                            \
    { "redis_url", CAST_CONF_STR, "redis://127.0.0.1:6379", t,                \
      "Redis: redis://[:password@]host:port[/db] or unix:///path[?db=N]" }

/* the primary through Sentinels: "host:port host:port ..." (empty: none) */
#define cast_conf_redis_sentinels_row(t)                                      \
    { "redis_sentinels", CAST_CONF_STR, "", t,                                \
      "Redis Sentinels, host:port separated by spaces; when set, they name "  \
      "the primary and redis_url gives only password and database" }

#define cast_conf_redis_master_name_row(t)                                    \
    { "redis_master_name", CAST_CONF_STR, "cast", t,                          \
      "the name the Redis Sentinels monitor the primary under" }

#define cast_conf_redis_timeout_row(t)                                        \
    { "redis_timeout_ms", CAST_CONF_INT, "2000", t,                           \
      "Redis connect timeout, and each reply's, read whole" }

/* help: when this program loads the library */
#define cast_conf_functions_file_row(t, help)                                 \
    { "functions_file", CAST_CONF_STR, "lib/redis/cast.lua", t,               \
      "Redis function library, " help }

#define cast_conf_kafka_bootstrap_row(t)                                      \
    { "kafka_bootstrap", CAST_CONF_STR, "127.0.0.1:9092", t,                  \
      "Kafka bootstrap servers, host:port[,...]" }

#define cast_conf_kafka_options_row(t)                                        \
    { "kafka_options", CAST_CONF_STR, "", t,                                  \
      "extra librdkafka settings, name=value[,name=value...]" }

#define cast_conf_topic_row(t)                                                \
    { "topic", CAST_CONF_STR, "cast.votes", t,                                \
      "topic of the vote events" }

#define cast_conf_dlq_topic_row(t)                                            \
    { "dlq_topic", CAST_CONF_STR, "cast.votes.dlq", t,                        \
      "dead-letter topic for events that do not decode" }

#define cast_conf_partitions_row(t)                                           \
    { "partitions", CAST_CONF_INT, "6", t,                                    \
      "partitions of the topic when it is created" }

#define cast_conf_replication_row(t)                                          \
    { "replication", CAST_CONF_INT, "1", t,                                   \
      "replication factor of the topics it creates" }

#define cast_conf_group_id_row(t)                                             \
    { "group_id", CAST_CONF_STR, "cast-persister", t,                         \
      "the persisters' consumer group, shared by the replicas" }

#define cast_conf_pg_dsn_row(t)                                               \
    { "pg_dsn", CAST_CONF_STR, "postgresql:///cast", t,                       \
      "PostgreSQL connection string (libpq URI or key=value)" }

#define cast_conf_migrations_dir_row(t)                                       \
    { "migrations_dir", CAST_CONF_STR, "conf/migrations", t,                  \
      "directory of the NNN_name.sql migrations" }

#define cast_conf_restore_chunk_row(t)                                        \
    { "restore_chunk", CAST_CONF_INT, "1000", t,                              \
      "names per FCALL cast_restore" }

#define cast_conf_http_host_row(t)                                            \
    { "http_host", CAST_CONF_STR, "127.0.0.1", t,                             \
      "address of the /metrics and /healthz listener" }

#define cast_conf_http_port_row(t)                                            \
    { "http_port", CAST_CONF_INT, "0", t,                                     \
      "port of the /metrics and /healthz listener; 0 = off" }

#define cast_conf_log_level_row(t, dflt)                                      \
    { "log_level", CAST_CONF_STR, dflt, t, "err, warn, info or debug" }


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
