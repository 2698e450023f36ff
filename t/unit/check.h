/*
 * The check idiom of every unit test: test_check(cond, fmt, ...) counts
 * a check and, when cond is false, prints where and why; test_ok(cond)
 * prints the condition itself.  test_done(name) prints
 * "name: N checks, P passed, F failed" and gives the exit status.
 */

#ifndef _CHECK_H_INCLUDED_
#define _CHECK_H_INCLUDED_


#include <stdio.h>


static int  test_failures;
static int  test_checks;


#define test_check(cond, ...)                                                \
    do {                                                                     \
        test_checks++;                                                       \
        if (!(cond)) {                                                       \
            test_failures++;                                                 \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
        }                                                                    \
    } while (0)

#define test_ok(cond)  test_check(cond, "%s", #cond)


static inline int
test_done(const char *name)
{
    printf("%s: %d checks, %d passed, %d failed\n", name, test_checks,
           test_checks - test_failures, test_failures);

    return test_failures ? 1 : 0;
}


#endif /* _CHECK_H_INCLUDED_ */
