#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_conf.h"
#include "cast_kafka.h"
#include "cast_log.h"


#define CAST_KAFKA_EXTRA_MAX  1024


static void cast_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf);
static int cast_kafka_set_extra(rd_kafka_conf_t *conf, const char *extra);
static int cast_kafka_topic_results(rd_kafka_event_t *ev);
static int cast_kafka_partitions(rd_kafka_t *rk, const char *topic,
    int timeout_ms);


int
cast_kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char  errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr))
        != RD_KAFKA_CONF_OK)
    {
        cast_log(CAST_LOG_ERR, "kafka_conf", "%s=%s: %s", name, value,
                 errstr);
        return -1;
    }

    return 0;
}


/* librdkafka's syslog levels into the daemon's structured log */

static void
cast_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
    (void) rk;

    cast_log(level <= 3 ? CAST_LOG_ERR : level <= 5 ? CAST_LOG_WARN
             : level == 6 ? CAST_LOG_INFO : CAST_LOG_DEBUG,
             "librdkafka", "%s: %s", fac, buf);
}


/* "name=value,name=value" */

static int
cast_kafka_set_extra(rd_kafka_conf_t *conf, const char *extra)
{
    char   buf[CAST_KAFKA_EXTRA_MAX], *pair, *save, *eq;

    if (strlen(extra) >= sizeof(buf)) {
        cast_log(CAST_LOG_ERR, "kafka_conf", "kafka_options too long");
        return -1;
    }

    strcpy(buf, extra);

    for (pair = strtok_r(buf, ",", &save); pair != NULL;
         pair = strtok_r(NULL, ",", &save))
    {
        eq = strchr(pair, '=');
        if (eq == NULL) {
            cast_log(CAST_LOG_ERR, "kafka_conf",
                     "kafka_options: \"%s\" is not name=value", pair);
            return -1;
        }

        *eq = '\0';

        if (cast_kafka_set(conf, pair, eq + 1) != 0) {
            return -1;
        }
    }

    return 0;
}


void
cast_kafka_settings_check(const cast_kafka_settings_t *k, const char *prog)
{
    if (k->partitions < 1 || k->partitions > 1000
        || k->replication < 1 || k->replication > 16)
    {
        cast_conf_die(prog, "partitions must be 1..1000 and "
                      "replication 1..16");
    }
}


rd_kafka_conf_t *
cast_kafka_conf(const char *bootstrap, const char *client_id,
    const char *dflt, const char *extra)
{
    rd_kafka_conf_t  *conf;

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, cast_kafka_log);

    if (cast_kafka_set(conf, "bootstrap.servers", bootstrap) != 0
        || cast_kafka_set(conf, "client.id", client_id) != 0
        || cast_kafka_set(conf, "reconnect.backoff.max.ms", "1000") != 0
        || cast_kafka_set_extra(conf, dflt) != 0
        || cast_kafka_set_extra(conf, extra) != 0)
    {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    return conf;
}


rd_kafka_t *
cast_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char         errstr[512];
    rd_kafka_t  *rk;

    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        cast_log(CAST_LOG_ERR, "kafka", "%s", errstr);
        rd_kafka_conf_destroy(conf);
    }

    return rk;
}


rd_kafka_t *
cast_kafka_producer(const char *bootstrap, const char *client_id,
    const char *dflt, const char *extra, cast_kafka_dr_pt dr,
    cast_kafka_error_pt error_cb, void *opaque)
{
    rd_kafka_conf_t  *conf;

    conf = cast_kafka_conf(bootstrap, client_id, dflt, extra);
    if (conf == NULL) {
        return NULL;
    }

    if (cast_kafka_set(conf, "enable.idempotence", "true") != 0
        || cast_kafka_set(conf, "acks", "all") != 0)
    {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    if (error_cb != NULL) {
        rd_kafka_conf_set_error_cb(conf, error_cb);
    }
    rd_kafka_conf_set_opaque(conf, opaque);

    return cast_kafka_new(RD_KAFKA_PRODUCER, conf);
}


static int
cast_kafka_topic_results(rd_kafka_event_t *ev)
{
    int                               rc;
    size_t                            i, n;
    rd_kafka_resp_err_t               err;
    const rd_kafka_topic_result_t   **res;
    const rd_kafka_CreateTopics_result_t  *cr;

    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_ERR, "create_topics", "%s",
                 rd_kafka_event_error_string(ev));
        return -1;
    }

    cr = rd_kafka_event_CreateTopics_result(ev);
    if (cr == NULL) {
        cast_log(CAST_LOG_ERR, "create_topics", "unexpected admin reply");
        return -1;
    }

    res = rd_kafka_CreateTopics_result_topics(cr, &n);
    rc = 0;

    for (i = 0; i < n; i++) {
        err = rd_kafka_topic_result_error(res[i]);

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            cast_log(CAST_LOG_INFO, "create_topics", "created %s",
                     rd_kafka_topic_result_name(res[i]));

        } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            cast_log(CAST_LOG_ERR, "create_topics", "%s: %s",
                     rd_kafka_topic_result_name(res[i]),
                     rd_kafka_topic_result_error_string(res[i]));
            rc = -1;
        }
    }

    return rc;
}


int
cast_kafka_create_topics(rd_kafka_t *rk, const char *topic, int partitions,
    const char *dlq, int dlq_partitions, int replication, int timeout_ms)
{
    int                       rc;
    char                      errstr[512];
    rd_kafka_queue_t         *q;
    rd_kafka_event_t         *ev;
    rd_kafka_NewTopic_t      *nt[2];
    rd_kafka_AdminOptions_t  *opts;

    nt[0] = rd_kafka_NewTopic_new(topic, partitions, replication, errstr,
                                  sizeof(errstr));
    nt[1] = rd_kafka_NewTopic_new(dlq, dlq_partitions, replication, errstr,
                                  sizeof(errstr));

    if (nt[0] == NULL || nt[1] == NULL) {
        cast_log(CAST_LOG_ERR, "create_topics", "%s", errstr);
        rd_kafka_NewTopic_destroy_array(nt, 2);
        return -1;
    }

    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr,
                                                  sizeof(errstr))
        != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
        cast_log(CAST_LOG_ERR, "create_topics", "%s", errstr);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_NewTopic_destroy_array(nt, 2);
        return -1;
    }

    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, 2, opts, q);

    ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev == NULL) {
        cast_log(CAST_LOG_ERR, "create_topics", "no answer from the broker");
        rc = -1;

    } else {
        rc = cast_kafka_topic_results(ev);
        rd_kafka_event_destroy(ev);
    }

    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy_array(nt, 2);

    return rc;
}


static int
cast_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    int                          n;
    rd_kafka_topic_t            *rkt;
    rd_kafka_resp_err_t          err;
    const rd_kafka_metadata_t   *md;

    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL) {
        cast_log(CAST_LOG_ERR, "kafka_metadata", "%s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }

    err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_WARN, "kafka_metadata", "%s: %s", topic,
                 rd_kafka_err2str(err));
        return -1;
    }

    if (md->topic_cnt != 1 || md->topics[0].err) {
        cast_log(CAST_LOG_WARN, "kafka_metadata", "%s: %s", topic,
                 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err)
                               : "no such topic");
        rd_kafka_metadata_destroy(md);
        return -1;
    }

    n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);

    return n;
}


int
cast_kafka_group_lag(rd_kafka_t *rk, const char *topic, int64_t *lag,
    int timeout_ms)
{
    int                                i, n, rc;
    int64_t                            lo, hi, done;
    rd_kafka_resp_err_t                err;
    rd_kafka_topic_partition_list_t   *parts;

    n = cast_kafka_partitions(rk, topic, timeout_ms);
    if (n < 0) {
        return -1;
    }

    parts = rd_kafka_topic_partition_list_new(n);
    for (i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(parts, topic, i);
    }

    err = rd_kafka_committed(rk, parts, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cast_log(CAST_LOG_WARN, "kafka_lag", "committed offsets: %s",
                 rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(parts);
        return -1;
    }

    *lag = 0;
    rc = 0;

    for (i = 0; i < n; i++) {
        err = rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi,
                                               timeout_ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cast_log(CAST_LOG_WARN, "kafka_lag", "%s/%d watermarks: %s",
                     topic, i, rd_kafka_err2str(err));
            rc = -1;
            break;
        }

        /* no commit yet: everything still retained is unconsumed */
        done = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;

        if (hi > done) {
            *lag += hi - done;
        }
    }

    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}
