# An operationName holding a NUL ("a\u0000b" in a JSON body, a%00b in a
# query string) can name no operation: a GraphQL name is letters, digits
# and _.  It is refused as an unknown operation, the name quoted cut
# before the NUL and saying so ("a..."); the message quoted it with
# printf's %.*s, which stops at the NUL, so it said 'Unknown operation
# named "a".' of a document whose operation is a.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;

$ENV{TEST_NGINX_NUL_ERROR} = '{"errors":[{"message":"Unknown operation '
    . 'named \\"a...\\".","extensions":{"code":'
    . '"OPERATION_RESOLUTION_FAILURE"}}]}';

run_tests();

__DATA__

=== TEST 1: a JSON body: refused, saying why
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: application/graphql-response+json
--- request eval
"POST /graphql\n"
. '{"query":"query a { __typename }","operationName":"a\\u0000b"}'
--- error_code: 400
--- response_body eval
$ENV{TEST_NGINX_NUL_ERROR}



=== TEST 2: a JSON body, application/json: 200, the same error
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: application/json
--- request eval
"POST /graphql\n"
. '{"query":"query a { __typename }","operationName":"a\\u0000b"}'
--- error_code: 200
--- response_body eval
$ENV{TEST_NGINX_NUL_ERROR}



=== TEST 3: a query string: refused, saying why
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Accept: application/graphql-response+json
--- request
GET /graphql?query=query%20a%7B__typename%7D&operationName=a%00b
--- error_code: 400
--- response_body eval
$ENV{TEST_NGINX_NUL_ERROR}



=== TEST 4: the name itself still selects its operation
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
Accept: application/json
--- request eval
"POST /graphql\n"
. '{"query":"query a { __typename }","operationName":"a"}'
--- error_code: 200
--- response_body: {"data":{"__typename":"Query"}}
