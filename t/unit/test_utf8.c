/*
 * cast_utf8: well-formed sequences and their code points, the encoder
 * against the decoder at every boundary, whole strings past the ASCII
 * fast path, cuts between code points and continuation counts.
 */

#include <string.h>

#include "check.h"
#include "cast_utf8.h"


static const struct {
    const char               *what;
    const char               *s;
    size_t                    len;      /* of the sequence, 0: ill-formed */
    uint32_t                  cp;
} test_seqs[] = {
    { "ascii", "a", 1, 'a' },
    { "nul", "\0", 1, 0 },
    { "two-byte", "\xc3\xa9", 2, 0xe9 },
    { "three-byte", "\xe6\x8a\x95", 3, 0x6295 },
    { "four-byte", "\xf0\x9f\x97\xb3", 4, 0x1f5f3 },
    { "highest", "\xf4\x8f\xbf\xbf", 4, 0x10ffff },
    { "lone continuation", "\x80", 0, 0 },
    { "truncated", "\xe6\x8a", 0, 0 },
    { "bad continuation", "\xe6\x8a\x41", 0, 0 },
    { "overlong slash", "\xc0\xaf", 0, 0 },
    { "overlong two", "\xc1\xbf", 0, 0 },
    { "overlong three", "\xe0\x80\xaf", 0, 0 },
    { "overlong four", "\xf0\x8f\xbf\xbf", 0, 0 },
    { "surrogate high", "\xed\xa0\x80", 0, 0 },
    { "surrogate low", "\xed\xbf\xbf", 0, 0 },
    { "above U+10FFFF", "\xf4\x90\x80\x80", 0, 0 },
    { "f5 lead", "\xf5\x80\x80\x80", 0, 0 },
    { "five-byte lead", "\xf8\x88\x80\x80\x80", 0, 0 },
    { "invalid lead", "\xff", 0, 0 }
};


static void
test_decode(void)
{
    size_t    i, n, len;
    uint32_t  cp;

    for (i = 0; i < sizeof(test_seqs) / sizeof(test_seqs[0]); i++) {
        len = test_seqs[i].len ? test_seqs[i].len : strlen(test_seqs[i].s);
        len = len ? len : 1;
        cp = 0xffffffff;
        n = cast_utf8_decode(test_seqs[i].s, len, &cp);

        test_check(n == test_seqs[i].len
                   && (n == 0 || cp == test_seqs[i].cp),
                   "%s: length %zu, U+%04X", test_seqs[i].what, n,
                   (unsigned) cp);
        test_check(cast_utf8_valid(test_seqs[i].s, len)
                   == (test_seqs[i].len != 0), "%s: valid",
                   test_seqs[i].what);
    }

    /* a sequence is read within n bytes only */
    test_ok(cast_utf8_decode("\xc3\xa9", 1, &cp) == 0);
    test_ok(cast_utf8_decode("\xf0\x9f\x97\xb3", 3, &cp) == 0);
}


static void
test_put(void)
{
    static const uint32_t  cps[] = { 0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff,
                                     0xe000, 0xfffd, 0xffff, 0x10000,
                                     0x10ffff };
    static const size_t    lens[] = { 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 4 };
    char                   buf[8];
    size_t                 i, n;
    uint32_t               cp;

    for (i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        n = (size_t) (cast_utf8_put(buf, cps[i]) - buf);
        test_check(n == lens[i] && cast_utf8_decode(buf, n, &cp) == n
                   && cp == cps[i], "U+%04X: %zu bytes", (unsigned) cps[i],
                   n);
    }

    n = (size_t) (cast_utf8_put(buf, 0xe9) - buf);
    test_ok(n == 2 && memcmp(buf, "\xc3\xa9", 2) == 0);
}


static void
test_valid(void)
{
    /* the fast path reads eight ASCII bytes at a time: errors past it */
    test_ok(cast_utf8_valid("", 0));
    test_ok(cast_utf8_valid("abcdefghijklmnopqrstuvwxyz", 26));
    test_ok(cast_utf8_valid("abcdefgh\xc3\xa9ijklmnop\xf0\x9f\x97\xb3q", 23));
    test_ok(!cast_utf8_valid("abcdefgh\x80ijklmnop", 17));
    test_ok(!cast_utf8_valid("abcdefghijklmnop\xed\xa0\x80", 19));
    test_ok(!cast_utf8_valid("abcdefghijklmnop\xc3", 17));
    test_ok(cast_utf8_valid("a\0b", 3));
}


static void
test_cut(void)
{
    static const char  s[] = "a\xe6\x8a\x95" "b\xc3\xa9" "c";

    test_ok(cast_utf8_cut(s, 0) == 0);
    test_ok(cast_utf8_cut(s, 1) == 1);
    test_ok(cast_utf8_cut(s, 2) == 1);
    test_ok(cast_utf8_cut(s, 3) == 1);
    test_ok(cast_utf8_cut(s, 4) == 4);
    test_ok(cast_utf8_cut(s, 6) == 5);
    test_ok(cast_utf8_cut(s, 7) == 7);
    test_ok(cast_utf8_cut("\x80\x80\x80", 2) == 0);

    test_ok(cast_utf8_continuations(s, sizeof(s) - 1) == 3);
    test_ok(cast_utf8_continuations(s, 4) == 2);
    test_ok(cast_utf8_continuations("abcdefgh\xc3\xa9ijklmn\xf0\x9f\x97\xb3",
                                    20) == 4);
    test_ok(cast_utf8_continuations("\x80\x80\x80\x80\x80\x80\x80\x80\x80",
                                    9) == 9);
    test_ok(cast_utf8_continuations("", 0) == 0);
}


int
main(void)
{
    test_decode();
    test_put();
    test_valid();
    test_cut();

    return test_done("test_utf8");
}
