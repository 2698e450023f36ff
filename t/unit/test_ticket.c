/*
 * The ticket codec: round trips, a vector computed with Python's hmac and
 * base64 modules, and every kind of malformed or forged ticket.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "cast_ticket.h"


#define check(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            failures++;                                                       \
        }                                                                     \
    } while (0)


static int  failures;

static const unsigned char  secret[] = "0123456789abcdef0123456789abcdef";
static const unsigned char  other[] = "0123456789abcdef0123456789abcdeF";

#define SECRET_LEN  (sizeof(secret) - 1)

/*
 * python3: raw = struct.pack('>QQ', 1234567, 1764096000123) + bytes(range(16))
 * base64.urlsafe_b64encode(raw + hmac.new(secret, raw, sha256).digest())
 */
static const char  vector[] =
    "AAAAAAAS1ocAAAGavFDAewABAgMEBQYHCAkKCwwNDg9tnBK8-L67JKuev3V71NCZn4h1_"
    "xZI3fbt0IknxPbX3w";

static const char  alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static void
test_vector(void)
{
    int            i;
    char           out[CAST_TICKET_LEN + 1];
    unsigned char  nonce[CAST_TICKET_NONCE_LEN];
    cast_ticket_t  t;

    for (i = 0; i < CAST_TICKET_NONCE_LEN; i++) {
        nonce[i] = (unsigned char) i;
    }

    check(strlen(vector) == CAST_TICKET_LEN);
    check(cast_ticket_encode(secret, SECRET_LEN, 1234567, 1764096000123,
                             nonce, out) == 0);
    check(strcmp(out, vector) == 0);

    check(cast_ticket_decode(vector, CAST_TICKET_LEN, &t) == 0);
    check(t.seq == 1234567);
    check(t.issued_ms == 1764096000123);
    check(memcmp(cast_ticket_nonce(&t), nonce, CAST_TICKET_NONCE_LEN) == 0);
    check(cast_ticket_verify(&t, secret, SECRET_LEN) == 1);
    check(cast_ticket_verify(&t, other, SECRET_LEN) == 0);
}


static void
test_round_trip(void)
{
    int            i;
    char           out[CAST_TICKET_LEN + 1];
    unsigned char  nonce[CAST_TICKET_NONCE_LEN];
    cast_ticket_t  t;

    static const struct {
        uint64_t  seq;
        int64_t   issued;
    } cases[] = {
        { 0, 0 },
        { 1, 2000 },
        { 882048000, 1764096000000 },
        { UINT64_MAX, INT64_MAX },
        { 0x0102030405060708ULL, -1 },
    };

    for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++) {
        check(RAND_bytes(nonce, sizeof(nonce)) == 1);

        check(cast_ticket_encode(secret, SECRET_LEN, cases[i].seq,
                                 cases[i].issued, nonce, out) == 0);
        check(strlen(out) == CAST_TICKET_LEN);
        check(strspn(out, alphabet) == CAST_TICKET_LEN);

        check(cast_ticket_decode(out, strlen(out), &t) == 0);
        check(t.seq == cases[i].seq);
        check(t.issued_ms == cases[i].issued);
        check(memcmp(cast_ticket_nonce(&t), nonce, sizeof(nonce)) == 0);
        check(cast_ticket_verify(&t, secret, SECRET_LEN) == 1);
    }
}


static void
test_length(void)
{
    char           buf[CAST_TICKET_LEN + 2];
    cast_ticket_t  t;

    memcpy(buf, vector, CAST_TICKET_LEN);
    buf[CAST_TICKET_LEN] = 'A';
    buf[CAST_TICKET_LEN + 1] = '\0';

    check(cast_ticket_decode("", 0, &t) == -1);
    check(cast_ticket_decode(vector, CAST_TICKET_LEN - 1, &t) == -1);
    check(cast_ticket_decode(buf, CAST_TICKET_LEN + 1, &t) == -1);
    check(cast_ticket_decode(vector, 88, &t) == -1);
}


/* Every position, every byte outside the alphabet */

static void
test_charset(void)
{
    int            i, c, rejected, tried;
    char           buf[CAST_TICKET_LEN + 1];
    cast_ticket_t  t;

    rejected = 0;
    tried = 0;

    for (i = 0; i < CAST_TICKET_LEN; i++) {
        for (c = 0; c < 256; c++) {
            if (c != 0 && strchr(alphabet, c) != NULL) {
                continue;
            }

            memcpy(buf, vector, sizeof(buf));
            buf[i] = (char) c;

            tried++;
            rejected += (cast_ticket_decode(buf, CAST_TICKET_LEN, &t) == -1);
        }
    }

    check(tried == CAST_TICKET_LEN * (256 - 64));
    check(rejected == tried);

    /* the standard base64 alphabet and padding are not base64url */
    memcpy(buf, vector, sizeof(buf));
    buf[10] = '+';
    check(cast_ticket_decode(buf, CAST_TICKET_LEN, &t) == -1);
    buf[10] = '/';
    check(cast_ticket_decode(buf, CAST_TICKET_LEN, &t) == -1);
    buf[10] = '=';
    check(cast_ticket_decode(buf, CAST_TICKET_LEN, &t) == -1);
}


/* The last character holds 2 bits; the other 4 must be zero */

static void
test_canonical(void)
{
    int            c, accepted;
    char           buf[CAST_TICKET_LEN + 1];
    cast_ticket_t  t;

    accepted = 0;

    for (c = 0; c < 64; c++) {
        memcpy(buf, vector, sizeof(buf));
        buf[CAST_TICKET_LEN - 1] = alphabet[c];

        if (cast_ticket_decode(buf, CAST_TICKET_LEN, &t) == 0) {
            accepted++;
            check((c & 0x0f) == 0);
        }
    }

    check(accepted == 4);
}


/* Any other character anywhere, and any flipped bit, breaks the MAC */

static void
test_forgery(void)
{
    int            i, c, b, decoded, forged;
    char           buf[CAST_TICKET_LEN + 1];
    cast_ticket_t  t, u;

    decoded = 0;
    forged = 0;

    for (i = 0; i < CAST_TICKET_LEN; i++) {
        for (c = 0; c < 64; c++) {
            if (alphabet[c] == vector[i]) {
                continue;
            }

            memcpy(buf, vector, sizeof(buf));
            buf[i] = alphabet[c];

            if (cast_ticket_decode(buf, CAST_TICKET_LEN, &t) != 0) {
                continue;
            }

            decoded++;
            forged += cast_ticket_verify(&t, secret, SECRET_LEN);
        }
    }

    check(decoded == (CAST_TICKET_LEN - 1) * 63 + 3);
    check(forged == 0);

    check(cast_ticket_decode(vector, CAST_TICKET_LEN, &t) == 0);
    forged = 0;

    for (i = 0; i < CAST_TICKET_RAW_LEN; i++) {
        for (b = 0; b < 8; b++) {
            u = t;
            u.raw[i] ^= (unsigned char) (1 << b);
            forged += cast_ticket_verify(&u, secret, SECRET_LEN);
        }
    }

    check(forged == 0);
}


static void
test_secret(void)
{
    char           out[CAST_TICKET_LEN + 1];
    unsigned char  nonce[CAST_TICKET_NONCE_LEN];
    cast_ticket_t  t;

    memset(nonce, 0, sizeof(nonce));

    check(cast_ticket_encode(secret, CAST_TICKET_SECRET_MIN - 1, 1, 1, nonce,
                             out) == -1);
    check(cast_ticket_encode(secret, 0, 1, 1, nonce, out) == -1);

    check(cast_ticket_decode(vector, CAST_TICKET_LEN, &t) == 0);
    check(cast_ticket_verify(&t, secret, CAST_TICKET_SECRET_MIN - 1) == 0);
}


/* a secret file's line ending is not part of the key, however written */

static void
test_secret_file(void)
{
    static const struct {
        const char  *text;
        size_t       len;
    } files[] = {
        { "key", 3 },
        { "key\n", 3 },
        { "key\n\n", 3 },
        { "key\r\n", 3 },
        { "key\r\n\r\n", 3 },
        { "key\n\r", 3 },
        { "k\ney\n", 4 },
        { "\r\n", 0 },
        { "", 0 },
    };

    size_t  i;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        check(cast_ticket_secret_len((const unsigned char *) files[i].text,
                                     strlen(files[i].text))
              == files[i].len);
    }
}


int
main(void)
{
    test_vector();
    test_round_trip();
    test_length();
    test_charset();
    test_canonical();
    test_forgery();
    test_secret();
    test_secret_file();

    if (failures != 0) {
        printf("test_ticket: %d failures\n", failures);
        return 1;
    }

    printf("test_ticket: ok\n");

    return 0;
}
