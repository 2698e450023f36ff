
/*
 * Copyright (C) CAST developers
 */


#include "ngx_http_cast_module.h"
#include "cast_ticket.h"


static char *ngx_http_cast_conf_limits(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf);
static char *ngx_http_cast_conf_wiring(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf);
static ngx_int_t ngx_http_cast_client_key_default(ngx_conf_t *cf,
    ngx_http_cast_main_conf_t *cmcf);


/* a count that may be "off" (0) instead, as it takes no 0 */
ngx_conf_post_t  ngx_http_cast_count_off;


/* the directives that depend on each other, once all are read */

char *
ngx_http_cast_conf_check(ngx_conf_t *cf, ngx_http_cast_main_conf_t *cmcf)
{
    if (ngx_http_cast_conf_limits(cf, cmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_cast_conf_wiring(cf, cmcf);
}


/* the request limits and the pages: within what the functions take */

static char *
ngx_http_cast_conf_limits(ngx_conf_t *cf, ngx_http_cast_main_conf_t *cmcf)
{
    size_t  n;

    if (cmcf->graphiql_page.len == 0 || cmcf->graphiql_page.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_graphiql_page must be a URI starting "
                           "with \"/\", not \"%V\"", &cmcf->graphiql_page);
        return NGX_CONF_ERROR;
    }

    cmcf->limits.introspection = cmcf->introspection;

    /*
     * lib/redis/cast.lua takes at most 1000 names per vote, a count of
     * at most 1000000 (MAX_ADD) and a client share of at most 1000000
     * (MAX_SHARE): a vote nginx lets through must not be refused by
     * Redis, which the client would see as UNAVAILABLE
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

    if (cmcf->client_uses > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_client_uses must be off or 1..1000000");
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

    /*
     * the largest field the other limits allow, with every field of its
     * type once (__typename too, as clients add it), must be answered
     * (items as lib/graphql/cast_gql_cost.c counts them): a leaderboard
     * or a votes subscription, { username votes __typename } of each
     * name, 1 + (1 + 3 + 1 + 1) n, and a vote, its four fields and
     * __typename with a list item a name in two, 6 + (3 + 1) n; a
     * ticket is 7.  Unset, the limit is 5000, or that when larger.
     */
    n = ngx_max(1 + 6 * ngx_max(cmcf->max_top_limit, cmcf->max_usernames),
                6 + 4 * cmcf->max_usernames);

    if (cmcf->limits.max_result_items == NGX_CONF_UNSET_SIZE) {
        cmcf->limits.max_result_items = ngx_max((size_t) 5000, n);
    }

    if (cmcf->limits.max_result_items < n) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cast_max_result_items must be at least %uz, "
                           "so that a top(limit:) of cast_max_top_limit, "
                           "or a votes(usernames:) or a vote of "
                           "cast_max_usernames names, fits with all its "
                           "fields", n);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the secret, Redis or its Sentinels, the client key and the metrics */

static char *
ngx_http_cast_conf_wiring(ngx_conf_t *cf, ngx_http_cast_main_conf_t *cmcf)
{
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

    if (cmcf->replica_reads && cmcf->sentinels == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cast_redis_replica_reads\" needs "
                           "\"cast_redis_sentinel\": the replicas are "
                           "found through the Sentinels");
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


/* cast_redis 127.0.0.1:6379 | unix:/path; names are resolved here, once */

char *
ngx_http_cast_conf_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
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

char *
ngx_http_cast_conf_sentinel(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
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

char *
ngx_http_cast_conf_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
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


char *
ngx_http_cast_conf_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
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

char *
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
