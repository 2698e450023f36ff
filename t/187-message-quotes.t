# What an error message quotes from the request reads as cut when it is:
# a string literal of the document (an argument's value) as a variable's
# value is, never past a NUL ("a\u0000b" in GraphQL) and at most 64
# bytes, then "..."; and an operationName of more than 64 bytes.  The
# literal was quoted with printf's %.*s, which stops at the NUL, so it
# said 'Int cannot represent non-integer value: "a"' of "a\u0000b", and
# the long name read as if whole.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;

$ENV{TEST_NGINX_A64} = 'a' x 64;

run_tests();

__DATA__

=== TEST 1: a literal holding a NUL, in a JSON body: cut there, saying so
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: application/graphql-response+json
--- request eval
"POST /graphql\n"
. '{"query":"{ top(limit: \\"a\\\\u0000b\\") { username } }"}'
--- error_code: 400
--- response_body eval
'{"errors":[{"message":"Int cannot represent non-integer value: '
. '\\"a...\\"","locations":[{"line":1,"column":14}],'
. '"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}'



=== TEST 2: the same in a query string
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Accept: application/graphql-response+json
--- request eval
'GET /graphql?query=%7B%20top(limit%3A%20%22a%5Cu0000b%22)'
. '%20%7B%20username%20%7D%20%7D'
--- error_code: 400
--- response_body eval
'{"errors":[{"message":"Int cannot represent non-integer value: '
. '\\"a...\\"","locations":[{"line":1,"column":14}],'
. '"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}'



=== TEST 3: a literal of 65 bytes: its first 64, then ...
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: application/json
--- request eval
"POST /graphql\n"
. '{"query":"{ top(limit: \\"' . $ENV{TEST_NGINX_A64} . 'b\\") '
. '{ username } }"}'
--- error_code: 200
--- response_body eval
'{"errors":[{"message":"Int cannot represent non-integer value: \\"'
. $ENV{TEST_NGINX_A64} . '...\\"","locations":[{"line":1,"column":14}],'
. '"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}'



=== TEST 4: an operationName of 65 bytes: its first 64, then ...
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: application/json
--- request eval
"POST /graphql\n"
. '{"query":"query a { __typename }","operationName":"'
. $ENV{TEST_NGINX_A64} . 'b"}'
--- error_code: 200
--- response_body eval
'{"errors":[{"message":"Unknown operation named \\"' . $ENV{TEST_NGINX_A64}
. '...\\".","extensions":{"code":"OPERATION_RESOLUTION_FAILURE"}}]}'



=== TEST 5: an operationName of 64 bytes: whole
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: application/json
--- request eval
"POST /graphql\n"
. '{"query":"query a { __typename }","operationName":"'
. $ENV{TEST_NGINX_A64} . '"}'
--- error_code: 200
--- response_body eval
'{"errors":[{"message":"Unknown operation named \\"' . $ENV{TEST_NGINX_A64}
. '\\".","extensions":{"code":"OPERATION_RESOLUTION_FAILURE"}}]}'
