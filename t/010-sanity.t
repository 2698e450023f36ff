# The module's front door: probes, schema, a first GraphQL answer, the
# HTTP-level refusals, metrics.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;

$ENV{TEST_NGINX_CAST_HTTP} = <<"EOF";
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/conf/cast.lua;
    cast_max_body_size 1k;
EOF

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
--- response_body
ready



=== TEST 3: readyz is 503 when Redis cannot be reached
--- http_config
    cast_redis 127.0.0.1:1;
    cast_redis_functions $TEST_NGINX_REPO/conf/cast.lua;
--- config
location = /readyz { cast_readyz; }
--- request
GET /readyz
--- error_code: 503
--- response_body
redis unavailable



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
--- response_body_like: request body too large



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
    cast_redis_functions $TEST_NGINX_REPO/conf/cast.lua;
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
