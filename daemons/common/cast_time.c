#include <time.h>

#include "cast_time.h"


static int64_t
cast_clock_ms(clockid_t id)
{
    struct timespec  ts;

    clock_gettime(id, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int64_t
cast_wall_ms(void)
{
    return cast_clock_ms(CLOCK_REALTIME);
}


int64_t
cast_mono_ms(void)
{
    return cast_clock_ms(CLOCK_MONOTONIC);
}
