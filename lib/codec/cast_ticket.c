#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cast_ticket.h"


static int cast_ticket_mac_of(const unsigned char *secret, size_t secret_len,
    const unsigned char *data, unsigned char *mac);
static void cast_ticket_put64(unsigned char *p, uint64_t v);
static uint64_t cast_ticket_get64(const unsigned char *p);


static const char  cast_ticket_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url value of a character; 0 also for those not in the alphabet */
static const unsigned char  cast_ticket_unb64[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,
    ['G'] = 6,  ['H'] = 7,  ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11,
    ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17,
    ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29,
    ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35,
    ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
    ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53,
    ['2'] = 54, ['3'] = 55, ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59,
    ['8'] = 60, ['9'] = 61, ['-'] = 62, ['_'] = 63
};


int
cast_ticket_encode(const unsigned char *secret, size_t secret_len,
    uint64_t seq, int64_t issued_ms,
    const unsigned char nonce[CAST_TICKET_NONCE_LEN], char *out)
{
    size_t         i;
    uint32_t       v;
    unsigned char  raw[CAST_TICKET_RAW_LEN];

    cast_ticket_put64(raw, seq);
    cast_ticket_put64(raw + 8, (uint64_t) issued_ms);
    memcpy(raw + 16, nonce, CAST_TICKET_NONCE_LEN);

    if (cast_ticket_mac_of(secret, secret_len, raw,
                           raw + CAST_TICKET_SIGNED_LEN) != 0)
    {
        return -1;
    }

    /* 21 groups of 3 bytes, then 1 byte left as 2 characters */
    for (i = 0; i + 3 <= CAST_TICKET_RAW_LEN; i += 3) {
        v = (uint32_t) raw[i] << 16 | (uint32_t) raw[i + 1] << 8 | raw[i + 2];

        *out++ = cast_ticket_b64[v >> 18];
        *out++ = cast_ticket_b64[(v >> 12) & 0x3f];
        *out++ = cast_ticket_b64[(v >> 6) & 0x3f];
        *out++ = cast_ticket_b64[v & 0x3f];
    }

    *out++ = cast_ticket_b64[raw[i] >> 2];
    *out++ = cast_ticket_b64[(raw[i] & 0x03) << 4];
    *out = '\0';

    return 0;
}


int
cast_ticket_decode(const char *s, size_t len, cast_ticket_t *t)
{
    size_t          i, o;
    uint32_t        v;
    unsigned char   c[4];
    const uint8_t  *p;

    if (len != CAST_TICKET_LEN) {
        return -1;
    }

    p = (const uint8_t *) s;

    /* a zero entry is 'A' only when the character really is 'A' */
    for (i = 0; i < CAST_TICKET_LEN; i++) {
        if (cast_ticket_unb64[p[i]] == 0 && p[i] != 'A') {
            return -1;
        }
    }

    for (i = 0, o = 0; i + 4 <= CAST_TICKET_LEN; i += 4, o += 3) {
        c[0] = cast_ticket_unb64[p[i]];
        c[1] = cast_ticket_unb64[p[i + 1]];
        c[2] = cast_ticket_unb64[p[i + 2]];
        c[3] = cast_ticket_unb64[p[i + 3]];

        v = (uint32_t) c[0] << 18 | (uint32_t) c[1] << 12
            | (uint32_t) c[2] << 6 | c[3];

        t->raw[o] = (unsigned char) (v >> 16);
        t->raw[o + 1] = (unsigned char) (v >> 8);
        t->raw[o + 2] = (unsigned char) v;
    }

    c[0] = cast_ticket_unb64[p[i]];
    c[1] = cast_ticket_unb64[p[i + 1]];

    /* the last character carries 2 bits; the 4 unused ones must be 0 */
    if (c[1] & 0x0f) {
        return -1;
    }

    t->raw[o] = (unsigned char) (c[0] << 2 | c[1] >> 4);

    t->seq = cast_ticket_get64(t->raw);
    t->issued_ms = (int64_t) cast_ticket_get64(t->raw + 8);

    return 0;
}


int
cast_ticket_verify(const cast_ticket_t *t, const unsigned char *secret,
    size_t secret_len)
{
    unsigned char  mac[CAST_TICKET_MAC_LEN];

    if (cast_ticket_mac_of(secret, secret_len, t->raw, mac) != 0) {
        return 0;
    }

    return CRYPTO_memcmp(mac, cast_ticket_mac(t), CAST_TICKET_MAC_LEN) == 0;
}


size_t
cast_ticket_secret_len(const unsigned char *data, size_t len)
{
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r')) {
        len--;
    }

    return len;
}


static int
cast_ticket_mac_of(const unsigned char *secret, size_t secret_len,
    const unsigned char *data, unsigned char *mac)
{
    unsigned int  n;

    if (secret_len < CAST_TICKET_SECRET_MIN || secret_len > 1024) {
        return -1;
    }

    n = 0;

    if (HMAC(EVP_sha256(), secret, (int) secret_len, data,
             CAST_TICKET_SIGNED_LEN, mac, &n) == NULL
        || n != CAST_TICKET_MAC_LEN)
    {
        return -1;
    }

    return 0;
}


static void
cast_ticket_put64(unsigned char *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char) v;
        v >>= 8;
    }
}


static uint64_t
cast_ticket_get64(const unsigned char *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }

    return v;
}
