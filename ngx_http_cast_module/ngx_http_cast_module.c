
/*
 * Copyright (C) CAST developers
 */


#include "ngx_http_cast_module.h"
#include "cast_ticket.h"


static void *ngx_http_cast_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_cast_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_cast_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cast_sentinel(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cast_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cast_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cast_conf_set_count_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_cast_client_uses(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_cast_client_key_default(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_init_process(ngx_cycle_t *cycle);
static void ngx_http_cast_exit_process(ngx_cycle_t *cycle);


/* a count that may be "off" (0) instead, as it takes no 0 */
static ngx_conf_post_t  ngx_http_cast_count_off;


static ngx_command_t  ngx_http_cast_commands[] = {

    { ngx_string("cast_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cast_redis_sentinel"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_cast_sentinel,
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
      ngx_http_cast_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, functions),
      NULL },

    { ngx_string("cast_ticket_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cast_file,
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
      ngx_http_cast_client_uses,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_cast_main_conf_t, client_uses),
      NULL },

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
      ngx_http_cast_location,
      0,
      0,
      ngx_http_cast_graphql_handler },

    { ngx_string("cast_schema"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_location,
      0,
      0,
      ngx_http_cast_schema_handler },

    { ngx_string("cast_healthz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_location,
      0,
      0,
      ngx_http_cast_healthz_handler },

    { ngx_string("cast_readyz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_location,
      0,
      0,
      ngx_http_cast_readyz_handler },

    { ngx_string("cast_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cast_location,
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

    cmcf->redis_db = NGX_CONF_UNSET_UINT;
    cmcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    cmcf->max_usernames = NGX_CONF_UNSET_SIZE;
    cmcf->max_vote_count = NGX_CONF_UNSET_SIZE;
    cmcf->max_vote_fields = NGX_CONF_UNSET_SIZE;
    cmcf->max_body_size = NGX_CONF_UNSET_SIZE;
    cmcf->client_uses = NGX_CONF_UNSET_UINT;
    cmcf->max_top_limit = NGX_CONF_UNSET_SIZE;
    cmcf->subscription_interval = NGX_CONF_UNSET_MSEC;
    cmcf->subscription_keepalive = NGX_CONF_UNSET_MSEC;
    cmcf->max_subscribers = NGX_CONF_UNSET_SIZE;
    cmcf->max_client_subscribers = NGX_CONF_UNSET_SIZE;
    cmcf->max_watched_names = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_query_len = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_tokens = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_depth = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_fields = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_aliases = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_list_len = NGX_CONF_UNSET_SIZE;
    cmcf->limits.max_introspection = NGX_CONF_UNSET_SIZE;
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
    ngx_conf_init_size_value(cmcf->max_usernames, 100);
    ngx_conf_init_size_value(cmcf->max_vote_count, 10);
    ngx_conf_init_size_value(cmcf->max_vote_fields, 4);
    ngx_conf_init_size_value(cmcf->max_body_size, 64 * 1024);
    ngx_conf_init_uint_value(cmcf->client_uses, 0);
    ngx_conf_init_size_value(cmcf->max_top_limit, 100);
    ngx_conf_init_msec_value(cmcf->subscription_interval, 100);
    ngx_conf_init_msec_value(cmcf->subscription_keepalive, 15000);
    ngx_conf_init_size_value(cmcf->max_subscribers, 1000);
    ngx_conf_init_size_value(cmcf->max_client_subscribers, 0);
    ngx_conf_init_size_value(cmcf->max_watched_names, 1000);
    ngx_conf_init_size_value(cmcf->limits.max_query_len, 16 * 1024);
    ngx_conf_init_size_value(cmcf->limits.max_tokens, 4096);
    ngx_conf_init_size_value(cmcf->limits.max_depth, 16);
    ngx_conf_init_size_value(cmcf->limits.max_fields, 512);
    ngx_conf_init_size_value(cmcf->limits.max_aliases, 64);
    ngx_conf_init_size_value(cmcf->limits.max_list_len, 1000);
    ngx_conf_init_size_value(cmcf->limits.max_introspection, 64 * 1024);
    ngx_conf_init_size_value(cmcf->limits.cache_entries, 256);
    ngx_conf_init_value(cmcf->introspection, 1);
    ngx_conf_init_value(cmcf->graphiql, 1);

    if (cmcf->graphiql_page.data == NULL) {
        ngx_str_set(&cmcf->graphiql_page, "/graphiql.html");
    }

    if (cmcf->graphiql_page.len == 0 || cmcf->graphiql_page.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_graphiql_page must be a URI starting "
                           "with \"/\", not \"%V\"", &cmcf->graphiql_page);
        return NGX_CONF_ERROR;
    }

    cmcf->limits.introspection = cmcf->introspection;

    /*
     * lib/redis/cast.lua takes at most 1000 names per vote and a count of
     * at most 1000000 (MAX_ADD): a vote nginx lets through must not be
     * refused by Redis, which the client would see as UNAVAILABLE
     */
    if (cmcf->max_usernames < 1 || cmcf->max_usernames > 1000
        || cmcf->max_vote_count < 1 || cmcf->max_vote_count > 1000000
        || cmcf->max_vote_fields < 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_max_usernames must be 1..1000, "
                           "cast_max_vote_count must be 1..1000000, "
                           "cast_max_vote_fields at least 1");
        return NGX_CONF_ERROR;
    }

    /* cast_board and cast_watch give at most 1000 (MAX_TOP) */
    if (cmcf->max_top_limit > 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_max_top_limit must be 0..1000");
        return NGX_CONF_ERROR;
    }

    /* cast_watch reads at most 1000 names a tick */
    if (cmcf->max_watched_names > 1000 || cmcf->subscription_interval < 10
        || cmcf->subscription_keepalive < 1000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_max_watched_names must be 0..1000, "
                           "cast_subscription_interval at least 10ms, "
                           "cast_subscription_keepalive at least 1s");
        return NGX_CONF_ERROR;
    }

    if (cmcf->limits.max_list_len < cmcf->max_usernames) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_max_list_length must not be less than "
                           "cast_max_usernames");
        return NGX_CONF_ERROR;
    }

    /* the file's line ending is not part of the key (as for ticketd) */
    cmcf->ticket_secret.len = cast_ticket_secret_len(cmcf->ticket_secret.data,
                                                     cmcf->ticket_secret.len);

    if (cmcf->ticket_secret.data
        && cmcf->ticket_secret.len < CAST_TICKET_SECRET_MIN)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_ticket_secret_file: the secret must be "
                           "at least 32 bytes");
        return NGX_CONF_ERROR;
    }

    if (cmcf->redis.url.len && cmcf->sentinels) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cast_redis\" and \"cast_redis_sentinel\" "
                           "exclude each other");
        return NGX_CONF_ERROR;
    }

    if (cmcf->sentinels && cmcf->master_name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cast_redis_sentinel\" needs "
                           "\"cast_redis_master_name\"");
        return NGX_CONF_ERROR;
    }

    if ((cmcf->redis.url.len || cmcf->sentinels)
        && cmcf->functions.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cast_redis\" needs \"cast_redis_functions\"");
        return NGX_CONF_ERROR;
    }

    if (cmcf->client_key == NULL
        && ngx_http_cast_client_key_default(cf, cmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* WAIT waits a quarter of the timeout: what waits behind it answers */
    if (cmcf->min_replicas && cmcf->redis_timeout < 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cast_redis_min_replicas\" needs a "
                           "\"cast_redis_timeout\" of at least 4ms");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_cast_metrics_init_conf(cf, cmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* cast_client_key's default: the client's address, 4 or 16 bytes */

static ngx_int_t
ngx_http_cast_client_key_default(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf)
{
    ngx_str_t                          value;
    ngx_http_compile_complex_value_t   ccv;

    ngx_str_set(&value, "$binary_remote_addr");

    cmcf->client_key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cmcf->client_key == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value;
    ccv.complex_value = cmcf->client_key;

    return ngx_http_compile_complex_value(&ccv);
}


/*
 * cast_client_uses off | n: at most n uses of one ticket per client key,
 * 1..1000000 (what cast_vote_batch takes)
 */

static char *
ngx_http_cast_client_uses(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cast_main_conf_t *cmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (cmcf->client_uses != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        cmcf->client_uses = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);
    if (n < 1 || n > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cast_client_uses\" takes \"off\" or a plain "
                           "number 1..1000000, not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    cmcf->client_uses = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


/* cast_redis 127.0.0.1:6379 | unix:/path; names are resolved here, once */

static char *
ngx_http_cast_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cast_main_conf_t *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->redis.url.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cmcf->redis.url = value[1];
    cmcf->redis.default_port = 6379;

    if (ngx_parse_url(cf->pool, &cmcf->redis) != NGX_OK) {
        if (cmcf->redis.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                               cmcf->redis.err, &value[1]);
        }
        return NGX_CONF_ERROR;
    }

    if (cmcf->redis.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "no address for \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * cast_redis_sentinel 127.0.0.1:26379 ...; the Sentinels are asked, in
 * turn, for the address of the primary; their names are resolved here
 */

static char *
ngx_http_cast_sentinel(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cast_main_conf_t *cmcf = conf;

    ngx_str_t   *value;
    ngx_url_t   *u;
    ngx_uint_t   i;

    if (cmcf->sentinels) {
        return "is duplicate";
    }

    cmcf->sentinels = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                       sizeof(ngx_url_t));
    if (cmcf->sentinels == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        u = ngx_array_push(cmcf->sentinels);
        if (u == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(u, sizeof(ngx_url_t));

        u->url = value[i];
        u->default_port = 26379;

        if (ngx_parse_url(cf->pool, u) != NGX_OK) {
            if (u->err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                                   u->err, &value[i]);
            }
            return NGX_CONF_ERROR;
        }

        if (u->naddrs == 0 || u->family == AF_UNIX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not a host:port", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* reads a whole file, relative to the prefix, at configuration time */

static char *
ngx_http_cast_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t       *value, *field, name;
    ngx_file_info_t  fi;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" is unreadable or too large", &name);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    field->len = ngx_file_size(&fi);
    field->data = ngx_pnalloc(cf->pool, field->len + 1);
    if (field->data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, field->data, field->len);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) field->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "short read of \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    field->data[field->len] = '\0';

    return NGX_CONF_OK;
}


static char *
ngx_http_cast_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    return NGX_CONF_OK;
}


/*
 * A count (names, tokens, fields, entries) takes a plain number: "1k" is
 * a size, and a count written as one is refused rather than read as 1024.
 * One that may be "off" (0) takes no 0.
 */

static char *
ngx_http_cast_conf_set_count_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    size_t     *field;
    ngx_int_t   n;
    ngx_str_t  *value;

    field = (size_t *) (p + cmd->offset);

    if (*field != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cmd->post == &ngx_http_cast_count_off) {
        if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
            *field = 0;
            return NGX_CONF_OK;
        }

        n = ngx_atoi(value[1].data, value[1].len);
        if (n < 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" takes \"off\" or a plain number "
                               "from 1, not \"%V\"", &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }

        *field = (size_t) n;

        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes a plain number, not \"%V\"",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    *field = (size_t) n;

    return NGX_CONF_OK;
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
    ngx_http_cast_engine_exit();
}
