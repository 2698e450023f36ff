#ifndef CAST_TIME_H
#define CAST_TIME_H

#include <stdint.h>


/* Milliseconds since the Unix epoch (may step) */
int64_t cast_wall_ms(void);

/* Milliseconds of a monotonic clock, for timeouts and backoff */
int64_t cast_mono_ms(void);


#endif /* CAST_TIME_H */
