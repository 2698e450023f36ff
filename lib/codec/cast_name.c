/*
 * Name validation, see cast_name.h.
 */

#include <stdint.h>

#include "cast_name.h"


static size_t cast_name_char(const unsigned char *p, size_t n,
    uint32_t *cp);


int
cast_name_valid(const char *s, size_t len, size_t max)
{
    size_t                n;
    uint32_t              cp;
    const unsigned char  *p, *end;

    if (len == 0 || len > max) {
        return 0;
    }

    p = (const unsigned char *) s;
    end = p + len;

    while (p < end) {
        n = cast_name_char(p, end - p, &cp);

        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            return 0;
        }

        p += n;
    }

    return 1;
}


/* the length of one well-formed UTF-8 sequence at p, 0 if ill-formed */

static size_t
cast_name_char(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t    len, i;
    uint32_t  c, min;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }

    if ((p[0] & 0xe0) == 0xc0) {
        len = 2; c = p[0] & 0x1f; min = 0x80;

    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3; c = p[0] & 0x0f; min = 0x800;

    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4; c = p[0] & 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if (len > n) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (p[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    *cp = c;

    return len;
}
