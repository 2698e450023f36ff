/*
 * Name validation, see cast_name.h.
 */

#include "cast_name.h"
#include "cast_utf8.h"


int
cast_name_valid(const char *s, size_t len, size_t max)
{
    size_t       n;
    uint32_t     cp;
    const char  *p, *end;

    if (len == 0 || len > max) {
        return 0;
    }

    p = s;
    end = s + len;

    while (p < end) {

        /* ASCII, most names: the decoder's answer without the call */
        if ((unsigned char) *p < 0x80) {
            if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                return 0;
            }

            p++;
            continue;
        }

        n = cast_utf8_decode(p, (size_t) (end - p), &cp);

        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            return 0;
        }

        p += n;
    }

    return 1;
}
