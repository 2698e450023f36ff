#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cast_log.h"
#include "cast_redis.h"


#define CAST_REDIS_LIB_MAX  (1024 * 1024)


static char *cast_redis_read_file(const char *path, size_t *len);


int
cast_redis_load_functions(redisContext *c, const char *path)
{
    int          rc;
    char        *code;
    size_t       len;
    redisReply  *r;

    code = cast_redis_read_file(path, &len);
    if (code == NULL) {
        return -1;
    }

    r = cast_redis_command(c, "FUNCTION LOAD REPLACE %b", code, len);
    free(code);

    if (r == NULL) {
        cast_log(CAST_LOG_ERR, "redis_functions", "FUNCTION LOAD %s: %s",
                 path, c->errstr);
        return -1;
    }

    rc = 0;

    if (r->type == REDIS_REPLY_ERROR) {
        cast_log(CAST_LOG_ERR, "redis_functions", "FUNCTION LOAD %s: %s",
                 path, r->str);
        rc = -1;

    } else {
        cast_log(CAST_LOG_INFO, "redis_functions", "loaded %s", path);
    }

    freeReplyObject(r);

    return rc;
}


int
cast_redis_function_missing(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR
           && strstr(r->str, "Function not found") != NULL;
}


static char *
cast_redis_read_file(const char *path, size_t *len)
{
    char  *buf;
    FILE  *f;

    f = fopen(path, "r");
    if (f == NULL) {
        cast_log(CAST_LOG_ERR, "redis_functions", "cannot open %s: %s",
                 path, strerror(errno));
        return NULL;
    }

    buf = malloc(CAST_REDIS_LIB_MAX);
    if (buf == NULL) {
        fclose(f);
        cast_log(CAST_LOG_ERR, "redis_functions", "out of memory");
        return NULL;
    }

    *len = fread(buf, 1, CAST_REDIS_LIB_MAX, f);

    if (ferror(f) || *len == CAST_REDIS_LIB_MAX) {
        cast_log(CAST_LOG_ERR, "redis_functions", "cannot read %s (error, "
                 "or larger than %d bytes)", path, CAST_REDIS_LIB_MAX);
        free(buf);
        buf = NULL;
    }

    fclose(f);

    return buf;
}
