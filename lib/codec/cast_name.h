/*
 * Names CAST accepts (usernames, voter names): 1..max bytes of valid
 * UTF-8 (no overlong forms, no surrogates) without control characters
 * (C0, DEL, C1).
 */

#ifndef CAST_NAME_H
#define CAST_NAME_H

#include <stddef.h>


int cast_name_valid(const char *s, size_t len, size_t max);


#endif /* CAST_NAME_H */
