/*
 * GraphQL over HTTP: methods, Content-Type, Accept negotiation, GET and
 * POST parameters, and the status code of each outcome for both media
 * types (the cases of the graphql-http audit and more).
 */

#include "test_gql.h"


#define JSON_CT  "application/json"
#define GQL_CT   "application/graphql-response+json"
#define GQL      "application/graphql-response+json"

#define TYPENAME_BODY  "{\"query\":\"{ __typename }\"}"
#define TYPENAME_DATA  "{\"data\":{\"__typename\":\"Query\"}}"


static cast_gql_engine_t  *eng;


static test_resp_t
test_http(cast_gql_method_e m, const char *ctype, const char *accept,
    const char *body, const char *args)
{
    return test_request(eng, m, ctype, accept, body, args, test_resolve_ok);
}


static void
test_accept(const char *accept, int status, const char *ctype)
{
    test_resp_t  r;

    r = test_http(CAST_GQL_METHOD_POST, "application/json", accept,
                  TYPENAME_BODY, NULL);
    test_check(r.status == status && r.ctype != NULL
               && strcmp(r.ctype, ctype) == 0,
               "Accept %s: %d %s, want %d %s", accept ? accept : "(none)",
               r.status, r.ctype, status, ctype);
}


static void
test_media_types(void)
{
    test_accept(NULL, 200, JSON_CT);
    test_accept("application/json", 200, JSON_CT);
    test_accept(GQL, 200, GQL_CT);
    test_accept("*/*", 200, JSON_CT);
    test_accept("application/*", 200, JSON_CT);
    test_accept(GQL ", application/json", 200, GQL_CT);
    test_accept("application/json, " GQL, 200, GQL_CT);
    test_accept("application/json;q=0.9, " GQL ";q=0.8", 200, JSON_CT);
    test_accept(GQL ";q=0.5, */*;q=0.1", 200, GQL_CT);
    test_accept("APPLICATION/JSON; charset=UTF-8", 200, JSON_CT);
    test_accept("application/json; charset=latin1", 406, JSON_CT);
    test_accept("text/html", 406, JSON_CT);
    test_accept("application/json;q=0", 406, JSON_CT);
    test_accept("text/html, */*;q=0.2", 200, JSON_CT);
}


static void
test_html(const char *accept, int want)
{
    cast_str_t  a;

    a.data = accept;
    a.len = accept ? strlen(accept) : 0;

    test_check(cast_gql_prefers_html(a) == want, "Accept %s: prefers html "
               "%d, want %d", accept ? accept : "(none)", !want, want);
}


static void
test_stream(const char *accept, int want)
{
    cast_str_t  a;

    a.data = accept;
    a.len = accept ? strlen(accept) : 0;

    test_check(cast_gql_wants_stream(a) == want, "Accept %s: wants a "
               "stream %d, want %d", accept ? accept : "(none)", !want,
               want);
}


/* text/event-stream itself asks for a stream; a wildcard or a lookalike not */
static void
test_wants_stream(void)
{
    test_stream("text/event-stream", 1);
    test_stream("TEXT/Event-Stream", 1);
    test_stream("application/json, text/event-stream;q=0.5", 1);
    test_stream("text/event-stream; charset=utf-8", 1);
    test_stream(NULL, 0);
    test_stream("*/*", 0);
    test_stream("text/*", 0);
    test_stream("application/json", 0);
    test_stream("text/event-stream;q=0", 0);
    test_stream("text/event-stream; q=0.000, application/json", 0);
    test_stream("text/event-streaming", 0);
    test_stream("x-text/event-stream", 0);
    test_stream("text/event-stream-x;q=1", 0);
    test_stream("application/json;p=text/event-stream", 0);
}


/* a browser gets GraphiQL; every API client keeps its JSON or 406 */
static void
test_prefers_html(void)
{
    /* chromium's and firefox's navigation Accept */
    test_html("text/html,application/xhtml+xml,application/xml;q=0.9,"
              "image/avif,image/webp,image/apng,*/*;q=0.8,"
              "application/signed-exchange;v=b3;q=0.7", 1);
    test_html("text/html,application/xhtml+xml,application/xml;q=0.9,"
              "*/*;q=0.8", 1);
    test_html("text/html", 1);
    test_html("TEXT/HTML; q=0.5", 1);
    test_html("text/*", 1);
    test_html("text/html, */*;q=0.2", 1);

    test_html(NULL, 0);
    test_html("", 0);
    test_html("*/*", 0);
    test_html("application/json", 0);
    test_html(GQL, 0);
    test_html(GQL ", application/json;q=0.9", 0);
    test_html("text/html, application/json", 0);
    test_html("text/html;q=0.5, application/json", 0);
    test_html("application/json;q=0.5, text/html;q=0.5", 0);
    test_html("text/html;q=0.9, " GQL, 0);
    test_html("text/html;q=0, */*", 0);
    test_html("text/html;q=0", 0);
    test_html("text/*;q=0.5, application/*", 0);
    test_html("text/html; charset=latin1, */*;q=0.1", 0);
    test_html("text/plain", 0);
    test_html("text/htmlx, */*;q=0.1", 0);
    test_html("image/png, text/html;q=0.1", 1);
    test_html("text/html;q=0.001, application/json;q=0", 1);
    test_html("text/html;q=0.000", 0);
}


static void
test_methods(void)
{
    test_resp_t  r;

    r = test_http(CAST_GQL_METHOD_OTHER, NULL, NULL, NULL, NULL);
    test_status(r, 405);
    test_check(r.allow != NULL && strcmp(r.allow, "GET, POST") == 0,
               "Allow: GET, POST");
    test_body(r, "{\"errors\":[{\"message\":\"Only GET and POST requests are "
              "supported.\",\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    r = test_http(CAST_GQL_METHOD_GET, NULL, GQL, NULL,
                  "query=mutation+%7B+__typename+%7D");
    test_status(r, 405);
    test_check(r.allow != NULL && strcmp(r.allow, "POST") == 0,
               "mutation over GET: Allow: POST");

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "query=%7B+__typename+%7D");
    test_status(r, 200);
    test_body(r, TYPENAME_DATA);

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "operationName=B&query=query+A%7Ba%3A__typename%7D"
                  "query+B(%24u%3AString!)%7Bquery(username%3A%24u)%7D"
                  "&variables=%7B%22u%22%3A%22ab%2Bc%22%7D&extensions=%7B%7D");
    test_status(r, 200);
    test_body(r, "{\"data\":{\"query\":4}}");

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL, "query=%7B%zz");
    test_status(r, 400);

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL, "query=%C3%28");
    test_status(r, 400);

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL, "foo=bar");
    test_status(r, 400);
    test_body(r, "{\"errors\":[{\"message\":\"The query parameter is "
              "missing.\",\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "query=%7B__typename%7D&variables=%5B%5D");
    test_status(r, 400);
}


static void
test_content_types(void)
{
    test_resp_t  r;

    r = test_http(CAST_GQL_METHOD_POST, NULL, NULL, NULL, NULL);
    test_status(r, 415);

    r = test_http(CAST_GQL_METHOD_POST, "text/plain", NULL, TYPENAME_BODY,
                  NULL);
    test_status(r, 415);

    r = test_http(CAST_GQL_METHOD_POST, "application/json; charset=latin1",
                  NULL, TYPENAME_BODY, NULL);
    test_status(r, 415);

    r = test_http(CAST_GQL_METHOD_POST, "Application/JSON ; charset=\"utf-8\"",
                  NULL, TYPENAME_BODY, NULL);
    test_status(r, 200);
}


/* a compressed body is refused, never read as JSON */
static void
test_content_encodings(void)
{
    test_resp_t  r;

    test_coding = "gzip";
    r = test_http(CAST_GQL_METHOD_POST, "application/json", NULL,
                  TYPENAME_BODY, NULL);
    test_status(r, 415);
    test_body(r, "{\"errors\":[{\"message\":\"The request body must not be "
              "compressed; send it without a Content-Encoding.\","
              "\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    /* a GET has no body to decode */
    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "query=%7B__typename%7D");
    test_status(r, 200);
    test_coding = NULL;

    test_check(cast_gql_identity_coding(test_str(" Identity ")),
               "identity is no coding");
    test_check(cast_gql_identity_coding(test_str("")),
               "an empty coding is none");
    test_check(!cast_gql_identity_coding(test_str("gzip, identity")),
               "gzip is a coding");
}


/* a POST body answered with this status for each media type */
static void
test_post_status(const char *body, int json_status, int gql_status)
{
    test_resp_t  r;

    r = test_http(CAST_GQL_METHOD_POST, "application/json",
                  "application/json", body, NULL);
    test_check(r.status == json_status, "json %s: %d, want %d (%s)", body,
               r.status, json_status, test_or(r.body));

    r = test_http(CAST_GQL_METHOD_POST, "application/json", GQL, body, NULL);
    test_check(r.status == gql_status, "gql %s: %d, want %d (%s)", body,
               r.status, gql_status, test_or(r.body));

    if (gql_status == 400) {
        test_check(r.body != NULL && strstr(r.body, "\"data\"") == NULL,
                   "no data entry with 400: %s", test_or(r.body));
    }
}


static void
test_statuses(void)
{
    test_post_status(TYPENAME_BODY, 200, 200);
    test_post_status("", 400, 400);
    test_post_status("{ \"not a JSON", 400, 400);
    test_post_status("[1]", 400, 400);
    test_post_status("{\"qeury\":\"{ __typename }\"}", 400, 400);
    test_post_status("{\"query\":{\"obj\":\"ect\"}}", 400, 400);
    test_post_status("{\"query\":0}", 400, 400);
    test_post_status("{\"query\":false}", 400, 400);
    test_post_status("{\"query\":[\"array\"]}", 400, 400);
    test_post_status("{\"query\":\"{ __typename }\",\"variables\":\"s\"}",
                     400, 400);
    test_post_status("{\"query\":\"{ __typename }\",\"variables\":[]}",
                     400, 400);
    test_post_status("{\"query\":\"{ __typename }\",\"operationName\":0}",
                     400, 400);
    test_post_status("{\"query\":\"{ __typename }\",\"extensions\":\"x\"}",
                     400, 400);
    test_post_status("{\"query\":\"{ __typename }\",\"variables\":null,"
                     "\"operationName\":null,\"extensions\":null}", 200, 200);
    test_post_status("{\"query\":\"{ __typename }\",\"variables\":{},"
                     "\"extensions\":{\"a\":[1,{}]}}", 200, 200);
    test_post_status("{\"query\":\"{\"}", 200, 400);
    test_post_status("{\"query\":\"{ f8f31403dfe404bccbb0e835f2629c6a7 }\"}",
                     200, 400);
    test_post_status("{\"query\":\"query CoerceFailure($id: ID!)"
                     "{ __typename }\",\"variables\":{\"id\":null}}",
                     200, 400);
    test_post_status("{\"query\":\"query($u:String!){query(username:$u)}\","
                     "\"variables\":{\"u\":null}}", 200, 400);
    test_post_status("{\"query\":\"query A { __typename } query B "
                     "{ __typename }\"}", 200, 400);
    test_post_status("{\"query\":\"{ __typename }\",\"operationName\":"
                     "\"Nope\"}", 200, 400);
    test_post_status("{\"query\":\"{ \\u00e9 }\"}", 200, 400);
    test_post_status("{\"query\":\"{ __type(name: \\\"Run\xf0\x9f\x8f\x83"
                     "\\\") { name } }\"}", 200, 200);
    test_post_status("{\"query\":\"\xc3\x28\"}", 400, 400);
    test_post_status("{\"query\":\"\\ud800\"}", 400, 400);
}


/*
 * One rule for duplicate keys, in the body, in variables at any depth
 * and in the URL: refused with 400 naming the key, never first or last
 * wins.
 */
static void
test_duplicates(void)
{
    test_resp_t  r;

    test_post_status("{\"query\":\"{ __typename }\",\"query\":\"{ cas "
                     "{ ticket } }\"}", 400, 400);
    r = test_post(eng, "{\"query\":\"mutation { __typename }\","
                  "\"query\":\"{ __typename }\"}");
    test_status(r, 400);
    test_body(r, "{\"errors\":[{\"message\":\"The request body has a "
              "duplicate key \\\"query\\\"; keys must be unique.\","
              "\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    r = test_post(eng, "{\"query\":\"query($u:String!){query(username:$u)}"
                  "\",\"variables\":{\"u\":\"alice\",\"u\":\"bob\"}}");
    test_status(r, 400);
    test_body(r, "{\"errors\":[{\"message\":\"The request body has a "
              "duplicate key \\\"u\\\"; keys must be unique.\","
              "\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    r = test_post(eng, "{\"query\":\"{ __typename }\",\"extensions\":"
                  "{\"x\":[{\"k\":1,\"\\u006b\":2}]}}");
    test_status(r, 400);
    test_body_has(r, "duplicate key \\\"k\\\"; keys must be unique.");

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "query=query(%24u%3AString!)%7Bquery(username%3A%24u)%7D"
                  "&variables=%7B%22u%22%3A%22a%22%2C%22u%22%3A%22b%22%7D");
    test_status(r, 400);
    test_body(r, "{\"errors\":[{\"message\":\"The variables parameter "
              "has a duplicate key \\\"u\\\"; keys must be unique.\","
              "\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "query=%7B__typename%7D&query=%7Bcas%7Bticket%7D%7D");
    test_status(r, 400);
    test_body(r, "{\"errors\":[{\"message\":\"The query string has the "
              "query parameter twice.\",\"extensions\":{\"code\":"
              "\"BAD_REQUEST\"}}]}");

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "operationName=A&query=query+A%7B__typename%7D"
                  "&operationName=B");
    test_status(r, 400);
    test_body_has(r, "The query string has the operationName parameter "
                  "twice.");

    r = test_http(CAST_GQL_METHOD_GET, NULL, NULL, NULL,
                  "query=%7B__typename%7D&other=1&other=2");
    test_status(r, 200);
}


static void
test_request_limits(void)
{
    cast_gql_limits_t  lim;
    test_resp_t        r;
    char               body[300];
    int                i;

    lim = test_limits();
    lim.max_query_len = 20;
    lim.max_tokens = 8;
    cast_gql_engine_destroy(eng);
    eng = cast_gql_engine_create(&lim);

    r = test_http(CAST_GQL_METHOD_POST, "application/json", NULL,
                  "{\"query\":\"{ a: __typename b: __typename }\"}", NULL);
    test_status(r, 400);
    test_body(r, "{\"errors\":[{\"message\":\"The query is longer than the "
              "limit of 20 bytes (max_query_len).\",\"extensions\":{\"code\""
              ":\"BAD_REQUEST\"}}]}");

    r = test_http(CAST_GQL_METHOD_POST, "application/json", NULL,
                  "{\"query\":\"{a b c d e f g h}\"}", NULL);
    test_body_has(r, "Syntax Error: Document contains more tokens than the "
                  "limit allows (max_tokens).");

    i = sprintf(body, "{\"query\":\"{ __typename }\",\"variables\":{\"a\":");
    memset(body + i, '[', 100);
    strcpy(body + i + 100, "]}}");
    r = test_http(CAST_GQL_METHOD_POST, "application/json", NULL, body, NULL);
    test_status(r, 400);
}


int
main(void)
{
    eng = test_engine();

    test_media_types();
    test_prefers_html();
    test_wants_stream();
    test_methods();
    test_content_types();
    test_content_encodings();
    test_statuses();
    test_duplicates();
    test_request_limits();

    cast_gql_engine_destroy(eng);

    return test_gql_done("test_gql_http");
}
