/*
 * The ticket codec.
 *
 * A ticket is base64url without padding (86 characters) of 64 bytes:
 *
 *   seq (8, big endian) | issued_ms (8, big endian) | nonce (16)
 *   | HMAC-SHA256(secret, first 32 bytes) (32)
 *
 * Decoding checks the form only; verifying recomputes the MAC.  Nothing
 * here allocates, so nginx can reject impossible tickets cheaply before
 * asking Redis.
 */

#ifndef CAST_TICKET_H
#define CAST_TICKET_H

#include <stddef.h>
#include <stdint.h>


#define CAST_TICKET_LEN         86
#define CAST_TICKET_RAW_LEN     64
#define CAST_TICKET_SIGNED_LEN  32
#define CAST_TICKET_NONCE_LEN   16
#define CAST_TICKET_MAC_LEN     32
#define CAST_TICKET_SECRET_MIN  32


typedef struct {
    uint64_t       seq;
    int64_t        issued_ms;
    unsigned char  raw[CAST_TICKET_RAW_LEN];
} cast_ticket_t;

#define cast_ticket_nonce(t)  ((t)->raw + 16)
#define cast_ticket_mac(t)    ((t)->raw + CAST_TICKET_SIGNED_LEN)


/*
 * Writes the ticket and a terminating NUL to out (CAST_TICKET_LEN + 1
 * bytes).  0, or -1 when the secret is shorter than CAST_TICKET_SECRET_MIN
 * or the MAC cannot be computed.
 */
int cast_ticket_encode(const unsigned char *secret, size_t secret_len,
    uint64_t seq, int64_t issued_ms,
    const unsigned char nonce[CAST_TICKET_NONCE_LEN], char *out);

/*
 * 0 and t filled when s is a well-formed ticket (right length, base64url
 * alphabet, canonical last character); -1 otherwise.
 */
int cast_ticket_decode(const char *s, size_t len, cast_ticket_t *t);

/*
 * The length of the secret a secret file holds: its bytes without every
 * trailing CR and LF, so a file ending in a newline, a CRLF or blank lines
 * is the same key.  The one rule for nginx and cast-ticketd.
 */
size_t cast_ticket_secret_len(const unsigned char *data, size_t len);

/* 1 when the MAC of a decoded ticket matches the secret, 0 otherwise */
int cast_ticket_verify(const cast_ticket_t *t, const unsigned char *secret,
    size_t secret_len);


#endif /* CAST_TICKET_H */
