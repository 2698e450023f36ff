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


static void
test_unsigned(uint64_t n)
{
    char  buf[CAST_DEC_LEN + 2], want[32], *p;

    snprintf(want, sizeof(want), "%" PRIu64, n);

    memset(buf, TEST_CANARY, sizeof(buf));
    p = cast_dec(buf + 1, n);
    test_check((size_t) (p - buf - 1) == strlen(want)
               && memcmp(buf + 1, want, strlen(want)) == 0
               && buf[0] == TEST_CANARY && *p == TEST_CANARY,
               "cast_dec %s", want);

    memset(buf, TEST_CANARY, sizeof(buf));
    p = cast_dec_back(buf + 1 + CAST_DEC_LEN, n);
    test_check((size_t) (buf + 1 + CAST_DEC_LEN - p) == strlen(want)
               && memcmp(p, want, strlen(want)) == 0
               && buf[0] == TEST_CANARY
               && buf[1 + CAST_DEC_LEN] == TEST_CANARY,
               "cast_dec_back %s", want);
}


static void
test_signed(int64_t v)
{
    char  buf[CAST_DEC_LEN + 2], want[32], *p;

    snprintf(want, sizeof(want), "%" PRId64, v);

    memset(buf, TEST_CANARY, sizeof(buf));
    p = cast_dec_signed(buf + 1, v);
    test_check((size_t) (p - buf - 1) == strlen(want)
               && memcmp(buf + 1, want, strlen(want)) == 0
               && buf[0] == TEST_CANARY && *p == TEST_CANARY,
               "cast_dec_signed %s", want);
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
