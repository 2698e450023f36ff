# The module's front door: probes, schema, a first GraphQL answer, the
# HTTP-level refusals, metrics, each document limit and GraphQL over HTTP
# (GET with variables, the errors of parsing, validation and variables),
# and what a Redis database without counts or ticket (cast_redis_db 9)
# answers.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Vote;

$ENV{TEST_NGINX_CAST_HTTP} .= "    cast_max_body_size 1k;\n";

run_tests();

__DATA__

=== TEST 1: healthz answers while the worker runs
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /healthz { cast_healthz; }
--- request
GET /healthz
--- response_body
ok



=== TEST 2: readyz is 200 with Redis up, counts ready and a current ticket
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /readyz { cast_readyz; }
--- request
GET /readyz
--- response_body_like chomp
^ready redis 127\.0\.0\.1:\d+$



=== TEST 3: readyz is 503 when Redis cannot be reached
--- http_config
    cast_redis 127.0.0.1:1;
    cast_redis_functions $TEST_NGINX_REPO/lib/redis/cast.lua;
--- config
location = /readyz { cast_readyz; }
--- request
GET /readyz
--- error_code: 503
--- response_body_like chomp
^redis unavailable: redis 127\.0\.0\.1:1$



=== TEST 4: the schema in SDL
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql/schema { cast_schema; }
--- request
GET /graphql/schema
--- response_headers
Content-Type: text/plain
--- response_body_like chomp
(?s)type Query \{.*query\(username: String!\): Int!.*cas: TicketInfo!



=== TEST 5: { __typename } over POST
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query":"{ __typename }"}
--- more_headers
Content-Type: application/json
Accept: application/json
--- response_headers
Content-Type: application/json
--- response_body chomp
{"data":{"__typename":"Query"}}



=== TEST 6: { __typename } over GET
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
GET /graphql?query=%7B__typename%7D
--- more_headers
Accept: application/graphql-response+json
--- response_headers
Content-Type: application/graphql-response+json
--- response_body chomp
{"data":{"__typename":"Query"}}



=== TEST 7: a mutation over GET is refused with 405 and Allow: POST
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
GET /graphql?query=mutation%7Bvote(usernames:%5B%22a%22%5D,ticket:%22t%22)%7Bsuccess%7D%7D
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 8: a body over cast_max_body_size is refused with 413
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request eval
"POST /graphql\n" . '{"query":"{ __typename }","pad":"' . ("x" x 2000) . '"}'
--- more_headers
Content-Type: application/json
--- error_code: 413
--- response_body chomp
{"errors":[{"message":"The request body is larger than the limit of 1024 bytes (cast_max_body_size).","extensions":{"code":"BAD_REQUEST"}}]}



=== TEST 9: malformed JSON is a 400 with a GraphQL error
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query": 
--- more_headers
Content-Type: application/json
Accept: application/graphql-response+json
--- error_code: 400
--- response_body_like: ^\{"errors":\[\{"message":".+"



=== TEST 10: metrics in the Prometheus text format
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /metrics { cast_metrics; }
--- request
GET /metrics
--- response_body_like chomp
(?s)# TYPE cast_votes_total counter
cast_votes_total\{outcome="accepted"\} \d+
.*cast_redis_command_seconds_bucket\{le="\+Inf"\} \d+
.*cast_document_cache_hits_total \d+



=== TEST 11: Redis down: a query answers UNAVAILABLE, not an error page
--- http_config
    cast_redis 127.0.0.1:1;
    cast_redis_functions $TEST_NGINX_REPO/lib/redis/cast.lua;
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query":"{ query(username: \"alice\") }"}
--- more_headers
Content-Type: application/json
Accept: application/json
--- error_code: 200
--- response_body_like: "code":"UNAVAILABLE"



=== TEST 12: cast_max_depth: a selection nested deeper is refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_depth 1;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{cas{ticket}}')
--- response_body chomp
{"errors":[{"message":"Selection depth 2 exceeds the limit of 1 (max_depth).","locations":[{"line":1,"column":1}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}



=== TEST 13: cast_max_tokens: a longer document is refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_tokens 4;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{__typename __typename __typename}')
--- response_body chomp
{"errors":[{"message":"Syntax Error: Document contains more tokens than the limit allows (max_tokens).","locations":[{"line":1,"column":34}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]}



=== TEST 14: cast_max_aliases: more aliases are refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_aliases 1;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{a:__typename b:__typename}')
--- response_body chomp
{"errors":[{"message":"Document uses 2 aliases, more than the limit of 1 (max_aliases).","locations":[{"line":1,"column":1}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}



=== TEST 15: cast_max_fields: more fields are refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_fields 2;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{a:__typename b:__typename c:__typename}')
--- response_body chomp
{"errors":[{"message":"Document selects 3 fields, more than the limit of 2 (max_fields).","locations":[{"line":1,"column":1}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}



=== TEST 16: cast_max_query_length: a longer query text is refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_query_length 16;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{' . (' ' x 20) . '__typename}')
--- error_code: 400
--- response_body chomp
{"errors":[{"message":"The query is longer than the limit of 16 bytes (max_query_len).","extensions":{"code":"BAD_REQUEST"}}]}



=== TEST 17: cast_max_list_length: a longer list literal is refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_usernames 2;
    cast_max_list_length 3;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('mutation{vote(usernames:["a","b","c","d"],ticket:"t"){success}}')
--- response_body chomp
{"errors":[{"message":"List has 4 elements, more than the limit of 3 (max_list_len).","locations":[{"line":1,"column":25}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}



=== TEST 18: cast_introspection off: __schema is refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_introspection off;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{__schema{queryType{name}}}')
--- response_body chomp
{"errors":[{"message":"Introspection is disabled on this server (introspection limit): \"__schema\" is not allowed.","locations":[{"line":1,"column":2}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}



=== TEST 19: introspection on: __type answers
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{__type(name:"TicketInfo"){name fields{name}}}')
--- response_body chomp
{"data":{"__type":{"name":"TicketInfo","fields":[{"name":"ticket"},{"name":"validUntil"},{"name":"remainingUsage"},{"name":"clientRemaining"}]}}}



=== TEST 20: a syntax error is a GraphQL error with its location
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{ cas { ticket ')
--- response_body chomp
{"errors":[{"message":"Syntax Error: Expected Name, found <EOF>.","locations":[{"line":1,"column":16}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]}



=== TEST 21: an unknown field fails validation
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{ nope }')
--- response_body chomp
{"errors":[{"message":"Cannot query field \"nope\" on type \"Query\".","locations":[{"line":1,"column":3}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}



=== TEST 22: a variable of the wrong type fails
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('query($u:String!){query(username:$u)}', {u => 5})
--- response_body chomp
{"errors":[{"message":"Variable \"$u\" got invalid value 5; String cannot represent a non string value","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}



=== TEST 23: a query over GET with variables
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
GET /graphql?query=query(%24u%3AString!)%7Bquery(username%3A%24u)%7D&variables=%7B%22u%22%3A%22never-voted-for%22%7D
--- response_body chomp
{"data":{"query":0}}



=== TEST 24: a POST without Content-Type is refused with 415
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query":"{ __typename }"}
--- error_code: 415
--- response_body chomp
{"errors":[{"message":"The Content-Type header is missing; send application/json.","extensions":{"code":"BAD_REQUEST"}}]}



=== TEST 25: PUT is not allowed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request
PUT /graphql
{"query":"{ __typename }"}
--- error_code: 405
--- response_headers
Allow: GET, POST



=== TEST 26: an Accept the endpoint cannot answer
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: text/html
--- request
POST /graphql
{"query":"{ __typename }"}
--- error_code: 406
--- response_body chomp
{"errors":[{"message":"The Accept header allows neither application/graphql-response+json nor application/json.","extensions":{"code":"BAD_REQUEST"}}]}



=== TEST 27: metrics refuse a POST
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /metrics { cast_metrics; }
--- request
POST /metrics
x
--- error_code: 405



=== TEST 28: every line of /metrics is a comment or a sample
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /metrics { cast_metrics; }
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4
--- response_body_like: \A(?:(?:# (?:HELP|TYPE) [a-z_]+ [^\n]*|[a-z_]+(?:\{[a-z_]+="[^"\n]*"(?:,[a-z_]+="[^"\n]*")*\})? [0-9]+(?:\.[0-9]+)?)\n)+\z



=== TEST 29: readyz is 503 on a Redis database without counts or ticket
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_redis_db 9;
--- config
location = /readyz { cast_readyz; }
--- request
GET /readyz
--- error_code: 503
--- response_body_like chomp
^no current ticket or counts not restored: redis 127\.0\.0\.1:\d+$



=== TEST 30: a query before the counts are restored answers UNAVAILABLE
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_redis_db 9;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{query(username:"anyone")}')
--- response_body chomp
{"errors":[{"message":"counts not restored","locations":[{"line":1,"column":2}],"path":["query"],"extensions":{"code":"UNAVAILABLE"}}],"data":null}



=== TEST 31: cas without a current ticket answers UNAVAILABLE
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_redis_db 9;
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::graphql_request('{cas{ticket}}')
--- response_body chomp
{"errors":[{"message":"no current ticket","locations":[{"line":1,"column":2}],"path":["cas"],"extensions":{"code":"UNAVAILABLE"}}],"data":null}
