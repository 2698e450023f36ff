/*
 * libFuzzer target for the ticket codec.  Any input that decodes is
 * verified with a fixed secret, then re-encoded from its decoded seq,
 * issued time and nonce: the new ticket must decode to the same fields
 * and verify, and it must be the input itself exactly when the input
 * verified (the encoding is canonical).
 */

#include <stdint.h>
#include <string.h>

#include "cast_ticket.h"


/* the secret of the committed corpus tickets */
static const unsigned char  fuzz_secret[] =
    "fuzz-ticket-secret-0123456789abc";

#define FUZZ_SECRET_LEN  (sizeof(fuzz_secret) - 1)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            ok;
    char           out[CAST_TICKET_LEN + 1];
    cast_ticket_t  t, u;

    if (cast_ticket_decode((const char *) data, size, &t) != 0) {
        return 0;
    }

    ok = cast_ticket_verify(&t, fuzz_secret, FUZZ_SECRET_LEN);

    if (cast_ticket_encode(fuzz_secret, FUZZ_SECRET_LEN, t.seq, t.issued_ms,
                           cast_ticket_nonce(&t), out) != 0)
    {
        __builtin_trap();
    }

    if (strlen(out) != CAST_TICKET_LEN
        || cast_ticket_decode(out, CAST_TICKET_LEN, &u) != 0
        || u.seq != t.seq || u.issued_ms != t.issued_ms
        || memcmp(u.raw, t.raw, CAST_TICKET_SIGNED_LEN) != 0
        || cast_ticket_verify(&u, fuzz_secret, FUZZ_SECRET_LEN) != 1
        || ok != (memcmp(out, data, CAST_TICKET_LEN) == 0))
    {
        __builtin_trap();
    }

    return 0;
}
