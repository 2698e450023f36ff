/*
 * The schema is bound to execution by name, once, when it is built: an
 * SDL with its types, fields and arguments in another order gives the
 * same slots and the same answers, and an SDL that lacks a bound name,
 * changes a bound type or adds what execution does not know is refused
 * when the engine is created.
 */

#include "test_gql.h"
#include "cast_gql_exec.h"


/* the CAST schema of cast_gql_sdl.c, every list in another order */
static const char  test_reordered_sdl[] =
    "type Score {\n"
    "  votes: Int!\n"
    "  username: String!\n"
    "}\n"
    "type Subscription {\n"
    "  totalVotes: Int!\n"
    "  ticket: TicketInfo!\n"
    "  votes(usernames: [String!]!): [Score!]!\n"
    "  top(limit: Int = 10): [Score!]!\n"
    "}\n"
    "type VoteResult {\n"
    "  votes: [Int!]!\n"
    "  usernames: [String!]!\n"
    "  message: String!\n"
    "  success: Boolean!\n"
    "}\n"
    "type TicketInfo {\n"
    "  remainingUsage: Int!\n"
    "  validUntil: String!\n"
    "  ticket: String!\n"
    "}\n"
    "type Mutation {\n"
    "  vote(\n"
    "    idempotencyKey: String\n"
    "    voterUsername: String\n"
    "    ticket: String!\n"
    "    voteCount: [Int!]\n"
    "    usernames: [String!]!\n"
    "  ): VoteResult!\n"
    "}\n"
    "type Query {\n"
    "  totalVotes: Int!\n"
    "  top(limit: Int = 10): [Score!]!\n"
    "  cas: TicketInfo!\n"
    "  query(username: String!): Int!\n"
    "}\n";


/* the requests both engines answer alike (introspection lists in order) */
static const char  *test_requests[] = {
    "{\"query\":\"{ query(username: \\\"alice\\\") }\"}",
    "{\"query\":\"{ b: cas { r: remainingUsage __typename t: ticket "
    "validUntil } a: query(username: \\\"abc\\\") __typename }\"}",
    "{\"query\":\"mutation($u:[String!]!,$c:[Int!],$t:String!){vote("
    "usernames:$u,voteCount:$c,ticket:$t){success message usernames votes "
    "__typename}}\",\"variables\":{\"u\":[\"al\\u00e9\",\"bo\"],"
    "\"c\":[2,3],\"t\":\"T1\"}}",
    "{\"query\":\"mutation{vote(usernames:\\\"x\\\",ticket:\\\"t\\\","
    "voterUsername:\\\"me\\\",idempotencyKey:\\\"k1\\\"){votes "
    "__typename}}\"}",
    "{\"query\":\"mutation{vote(idempotencyKey:null,ticket:\\\"tk\\\","
    "voteCount:[4],usernames:[\\\"z\\\"],voterUsername:null){message}}\"}",
    "{\"query\":\"mutation{vote(usernames:[\\\"a\\\"]){success}}\"}",
    "{\"query\":\"mutation{vote(usernames:[1],ticket:\\\"t\\\"){votes}}\"}",
    "{\"query\":\"{ cas { ticket nope } }\"}",
    "{\"query\":\"{ query }\"}",
    "{\"query\":\"{ totalVotes t: top(limit: 2) { votes username "
    "__typename } top { username } }\"}",
    "{\"query\":\"mutation{ __typename v: vote(ticket:\\\"t\\\","
    "usernames:[\\\"q\\\"],voteCount:[9]) { ... on VoteResult { votes } "
    "__typename } }\"}"
};


static int
test_str_eq(cast_str_t a, cast_str_t b)
{
    return a.len == b.len
           && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0)
           && (a.data == NULL) == (b.data == NULL);
}


/* the coerced arguments the host sees */
static int
test_slot_eq(const cast_gql_slot_t *a, const cast_gql_slot_t *b)
{
    size_t  i;

    if (a->kind != b->kind || a->limit != b->limit
        || !test_str_eq(a->username, b->username)
        || a->nusernames != b->nusernames || a->ncounts != b->ncounts
        || (a->counts == NULL) != (b->counts == NULL)
        || !test_str_eq(a->ticket, b->ticket)
        || !test_str_eq(a->voter, b->voter)
        || !test_str_eq(a->idempotency_key, b->idempotency_key))
    {
        return 0;
    }

    for (i = 0; i < a->nusernames; i++) {
        if (!test_str_eq(a->usernames[i], b->usernames[i])) {
            return 0;
        }
    }

    for (i = 0; i < a->ncounts; i++) {
        if (a->counts[i] != b->counts[i]) {
            return 0;
        }
    }

    return 1;
}


static void
test_reordered(void)
{
    cast_gql_engine_t  *plain, *reordered;
    cast_gql_limits_t   lim;
    test_resp_t         a, b;
    cast_gql_slot_t     slots[8];
    char               *body;
    test_block_t       *kept;
    size_t              i, k;

    lim = test_limits();
    plain = test_engine();
    reordered = cast_gql_engine_create_sdl(&lim, test_str(test_reordered_sdl));
    test_check(reordered != NULL, "the reordered SDL builds");
    if (reordered == NULL) {
        cast_gql_engine_destroy(plain);
        return;
    }

    for (i = 0; i < sizeof(test_requests) / sizeof(test_requests[0]); i++) {
        a = test_post(plain, test_requests[i]);

        /* a's slots point into the pool the next request frees: keep it */
        memcpy(slots, a.slots, sizeof(slots));
        body = a.body;
        kept = test_pool;
        test_pool = NULL;

        b = test_post(reordered, test_requests[i]);

        test_check(a.rc == b.rc && a.nslots == b.nslots
                   && a.status == b.status, "request %zu: rc %d/%d, "
                   "slots %zu/%zu", i, a.rc, b.rc, a.nslots, b.nslots);

        for (k = 0; k < a.nslots && k < b.nslots && k < 8; k++) {
            test_check(test_slot_eq(&slots[k], &b.slots[k]),
                       "request %zu: slot %zu differs", i, k);
        }

        test_check(body != NULL && b.body != NULL
                   && strcmp(body, b.body) == 0,
                   "request %zu\n  plain:     %s\n  reordered: %s", i,
                   test_or(body), test_or(b.body));

        test_blocks_free(&kept);
    }

    /* the requests cover every bound argument and subfield */
    test_check(strstr(test_requests[3], "idempotencyKey") != NULL,
               "the requests name every argument");

    cast_gql_engine_destroy(reordered);
    cast_gql_engine_destroy(plain);
}


/* the reordered SDL with one edit, which the build must refuse */
static void
test_refused(const char *from, const char *to, const char *why)
{
    cast_gql_schema_t   s;
    char                sdl[sizeof(test_reordered_sdl) + 128];
    const char         *at;
    size_t              n;
    int                 rc;

    at = strstr(test_reordered_sdl, from);
    test_check(at != NULL, "the SDL has %s", from);
    if (at == NULL) {
        return;
    }

    n = (size_t) (at - test_reordered_sdl);
    memcpy(sdl, test_reordered_sdl, n);
    snprintf(sdl + n, sizeof(sdl) - n, "%s%s", to, at + strlen(from));

    rc = cast_gql_schema_init(&s, test_str(sdl));
    test_check(rc == -1 && strstr(s.error, why) != NULL,
               "%s -> %s: rc %d, error \"%s\", want \"%s\"", from, to, rc,
               s.error, why);
    cast_gql_schema_free(&s);
}


static void
test_refusals(void)
{
    cast_gql_schema_t   s;
    cast_gql_limits_t   lim;
    cast_gql_engine_t  *e;

    test_check(cast_gql_schema_init(&s, test_str(test_reordered_sdl)) == 0
               && s.error[0] == '\0', "the reordered SDL binds: %s",
               s.error);
    cast_gql_schema_free(&s);

    test_refused("    voterUsername: String\n", "",
                 "lacks the argument \"vote.voterUsername\"");
    test_refused("voterUsername", "voter",
                 "lacks the argument \"vote.voterUsername\"");
    test_refused("voteCount: [Int!]", "voteCount: [Int]",
                 "changed the type of argument \"vote.voteCount\"");
    test_refused("  ): VoteResult!", "    weight: Int\n  ): VoteResult!",
                 "does not bind the argument \"vote.weight\"");
    test_refused("  query(username: String!): Int!",
                 "  query(username: String!, since: Int): Int!",
                 "does not bind the argument \"query.since\"");
    test_refused("  validUntil: String!\n", "",
                 "lacks the field \"TicketInfo.validUntil\"");
    test_refused("  message: String!\n", "  message: String!\n  extra: Int\n",
                 "does not bind the field \"VoteResult.extra\"");
    test_refused("  votes: [Int!]!\n", "  votes: [Int]!\n",
                 "changed the type of \"VoteResult.votes\"");
    test_refused("  cas: TicketInfo!\n", "",
                 "lacks the field \"Query.cas\"");
    test_refused("  cas: TicketInfo!\n", "  cas: TicketInfo\n",
                 "changed the type of \"Query.cas\"");
    test_refused("type Mutation", "type Mutations", "Mutation");
    test_refused("ticket: String!\n}", "ticket: Ticket!\n}",
                 "does not define: \"Ticket!\"");
    test_refused("type Query {", "type Query {{", "does not parse");

    /* the engine refuses it too, with the reason on stderr */
    lim = test_limits();
    e = cast_gql_engine_create_sdl(&lim, test_str("type Query { x: Int }"));
    test_check(e == NULL, "an engine of a foreign schema");
    cast_gql_engine_destroy(e);
}


int
main(void)
{
    test_reordered();
    test_refusals();

    return test_gql_done("test_gql_schema");
}
