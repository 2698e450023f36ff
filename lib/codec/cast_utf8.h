/*
 * UTF-8, written once for the engine, the codecs and the daemons:
 * well-formed sequences as RFC 3629 defines them (no overlong forms, no
 * surrogates, nothing above U+10FFFF), the encoding of a code point, and
 * the places a string may be cut or counted in code points.
 */

#ifndef CAST_UTF8_H
#define CAST_UTF8_H

#include <stddef.h>
#include <stdint.h>


/* the length of the well-formed sequence at s (n > 0 bytes), 0: none */
size_t cast_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* 1 when all n bytes at s are well-formed UTF-8 */
int cast_utf8_valid(const char *s, size_t n);

/* the 1 to 4 bytes of the code point c (at most U+10FFFF) at d; past them */
char *cast_utf8_put(char *d, uint32_t c);

/* n, or less: a length that ends between code points (s has n + 1 bytes) */
size_t cast_utf8_cut(const char *s, size_t n);

/* the continuation bytes (10xxxxxx) of n bytes at s */
size_t cast_utf8_continuations(const char *s, size_t n);


#endif /* CAST_UTF8_H */
