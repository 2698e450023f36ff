# Hostile votes: a request's vote fields are capped by cast_max_vote_fields
# (default 4), counted before anything is sent; beyond it the request gets
# one GraphQL error naming the limit and the directive, never a 5xx, and
# no vote is decided.  The malformed ticket "x" is refused by nginx itself,
# so a vote that were resolved would answer "Invalid ticket".

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;

run_tests();

__DATA__

=== TEST 1: four vote fields, the default limit, are each resolved
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query":"mutation{v1:vote(usernames:[\"a\"],ticket:\"x\"){success message} v2:vote(usernames:[\"a\"],ticket:\"x\"){success message} v3:vote(usernames:[\"a\"],ticket:\"x\"){success message} v4:vote(usernames:[\"a\"],ticket:\"x\"){success message}}"}
--- more_headers
Content-Type: application/json
--- response_body chomp
{"data":{"v1":{"success":false,"message":"Invalid ticket"},"v2":{"success":false,"message":"Invalid ticket"},"v3":{"success":false,"message":"Invalid ticket"},"v4":{"success":false,"message":"Invalid ticket"}}}



=== TEST 2: a fifth vote field refuses the request, no vote decided
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query":"mutation{v1:vote(usernames:[\"a\"],ticket:\"x\"){success message} v2:vote(usernames:[\"a\"],ticket:\"x\"){success message} v3:vote(usernames:[\"a\"],ticket:\"x\"){success message} v4:vote(usernames:[\"a\"],ticket:\"x\"){success message} v5:vote(usernames:[\"a\"],ticket:\"x\"){success message}}"}
--- more_headers
Content-Type: application/json
--- response_body chomp
{"errors":[{"message":"a request may hold at most 4 vote fields (cast_max_vote_fields)","locations":[{"line":1,"column":10}],"path":["v1"],"extensions":{"code":"BAD_REQUEST"}}],"data":null}



=== TEST 3: cast_max_vote_fields 2: three vote fields are refused
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_vote_fields 2;
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query":"mutation{v1:vote(usernames:[\"a\"],ticket:\"x\"){success message} v2:vote(usernames:[\"a\"],ticket:\"x\"){success message} v3:vote(usernames:[\"a\"],ticket:\"x\"){success message}}"}
--- more_headers
Content-Type: application/json
--- response_body chomp
{"errors":[{"message":"a request may hold at most 2 vote fields (cast_max_vote_fields)","locations":[{"line":1,"column":10}],"path":["v1"],"extensions":{"code":"BAD_REQUEST"}}],"data":null}



=== TEST 4: the same refusal answers 200 to application/graphql-response+json
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_max_vote_fields 1;
--- config
location = /graphql { cast_graphql; }
--- request
POST /graphql
{"query":"mutation{a:vote(usernames:[\"a\"],ticket:\"x\"){success} b:vote(usernames:[\"a\"],ticket:\"x\"){success}}"}
--- more_headers
Content-Type: application/json
Accept: application/graphql-response+json
--- error_code: 200
--- response_body_like chomp
"message":"a request may hold at most 1 vote fields \(cast_max_vote_fields\)"
