/*
 * UTF-8, see cast_utf8.h.
 */

#include <string.h>

#include "cast_utf8.h"


size_t
cast_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char  *p;
    size_t                len, i;
    uint32_t              c, min;

    p = (const unsigned char *) s;

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


int
cast_utf8_valid(const char *s, size_t n)
{
    const char  *p, *end;
    uint64_t     w;
    uint32_t     c;
    size_t       k;

    p = s;
    end = s + n;

    while (p < end) {
        /* ASCII eight bytes at a time */
        while (end - p >= 8) {
            memcpy(&w, p, 8);
            if (w & 0x8080808080808080ULL) {
                break;
            }
            p += 8;
        }

        if (p == end) {
            break;
        }

        k = cast_utf8_decode(p, (size_t) (end - p), &c);
        if (k == 0) {
            return 0;
        }

        p += k;
    }

    return 1;
}


char *
cast_utf8_put(char *d, uint32_t c)
{
    if (c < 0x80) {
        *d++ = (char) c;

    } else if (c < 0x800) {
        *d++ = (char) (0xc0 | (c >> 6));
        *d++ = (char) (0x80 | (c & 0x3f));

    } else if (c < 0x10000) {
        *d++ = (char) (0xe0 | (c >> 12));
        *d++ = (char) (0x80 | ((c >> 6) & 0x3f));
        *d++ = (char) (0x80 | (c & 0x3f));

    } else {
        *d++ = (char) (0xf0 | (c >> 18));
        *d++ = (char) (0x80 | ((c >> 12) & 0x3f));
        *d++ = (char) (0x80 | ((c >> 6) & 0x3f));
        *d++ = (char) (0x80 | (c & 0x3f));
    }

    return d;
}


size_t
cast_utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
        n--;
    }

    return n;
}


size_t
cast_utf8_continuations(const char *s, size_t n)
{
    const unsigned char  *p, *e;
    uint64_t              w;
    size_t                k;

    p = (const unsigned char *) s;
    e = p + n;
    k = 0;

    while (e - p >= 8) {
        memcpy(&w, p, 8);
        /* 10xxxxxx: bit 7 set, bit 6 (shifted into bit 7) clear */
        w = (w & ~(w << 1) & 0x8080808080808080ULL) >> 7;
        /* the eight 0/1 bytes summed into the top one */
        k += (size_t) ((w * 0x0101010101010101ULL) >> 56);
        p += 8;
    }

    for ( /* void */ ; p < e; p++) {
        k += (*p & 0xc0) == 0x80;
    }

    return k;
}
