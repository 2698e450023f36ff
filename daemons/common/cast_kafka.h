/*
 * librdkafka helpers shared by the relay, the persister and cast-admin:
 * checked configuration, topic creation, consumer-group lag.
 */

#ifndef CAST_KAFKA_H
#define CAST_KAFKA_H

#include <stdint.h>
#include <librdkafka/rdkafka.h>


/* The Kafka settings of the relay, the persister and cast-admin */
typedef struct {
    char     *bootstrap;        /* kafka_bootstrap */
    char     *options;          /* kafka_options */
    char     *topic;
    char     *dlq_topic;
    int64_t   partitions;       /* of the topic, when it is created */
    int64_t   replication;      /* of the topics, when they are created */
} cast_kafka_settings_t;


/*
 * The topic shape a daemon creates: 1..1000 partitions, replication
 * 1..16; else prog exits as for any bad setting (cast_conf_die).
 */
void cast_kafka_settings_check(const cast_kafka_settings_t *k,
    const char *prog);


/*
 * A configuration with bootstrap.servers, client.id, a short reconnect
 * backoff, then the "k=v,k=v" pairs of dflt (the caller's defaults) and of
 * extra (the operator's kafka_options, which win), every value checked;
 * NULL (logged) on a bad value.
 */
rd_kafka_conf_t *cast_kafka_conf(const char *bootstrap, const char *client_id,
    const char *dflt, const char *extra);

/*
 * rd_kafka_new() taking conf over: on failure the error is logged and conf
 * destroyed; NULL then.
 */
rd_kafka_t *cast_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);

typedef void (*cast_kafka_dr_pt)(rd_kafka_t *rk,
    const rd_kafka_message_t *msg, void *opaque);
typedef void (*cast_kafka_error_pt)(rd_kafka_t *rk, int err,
    const char *reason, void *opaque);

/*
 * An idempotent producer with acks=all, both set after extra so no
 * kafka_options can weaken what delivery reports promise; reports go to
 * dr (and errors to error_cb, when not NULL) with opaque.  NULL (logged)
 * on failure.
 */
rd_kafka_t *cast_kafka_producer(const char *bootstrap, const char *client_id,
    const char *dflt, const char *extra, cast_kafka_dr_pt dr,
    cast_kafka_error_pt error_cb, void *opaque);

/* rd_kafka_conf_set() with its error logged; 0 or -1 */
int cast_kafka_set(rd_kafka_conf_t *conf, const char *name,
    const char *value);

/*
 * Creates the topic with the given partitions and the dead-letter topic
 * (dlq_partitions), when missing; 0, or -1 (logged).
 */
int cast_kafka_create_topics(rd_kafka_t *rk, const char *topic,
    int partitions, const char *dlq, int dlq_partitions, int replication,
    int timeout_ms);

/*
 * Messages of topic not yet committed by the consumer group of rk (a
 * consumer handle with group.id, subscribed or not), summed over all
 * partitions; 0, or -1 (logged) when the broker cannot tell.
 */
int cast_kafka_group_lag(rd_kafka_t *rk, const char *topic, int64_t *lag,
    int timeout_ms);


#endif /* CAST_KAFKA_H */
