/*
 * cast_name_valid: lengths, UTF-8 well-formedness, control characters.
 */

#include <stdio.h>
#include <string.h>

#include "cast_name.h"


static int  failed;


static void
check(const char *what, const char *s, size_t len, int want)
{
    if (cast_name_valid(s, len, 64) != want) {
        printf("FAIL %s: expected %s\n", what, want ? "valid" : "invalid");
        failed++;
    }
}


int
main(void)
{
    char  long_name[65];

    memset(long_name, 'a', sizeof(long_name));

    check("ascii", "alice", 5, 1);
    check("empty", "", 0, 0);
    check("64 bytes", long_name, 64, 1);
    check("65 bytes", long_name, 65, 0);
    check("two-byte", "J\xc3\xa9r\xc3\xb4me", 7, 1);
    check("three-byte", "\xe6\x8a\x95\xe7\xa5\xa8", 6, 1);
    check("four-byte", "\xf0\x9f\x97\xb3", 4, 1);
    check("space inside", "a b", 3, 1);
    check("nul", "a\0b", 3, 0);
    check("newline", "a\nb", 3, 0);
    check("tab", "\t", 1, 0);
    check("del", "a\x7f", 2, 0);
    check("c1 control", "a\xc2\x85", 3, 0);
    check("lone continuation", "\x80", 1, 0);
    check("truncated", "\xe6\x8a", 2, 0);
    check("overlong slash", "\xc0\xaf", 2, 0);
    check("overlong three", "\xe0\x80\xaf", 3, 0);
    check("surrogate", "\xed\xa0\x80", 3, 0);
    check("above U+10FFFF", "\xf4\x90\x80\x80", 4, 0);
    check("invalid lead", "\xff", 1, 0);

    if (failed) {
        printf("test_name: %d failed\n", failed);
        return 1;
    }

    printf("test_name: all passed\n");
    return 0;
}
