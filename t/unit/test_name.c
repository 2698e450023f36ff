/*
 * cast_name_valid: lengths, UTF-8 well-formedness, control characters.
 */

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cast_name.h"


static void
test_name_check(const char *what, const char *s, size_t len, int want)
{
    test_check(cast_name_valid(s, len, 64) == want, "%s: expected %s", what,
               want ? "valid" : "invalid");
}


int
main(void)
{
    char  long_name[65];

    memset(long_name, 'a', sizeof(long_name));

    test_name_check("ascii", "alice", 5, 1);
    test_name_check("empty", "", 0, 0);
    test_name_check("64 bytes", long_name, 64, 1);
    test_name_check("65 bytes", long_name, 65, 0);
    test_name_check("two-byte", "J\xc3\xa9r\xc3\xb4me", 7, 1);
    test_name_check("three-byte", "\xe6\x8a\x95\xe7\xa5\xa8", 6, 1);
    test_name_check("four-byte", "\xf0\x9f\x97\xb3", 4, 1);
    test_name_check("space inside", "a b", 3, 1);
    test_name_check("nul", "a\0b", 3, 0);
    test_name_check("newline", "a\nb", 3, 0);
    test_name_check("tab", "\t", 1, 0);
    test_name_check("del", "a\x7f", 2, 0);
    test_name_check("c1 control", "a\xc2\x85", 3, 0);
    test_name_check("lone continuation", "\x80", 1, 0);
    test_name_check("truncated", "\xe6\x8a", 2, 0);
    test_name_check("overlong slash", "\xc0\xaf", 2, 0);
    test_name_check("overlong three", "\xe0\x80\xaf", 3, 0);
    test_name_check("surrogate", "\xed\xa0\x80", 3, 0);
    test_name_check("above U+10FFFF", "\xf4\x90\x80\x80", 4, 0);
    test_name_check("invalid lead", "\xff", 1, 0);

    return test_done("test_name");
}
