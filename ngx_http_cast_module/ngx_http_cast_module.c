
/*
 * Copyright (C) CAST developers
 */


#include "ngx_http_cast_module.h"


static void *ngx_http_cast_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_cast_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_cast_init_process(ngx_cycle_t *cycle);
static void ngx_http_cast_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_cast_commands[] = {

    { ngx_string("cast_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cast_redis_sentinel"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_cast_conf_sentinel,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cast_redis_master_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, master_name),
      NULL },

    { ngx_string("cast_redis_min_replicas"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, min_replicas),
      NULL },

    { ngx_string("cast_redis_primary_fsync"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, primary_fsync),
      NULL },

    { ngx_string("cast_redis_replica_reads"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, replica_reads),
      NULL },

    { ngx_string("cast_redis_password"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, redis_password),
      NULL },

    { ngx_string("cast_redis_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, redis_db),
      NULL },

    { ngx_string("cast_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("cast_redis_functions"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, functions),
      NULL },

    { ngx_string("cast_ticket_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, ticket_secret),
      NULL },

    { ngx_string("cast_max_usernames"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_usernames),
      NULL },

    { ngx_string("cast_max_vote_count"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_vote_count),
      NULL },

    { ngx_string("cast_max_vote_fields"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_vote_fields),
      NULL },

    { ngx_string("cast_client_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, client_key),
      NULL },

    { ngx_string("cast_client_uses"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, client_uses),
      &ngx_http_cast_count_off },

    { ngx_string("cast_max_top_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_top_limit),
      NULL },

    { ngx_string("cast_subscription_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, subscription_interval),
      NULL },

    { ngx_string("cast_subscription_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, subscription_keepalive),
      NULL },

    { ngx_string("cast_max_subscribers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_subscribers),
      NULL },

    { ngx_string("cast_max_subscribers_per_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_client_subscribers),
      &ngx_http_cast_count_off },

    { ngx_string("cast_max_watched_names"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_watched_names),
      NULL },

    { ngx_string("cast_max_watched_names_per_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_client_names),
      &ngx_http_cast_count_off },

    { ngx_string("cast_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, max_body_size),
      NULL },

    { ngx_string("cast_max_query_length"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_query_len),
      NULL },

    { ngx_string("cast_max_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_tokens),
      NULL },

    { ngx_string("cast_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_depth),
      NULL },

    { ngx_string("cast_max_fields"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_fields),
      NULL },

    { ngx_string("cast_max_aliases"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_aliases),
      NULL },

    { ngx_string("cast_max_list_length"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_list_len),
      NULL },

    { ngx_string("cast_max_introspection_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_introspection),
      NULL },

    { ngx_string("cast_max_result_items"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.max_result_items),
      NULL },

    { ngx_string("cast_document_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_conf_set_count_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, limits.cache_entries),
      NULL },

    { ngx_string("cast_introspection"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, introspection),
      NULL },

    { ngx_string("cast_graphiql"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, graphiql),
      NULL },

    { ngx_string("cast_graphiql_page"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, graphiql_page),
      NULL },

    { ngx_string("cast_graphql"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_conf_location,
      0,
      0,
      ngx_http_cast_graphql_handler },

    { ngx_string("cast_schema"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_conf_location,
      0,
      0,
      ngx_http_cast_schema_handler },

    { ngx_string("cast_healthz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_conf_location,
      0,
      0,
      ngx_http_cast_healthz_handler },

    { ngx_string("cast_readyz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_conf_location,
      0,
      0,
      ngx_http_cast_readyz_handler },

    { ngx_string("cast_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_conf_location,
      0,
      0,
      ngx_http_cast_metrics_handler },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_cast_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_cast_create_main_conf,        /* create main configuration */
    ngx_http_cast_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_cast_module = {
    NGX_MODULE_V1,
    &ngx_http_cast_module_ctx,             /* module context */
    ngx_http_cast_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_cast_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_cast_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_cast_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_cast_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_cast_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->redis = { 0 };
     *     cmcf->redis_password = { 0, NULL };
     *     cmcf->functions = { 0, NULL };
     *     cmcf->ticket_secret = { 0, NULL };
     *     cmcf->client_key = NULL;
     *     cmcf->graphiql_page = { 0, NULL };
     *     cmcf->metrics_zone = NULL;
     *     cmcf->sentinels = NULL;
     *     cmcf->master_name = { 0, NULL };
     */

    cmcf->min_replicas = NGX_CONF_UNSET_SIZE;
    cmcf->primary_fsync = NGX_CONF_UNSET;
    cmcf->replica_reads = NGX_CONF_UNSET;

    cmcf->redis_db = NGX_CONF_UNSET_UINT;
    cmcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    cmcf->max_usernames = NGX_CONF_UNSET_SIZE;
    cmcf->max_vote_count = NGX_CONF_UNSET_SIZE;
    cmcf->max_vote_fields = NGX_CONF_UNSET_SIZE;
    cmcf->max_body_size = NGX_CONF_UNSET_SIZE;
    cmcf->client_uses = NGX_CONF_UNSET_SIZE;
    cmcf->max_top_limit = NGX_CONF_UNSET_SIZE;
    cmcf->subscription_interval = NGX_CONF_UNSET_MSEC;
    cmcf->subscription_keepalive = NGX_CONF_UNSET_MSEC;
    cmcf->max_subscribers = NGX_CONF_UNSET_SIZE;
    cmcf->max_client_subscribers = NGX_CONF_UNSET_SIZE;
    cmcf->max_client_names = NGX_CONF_UNSET_SIZE;
    cmcf->max_watched_names = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_query_len = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_tokens = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_depth = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_fields = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_aliases = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_list_len = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_introspection = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_result_items = NGX_CONF_UNSET_SIZE;
    cmcf->limits.cache_entries = NGX_CONF_UNSET_SIZE;
    cmcf->introspection = NGX_CONF_UNSET;
    cmcf->graphiql = NGX_CONF_UNSET;

    return cmcf;
}


static char *
ngx_http_cast_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_cast_main_conf_t *cmcf = conf;

    ngx_conf_init_uint_value(cmcf->redis_db, 0);
    ngx_conf_init_msec_value(cmcf->redis_timeout, 1000);
    ngx_conf_init_size_value(cmcf->min_replicas, 0);
    ngx_conf_init_value(cmcf->primary_fsync, 0);
    ngx_conf_init_value(cmcf->replica_reads, 0);
    ngx_conf_init_size_value(cmcf->max_usernames, 100);
    ngx_conf_init_size_value(cmcf->max_vote_count, 10);
    ngx_conf_init_size_value(cmcf->max_vote_fields, 4);
    ngx_conf_init_size_value(cmcf->max_body_size, 64 * 1024);
    ngx_conf_init_size_value(cmcf->client_uses, 0);
    ngx_conf_init_size_value(cmcf->max_top_limit, 100);
    ngx_conf_init_msec_value(cmcf->subscription_interval, 100);
    ngx_conf_init_msec_value(cmcf->subscription_keepalive, 15000);
    ngx_conf_init_size_value(cmcf->max_subscribers, 1000);
    ngx_conf_init_size_value(cmcf->max_client_subscribers, 0);
    ngx_conf_init_size_value(cmcf->max_client_names, 0);
    ngx_conf_init_size_value(cmcf->max_watched_names, 1000);
    ngx_conf_init_size_value(cmcf->limits.max_query_len, 16 * 1024);
    ngx_conf_init_size_value(cmcf->limits.max_tokens, 4096);
    ngx_conf_init_size_value(cmcf->limits.max_depth, 16);
    ngx_conf_init_size_value(cmcf->limits.max_fields, 512);
    ngx_conf_init_size_value(cmcf->limits.max_aliases, 64);
    ngx_conf_init_size_value(cmcf->limits.max_list_len, 1000);
    ngx_conf_init_size_value(cmcf->limits.max_introspection, 64 * 1024);
    /* max_result_items: ngx_http_cast_conf_check(), from the others */
    ngx_conf_init_size_value(cmcf->limits.cache_entries, 256);
    ngx_conf_init_value(cmcf->introspection, 1);
    ngx_conf_init_value(cmcf->graphiql, 1);

    if (cmcf->graphiql_page.data == NULL) {
        ngx_str_set(&cmcf->graphiql_page, "/graphiql.html");
    }

    return ngx_http_cast_conf_check(cf, cmcf);
}


static ngx_int_t
ngx_http_cast_init_process(ngx_cycle_t *cycle)
{
    ngx_http_cast_main_conf_t  *cmcf;

    /* the cache manager and loader serve no requests */
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_cast_module);
    if (cmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_cast_engine_init(cmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (cmcf->redis.url.len == 0 && cmcf->sentinels == NULL) {
        return NGX_OK;
    }

    return ngx_http_cast_redis_init(cycle, cmcf);
}


static void
ngx_http_cast_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_cast_sse_exit();
    ngx_http_cast_watch_exit();
    ngx_http_cast_redis_exit();
    ngx_http_cast_sentinel_exit();
    ngx_http_cast_batch_exit();
    ngx_http_cast_replay_exit();
    ngx_http_cast_engine_exit();
}
