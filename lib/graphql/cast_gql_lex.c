/*
 * GraphQL lexer (spec section 2.1): a cursor over the source that yields
 * one token at a time.  Ignored tokens (white space, line terminators,
 * commas, comments, the BOM) are skipped.  String values are checked
 * when scanned and decoded only when the parser asks for them.
 * Line and column are computed only for error output, from a table of
 * line starts built once per document.
 */

#include "cast_gql.h"


static const char *cast_gql_tok_names[] = {
    "<EOF>", "\"!\"", "\"$\"", "\"&\"", "\"(\"", "\")\"", "\"...\"",
    "\":\"", "\"=\"", "\"@\"", "\"[\"", "\"]\"", "\"{\"", "\"|\"", "\"}\"",
    "Name", "Int", "Float", "String", "String", "<ERROR>"
};


const char *
cast_gql_tok_name(cast_tok_e kind)
{
    return cast_gql_tok_names[kind];
}


void
cast_gql_lex_init(cast_gql_lexer_t *lx, const char *src, size_t len,
    size_t max_tokens)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->kind = CAST_TOK_EOF;
    lx->start = 0;
    lx->end = 0;
    lx->ntokens = 0;
    lx->max_tokens = max_tokens;
    lx->err = NULL;
}


static cast_tok_e
cast_gql_lex_error(cast_gql_lexer_t *lx, size_t at, const char *msg)
{
    lx->kind = CAST_TOK_ERROR;
    lx->start = at;
    lx->end = at;
    lx->err = msg;

    return CAST_TOK_ERROR;
}


/* a token of kind that ends before end, where the next one is looked for */
static cast_tok_e
cast_gql_lex_token(cast_gql_lexer_t *lx, size_t end, cast_tok_e kind)
{
    lx->kind = kind;
    lx->end = end;
    lx->pos = end;

    return kind;
}


#define cast_gql_is_name_start(c)                                            \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || (c) == '_')
#define cast_gql_is_digit(c)      ((c) >= '0' && (c) <= '9')
#define cast_gql_is_name(c)       (cast_gql_is_name_start(c)                 \
                                   || cast_gql_is_digit(c))


static void
cast_gql_lex_ignored(cast_gql_lexer_t *lx)
{
    const char  *s;
    size_t       n;

    s = lx->src;
    n = lx->len;

    while (lx->pos < n) {
        switch (s[lx->pos]) {
        case ' ': case '\t': case '\n': case '\r': case ',':
            lx->pos++;
            break;

        case '#':
            while (lx->pos < n && s[lx->pos] != '\n' && s[lx->pos] != '\r') {
                lx->pos++;
            }
            break;

        case '\xef':
            if (n - lx->pos >= 3 && s[lx->pos + 1] == '\xbb'
                && s[lx->pos + 2] == '\xbf')
            {
                lx->pos += 3;
                break;
            }
            return;

        default:
            return;
        }
    }
}


static cast_tok_e
cast_gql_lex_number(cast_gql_lexer_t *lx)
{
    const char  *s;
    size_t       p, n;
    cast_tok_e   kind;

    s = lx->src;
    n = lx->len;
    p = lx->pos;
    kind = CAST_TOK_INT;

    if (s[p] == '-') {
        p++;
    }

    if (p < n && s[p] == '0') {
        p++;
        if (p < n && cast_gql_is_digit(s[p])) {
            return cast_gql_lex_error(lx, p, "Invalid number, unexpected "
                                      "digit after 0");
        }

    } else if (p < n && cast_gql_is_digit(s[p])) {
        while (p < n && cast_gql_is_digit(s[p])) {
            p++;
        }

    } else {
        return cast_gql_lex_error(lx, p, "Invalid number, expected digit");
    }

    if (p < n && s[p] == '.') {
        kind = CAST_TOK_FLOAT;
        p++;
        if (p == n || !cast_gql_is_digit(s[p])) {
            return cast_gql_lex_error(lx, p, "Invalid number, expected "
                                      "digit after \".\"");
        }
        while (p < n && cast_gql_is_digit(s[p])) {
            p++;
        }
    }

    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        kind = CAST_TOK_FLOAT;
        p++;
        if (p < n && (s[p] == '+' || s[p] == '-')) {
            p++;
        }
        if (p == n || !cast_gql_is_digit(s[p])) {
            return cast_gql_lex_error(lx, p, "Invalid number, expected "
                                      "digit in exponent");
        }
        while (p < n && cast_gql_is_digit(s[p])) {
            p++;
        }
    }

    if (p < n && (s[p] == '.' || cast_gql_is_name_start(s[p]))) {
        return cast_gql_lex_error(lx, p, "Invalid number, unexpected "
                                  "character after number");
    }

    return cast_gql_lex_token(lx, p, kind);
}


static int
cast_gql_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/*
 * Scans \uXXXX or \u{...} at p (just after the 'u'); returns the code
 * point or -1, and advances *pp.
 */
static int32_t
cast_gql_lex_unicode(const char *s, size_t n, size_t *pp)
{
    size_t   p;
    int32_t  c;
    int      d, i;

    p = *pp;
    c = 0;

    if (p < n && s[p] == '{') {
        for (p++, i = 0; p < n && s[p] != '}'; p++, i++) {
            d = cast_gql_hex(s[p]);
            if (d < 0 || i >= 8 || (c = c * 16 + d) > 0x10ffff) {
                return -1;
            }
        }
        if (p == n || i == 0) {
            return -1;
        }
        *pp = p + 1;
        return c;
    }

    for (i = 0; i < 4; i++, p++) {
        if (p >= n || (d = cast_gql_hex(s[p])) < 0) {
            return -1;
        }
        c = c * 16 + d;
    }

    *pp = p;

    return c;
}


/* one escape at s[*pp] == '\\'; a code point, or -1 when invalid */
static int32_t
cast_gql_lex_escape(const char *s, size_t n, size_t *pp)
{
    size_t   p, q;
    int32_t  c, lo;

    p = *pp + 1;
    if (p >= n) {
        return -1;
    }

    switch (s[p]) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u':
        p++;
        c = cast_gql_lex_unicode(s, n, &p);
        if (c >= 0xd800 && c <= 0xdbff) {
            q = p + 2;
            if (p + 1 >= n || s[p] != '\\' || s[p + 1] != 'u') {
                return -1;
            }
            lo = cast_gql_lex_unicode(s, n, &q);
            if (lo < 0xdc00 || lo > 0xdfff) {
                return -1;
            }
            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            p = q;
        } else if (c >= 0xdc00 && c <= 0xdfff) {
            return -1;
        }
        *pp = p;
        return c;
    default:
        return -1;
    }

    *pp = p + 1;

    return c;
}


static cast_tok_e
cast_gql_lex_string(cast_gql_lexer_t *lx)
{
    const char  *s;
    size_t       p, n;

    s = lx->src;
    n = lx->len;
    p = lx->pos + 1;

    while (p < n && s[p] != '"') {
        if (s[p] == '\n' || s[p] == '\r') {
            return cast_gql_lex_error(lx, p, "Unterminated string");
        }

        if ((unsigned char) s[p] < 0x20 && s[p] != '\t') {
            return cast_gql_lex_error(lx, p, "Invalid character within "
                                      "String");
        }

        if (s[p] == '\\') {
            if (cast_gql_lex_escape(s, n, &p) < 0) {
                return cast_gql_lex_error(lx, p, "Invalid character escape "
                                          "sequence");
            }
            continue;
        }

        p++;
    }

    if (p >= n) {
        return cast_gql_lex_error(lx, p, "Unterminated string");
    }

    return cast_gql_lex_token(lx, p + 1, CAST_TOK_STRING);
}


static cast_tok_e
cast_gql_lex_block_string(cast_gql_lexer_t *lx)
{
    const char  *s;
    size_t       p, n;

    s = lx->src;
    n = lx->len;
    p = lx->pos + 3;

    while (p < n) {
        if (n - p >= 3 && s[p] == '"' && s[p + 1] == '"' && s[p + 2] == '"') {
            return cast_gql_lex_token(lx, p + 3, CAST_TOK_BLOCK_STRING);
        }

        if (n - p >= 4 && s[p] == '\\' && s[p + 1] == '"' && s[p + 2] == '"'
            && s[p + 3] == '"')
        {
            p += 4;
            continue;
        }

        if ((unsigned char) s[p] < 0x20 && s[p] != '\t' && s[p] != '\n'
            && s[p] != '\r')
        {
            return cast_gql_lex_error(lx, p, "Invalid character within "
                                      "String");
        }

        p++;
    }

    return cast_gql_lex_error(lx, p, "Unterminated string");
}


static const signed char  cast_gql_punct[128] = {
    ['!'] = CAST_TOK_BANG, ['$'] = CAST_TOK_DOLLAR, ['&'] = CAST_TOK_AMP,
    ['('] = CAST_TOK_LPAREN, [')'] = CAST_TOK_RPAREN,
    [':'] = CAST_TOK_COLON, ['='] = CAST_TOK_EQUALS, ['@'] = CAST_TOK_AT,
    ['['] = CAST_TOK_LBRACKET, [']'] = CAST_TOK_RBRACKET,
    ['{'] = CAST_TOK_LBRACE, ['|'] = CAST_TOK_PIPE, ['}'] = CAST_TOK_RBRACE
};


cast_tok_e
cast_gql_lex_next(cast_gql_lexer_t *lx)
{
    const char     *s;
    size_t          n;
    unsigned char   c;

    if (lx->kind == CAST_TOK_ERROR) {
        return CAST_TOK_ERROR;
    }

    cast_gql_lex_ignored(lx);

    s = lx->src;
    n = lx->len;
    lx->start = lx->pos;

    if (lx->pos >= n) {
        lx->end = n;
        lx->kind = CAST_TOK_EOF;
        return CAST_TOK_EOF;
    }

    if (++lx->ntokens > lx->max_tokens) {
        return cast_gql_lex_error(lx, lx->pos, "Document contains more "
                                  "tokens than the limit allows "
                                  "(max_tokens)");
    }

    c = (unsigned char) s[lx->pos];

    if (c < 128 && cast_gql_punct[c] != 0) {
        return cast_gql_lex_token(lx, lx->pos + 1,
                                  (cast_tok_e) cast_gql_punct[c]);
    }

    if (c == '.') {
        if (n - lx->pos >= 3 && s[lx->pos + 1] == '.' && s[lx->pos + 2] == '.')
        {
            return cast_gql_lex_token(lx, lx->pos + 3, CAST_TOK_SPREAD);
        }
        return cast_gql_lex_error(lx, lx->pos, "Unexpected character: \".\"");
    }

    if (cast_gql_is_name_start(c)) {
        while (lx->pos < n && cast_gql_is_name(s[lx->pos])) {
            lx->pos++;
        }
        return cast_gql_lex_token(lx, lx->pos, CAST_TOK_NAME);
    }

    if (c == '-' || cast_gql_is_digit(c)) {
        return cast_gql_lex_number(lx);
    }

    if (c == '"') {
        if (n - lx->pos >= 3 && s[lx->pos + 1] == '"' && s[lx->pos + 2] == '"')
        {
            return cast_gql_lex_block_string(lx);
        }
        return cast_gql_lex_string(lx);
    }

    return cast_gql_lex_error(lx, lx->pos, "Unexpected character");
}


static int
cast_gql_blank(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t') {
            return 0;
        }
    }

    return 1;
}


static size_t
cast_gql_indent(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t'); i++) {
        /* void */
    }

    return i;
}


/* the next line of a block string: [*p, *e), returns 0 at the end */
static int
cast_gql_line(const char *s, size_t n, size_t *p, size_t *ls, size_t *le)
{
    if (*p > n) {
        return 0;
    }

    *ls = *p;
    while (*p < n && s[*p] != '\n' && s[*p] != '\r') {
        (*p)++;
    }
    *le = *p;

    if (*p < n && s[*p] == '\r' && *p + 1 < n && s[*p + 1] == '\n') {
        (*p)++;
    }
    (*p)++;

    return 1;
}


/* BlockStringValue(): common indentation and blank edge lines removed */
static int
cast_gql_block_value(const char *raw, size_t n, cast_arena_t *a,
    cast_str_t *out)
{
    char    *d;
    size_t   p, ls, le, common, ind, first, last, line, i;

    common = SIZE_MAX;
    first = SIZE_MAX;
    last = 0;

    for (p = 0, line = 0; cast_gql_line(raw, n, &p, &ls, &le); line++) {
        ind = cast_gql_indent(raw + ls, le - ls);
        if (line > 0 && ind < le - ls && ind < common) {
            common = ind;
        }
        if (!cast_gql_blank(raw + ls, le - ls)) {
            if (first == SIZE_MAX) {
                first = line;
            }
            last = line;
        }
    }

    d = cast_arena_alloc(a, n + 1);
    if (d == NULL) {
        return -1;
    }

    out->data = d;

    for (p = 0, line = 0; cast_gql_line(raw, n, &p, &ls, &le); line++) {
        if (first == SIZE_MAX || line < first || line > last) {
            continue;
        }
        if (line > first) {
            *d++ = '\n';
        }
        if (line > 0 && common != SIZE_MAX) {
            ls += common < le - ls ? common : le - ls;
        }
        for (i = ls; i < le; i++) {
            if (le - i >= 4 && raw[i] == '\\'
                && memcmp(raw + i + 1, "\"\"\"", 3) == 0)
            {
                i++;
            }
            *d++ = raw[i];
        }
    }

    out->len = (size_t) (d - out->data);

    return 0;
}


int
cast_gql_string_value(cast_gql_lexer_t *lx, cast_arena_t *a, cast_str_t *out)
{
    const char  *s;
    char        *d;
    size_t       p, e;
    int32_t      c;

    s = lx->src;

    if (lx->kind == CAST_TOK_BLOCK_STRING) {
        return cast_gql_block_value(s + lx->start + 3,
                                    lx->end - lx->start - 6, a, out);
    }

    p = lx->start + 1;
    e = lx->end - 1;

    if (memchr(s + p, '\\', e - p) == NULL) {
        out->data = s + p;
        out->len = e - p;
        return 0;
    }

    d = cast_arena_alloc(a, e - p + 1);
    if (d == NULL) {
        return -1;
    }

    out->data = d;

    while (p < e) {
        if (s[p] != '\\') {
            *d++ = s[p++];
            continue;
        }
        /* checked by the scan already */
        c = cast_gql_lex_escape(s, e, &p);
        d = cast_utf8_put(d, (uint32_t) c);
    }

    out->len = (size_t) (d - out->data);

    return 0;
}


#define cast_gql_is_eol(s, i, len)                                           \
    ((s)[i] == '\n'                                                          \
     || ((s)[i] == '\r' && ((i) + 1 == (len) || (s)[(i) + 1] != '\n')))


/* the start of every line (ended by LF, CRLF or CR), one pass to count */
int
cast_gql_lines_init(cast_gql_lines_t *l, cast_arena_t *a, const char *src,
    size_t len)
{
    size_t         i, n;
    unsigned char  high;

    l->src = src;
    l->len = len;

    for (i = 0, n = 1, high = 0; i < len; i++) {
        high |= (unsigned char) src[i];
        n += cast_gql_is_eol(src, i, len);
    }

    l->ascii = !(high & 0x80);
    l->start = cast_arena_alloc(a, n * sizeof(uint32_t));
    if (l->start == NULL) {
        return -1;
    }

    l->start[0] = 0;

    for (i = 0, n = 1; i < len; i++) {
        if (cast_gql_is_eol(src, i, len)) {
            l->start[n++] = (uint32_t) (i + 1);
        }
    }

    l->n = n;

    return 0;
}


/* line and column of a byte offset: a binary search, then the column */
cast_gql_pos_t
cast_gql_lines_pos(const cast_gql_lines_t *l, uint32_t off)
{
    size_t          lo, hi, mid;
    cast_gql_pos_t  pos;

    if (off > l->len) {
        off = (uint32_t) l->len;
    }

    lo = 0;
    hi = l->n;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;
        if (l->start[mid] <= off) {
            lo = mid;
        } else {
            hi = mid;
        }
    }

    pos.line = (uint32_t) lo + 1;
    pos.col = off - l->start[lo] + 1;

    /* columns count code points, as graphql-js counts UTF-16 units */
    if (!l->ascii) {
        pos.col -= (uint32_t) cast_utf8_continuations(l->src + l->start[lo],
                                                      off - l->start[lo]);
    }

    return pos;
}
