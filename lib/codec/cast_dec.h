/*
 * Decimal text, written once for the engine's JSON numbers and the
 * module's Redis arguments: inline, as both write a few numbers a
 * request and a printf() parses its format for each.
 */

#ifndef CAST_DEC_H
#define CAST_DEC_H

#include <stdint.h>
#include <string.h>


/* the longest: "18446744073709551615", "-9223372036854775808" */
#define CAST_DEC_LEN  20


/* n in decimal ending before end (at most CAST_DEC_LEN bytes); its start */
static inline char *
cast_dec_back(char *end, uint64_t n)
{
    do {
        *--end = (char) ('0' + n % 10);
        n /= 10;
    } while (n != 0);

    return end;
}


/* n in decimal at p; past it */
static inline char *
cast_dec(char *p, uint64_t n)
{
    char    tmp[CAST_DEC_LEN], *t;
    size_t  len;

    t = cast_dec_back(tmp + CAST_DEC_LEN, n);
    len = (size_t) (tmp + CAST_DEC_LEN - t);

    memcpy(p, t, len);

    return p + len;
}


/* v in decimal at p, a '-' first when negative; past it */
static inline char *
cast_dec_signed(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return cast_dec(p, (uint64_t) 0 - (uint64_t) v);
    }

    return cast_dec(p, (uint64_t) v);
}


#endif /* CAST_DEC_H */
