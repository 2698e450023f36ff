/*
 * The decimal writer of the engine's JSON numbers and the module's
 * Redis arguments (cast_dec.h): every value as printf() writes it, and
 * never a byte past CAST_DEC_LEN.
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cast_dec.h"


#define TEST_CANARY  0x5a


/* a writer's text at [p, q) of buf, and every other byte untouched */
static void
test_text(const char *buf, const char *p, const char *q, const char *want,
    const char *writer)
{
    int     clean;
    size_t  i;

    clean = 1;
    for (i = 0; i < CAST_DEC_LEN + 2; i++) {
        if ((buf + i < p || buf + i >= q) && buf[i] != TEST_CANARY) {
            clean = 0;
        }
    }

    test_check((size_t) (q - p) == strlen(want)
               && memcmp(p, want, strlen(want)) == 0 && clean,
               "%s %s", writer, want);
}


static void
test_unsigned(uint64_t n)
{
    char  buf[CAST_DEC_LEN + 2], want[32], *p;

    snprintf(want, sizeof(want), "%" PRIu64, n);

    memset(buf, TEST_CANARY, sizeof(buf));
    p = cast_dec(buf + 1, n);
    test_text(buf, buf + 1, p, want, "cast_dec");

    memset(buf, TEST_CANARY, sizeof(buf));
    p = cast_dec_back(buf + 1 + CAST_DEC_LEN, n);
    test_text(buf, p, buf + 1 + CAST_DEC_LEN, want, "cast_dec_back");
}


static void
test_signed(int64_t v)
{
    char  buf[CAST_DEC_LEN + 2], want[32], *p;

    snprintf(want, sizeof(want), "%" PRId64, v);

    memset(buf, TEST_CANARY, sizeof(buf));
    p = cast_dec_signed(buf + 1, v);
    test_text(buf, buf + 1, p, want, "cast_dec_signed");
}


int
main(void)
{
    int       i;
    uint64_t  n;

    static const uint64_t  u[] = {
        0, 1, 9, 10, 99, 100, UINT32_MAX, (uint64_t) INT64_MAX,
        (uint64_t) INT64_MAX + 1, 9999999999999999999ULL,
        10000000000000000000ULL, UINT64_MAX - 1, UINT64_MAX
    };
    static const int64_t  s[] = {
        0, 1, -1, 9, -9, 10, -10, INT32_MIN, INT32_MAX, INT64_MAX,
        INT64_MAX - 1, INT64_MIN, INT64_MIN + 1, -999999999999999999LL
    };

    for (i = 0; i < (int) (sizeof(u) / sizeof(u[0])); i++) {
        test_unsigned(u[i]);
    }

    for (i = 0; i < (int) (sizeof(s) / sizeof(s[0])); i++) {
        test_signed(s[i]);
    }

    /* every length: 10^k - 1 and 10^k, and their negatives */
    for (n = 1, i = 0; i < 19; i++, n *= 10) {
        test_unsigned(n - 1);
        test_unsigned(n);
        test_signed((int64_t) n);
        test_signed(-(int64_t) n);
        test_signed(1 - (int64_t) n);
    }

    return test_done("test_dec");
}
