
/*
 * Copyright (C) CAST developers
 *
 * A request's client, as cast_client_key names it: its key, as it is up
 * to NGX_HTTP_CAST_CLIENT_MAX bytes and its SHA-256 beyond, so a large
 * header never becomes a large Redis field or a large entry here; and
 * the streams each client holds open in this worker
 * (cast_max_subscribers_per_client) and the names their votes
 * subscriptions watch (cast_max_watched_names_per_client: a name counts
 * once a stream, so one client cannot take the worker's
 * cast_max_watched_names from the others), counted in a tree of the
 * clients that hold one, whose entry goes with the client's last stream:
 * the tree holds no more entries than the worker has streams.
 */


#include "ngx_http_cast_module.h"

#include <openssl/evp.h>


struct ngx_http_cast_client_s {
    ngx_str_node_t             sn;
    ngx_uint_t                 streams;
    ngx_uint_t                 names;
    u_char                     key[NGX_HTTP_CAST_CLIENT_DIGEST];
};


static ngx_rbtree_t        ngx_http_cast_clients;
static ngx_rbtree_node_t   ngx_http_cast_clients_sentinel;


/*
 * The request's client key.  An empty key stays empty: the callers
 * refuse a request without one.
 */

ngx_int_t
ngx_http_cast_client_key(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    ngx_str_t *key)
{
    u_char  *md;

    if (ngx_http_complex_value(r, cv, key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key->len <= NGX_HTTP_CAST_CLIENT_MAX) {
        return NGX_OK;
    }

    md = ngx_pnalloc(r->pool, NGX_HTTP_CAST_CLIENT_DIGEST);
    if (md == NULL) {
        return NGX_ERROR;
    }

    if (EVP_Digest(key->data, key->len, md, NULL, EVP_sha256(), NULL) != 1) {
        return NGX_ERROR;
    }

    key->data = md;
    key->len = NGX_HTTP_CAST_CLIENT_DIGEST;

    return NGX_OK;
}


/*
 * One more stream of the client of key, watching names: NGX_BUSY when it
 * holds max streams already, NGX_DECLINED when its streams would watch
 * more than max_names (either 0: no limit), NGX_ERROR out of memory.
 * The entry is held until released with the same names.
 */

ngx_int_t
ngx_http_cast_client_hold(ngx_str_t *key, ngx_uint_t max, ngx_uint_t names,
    ngx_uint_t max_names, ngx_http_cast_client_t **clientp)
{
    uint32_t                 hash;
    ngx_str_node_t          *sn;
    ngx_http_cast_client_t  *cl;

    if (ngx_http_cast_clients.root == NULL) {
        ngx_rbtree_init(&ngx_http_cast_clients,
                        &ngx_http_cast_clients_sentinel,
                        ngx_str_rbtree_insert_value);
    }

    if (key->len > NGX_HTTP_CAST_CLIENT_DIGEST) {
        return NGX_ERROR;
    }

    if (max_names && names > max_names) {
        return NGX_DECLINED;
    }

    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_str_rbtree_lookup(&ngx_http_cast_clients, key, hash);

    if (sn) {
        cl = (ngx_http_cast_client_t *) sn;

        if (max && cl->streams >= max) {
            return NGX_BUSY;
        }

        if (max_names && cl->names > max_names - names) {
            return NGX_DECLINED;
        }

        cl->streams++;
        cl->names += names;
        *clientp = cl;

        return NGX_OK;
    }

    cl = ngx_alloc(sizeof(ngx_http_cast_client_t), ngx_cycle->log);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(cl->key, key->data, key->len);

    cl->sn.str.data = cl->key;
    cl->sn.str.len = key->len;
    cl->sn.node.key = hash;
    cl->streams = 1;
    cl->names = names;

    ngx_rbtree_insert(&ngx_http_cast_clients, &cl->sn.node);

    *clientp = cl;

    return NGX_OK;
}


void
ngx_http_cast_client_release(ngx_http_cast_client_t *cl, ngx_uint_t names)
{
    cl->names -= names;

    if (--cl->streams == 0) {
        ngx_rbtree_delete(&ngx_http_cast_clients, &cl->sn.node);
        ngx_free(cl);
    }
}
