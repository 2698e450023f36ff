# GraphiQL at GET /graphql for a browser (cast_graphiql): an Accept that
# prefers text/html gets the page, by an internal redirect to
# cast_graphiql_page, with Vary: Accept; every API client keeps the JSON
# or the 406 it got before, byte for byte; cast_graphiql off gives the
# API's answer to a browser too; the page's own URI is internal.  The
# browser itself drives the page in t/081-browser-graphiql.t.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;

no_root_location();

my $chromium = 'text/html,application/xhtml+xml,application/xml;q=0.9,'
    . 'image/avif,image/webp,image/apng,*/*;q=0.8,'
    . 'application/signed-exchange;v=b3;q=0.7';
my $firefox = 'text/html,application/xhtml+xml,application/xml;q=0.9,'
    . '*/*;q=0.8';

$ENV{TEST_NGINX_ACCEPT_CHROMIUM} = $chromium;
$ENV{TEST_NGINX_ACCEPT_FIREFOX} = $firefox;
# the pages' location as conf/cast.conf has it
$ENV{TEST_NGINX_PAGES} = <<"EOF";
location = /graphql { cast_graphql; }
location / {
    root $ENV{TEST_NGINX_REPO}/html;
    types { text/html html; text/javascript js; text/css css; }
    add_header Content-Security-Policy "default-src 'self'" always;
    location = /graphiql.html { internal; }
}
EOF

run_tests();

__DATA__

=== TEST 1: chromium's Accept gets the GraphiQL page
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql
--- more_headers eval
"Accept: $ENV{TEST_NGINX_ACCEPT_CHROMIUM}"
--- response_headers
Content-Type: text/html
Vary: Accept
Content-Security-Policy: default-src 'self'
--- response_body_like chomp
<div id="graphiql" data-endpoint="/graphql">.*<script src="/static/graphiql.js"></script>



=== TEST 2: firefox's Accept, and a query string, get the page too
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql?query=%7B__typename%7D
--- more_headers eval
"Accept: $ENV{TEST_NGINX_ACCEPT_FIREFOX}"
--- response_headers
Content-Type: text/html
Vary: Accept
--- response_body_like chomp
<title>CAST GraphiQL</title>



=== TEST 3: text/html alone (406 with cast_graphiql off) gets the page
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql
--- more_headers
Accept: text/html
--- response_headers
Content-Type: text/html
--- response_body_like chomp
<div id="graphiql"



=== TEST 4: no Accept: the API's JSON, no page headers
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql?query=%7B__typename%7D
--- response_headers
Content-Type: application/json
!Vary
!Content-Security-Policy
--- response_body chomp
{"data":{"__typename":"Query"}}



=== TEST 5: */* (a tie between html and JSON): JSON
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql?query=%7B__typename%7D
--- more_headers
Accept: */*
--- response_headers
Content-Type: application/json
!Vary
--- response_body chomp
{"data":{"__typename":"Query"}}



=== TEST 6: application/json: JSON
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql?query=%7B__typename%7D
--- more_headers
Accept: application/json
--- response_headers
Content-Type: application/json
--- response_body chomp
{"data":{"__typename":"Query"}}



=== TEST 7: application/graphql-response+json: that type
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql?query=%7B__typename%7D
--- more_headers
Accept: application/graphql-response+json
--- response_headers
Content-Type: application/graphql-response+json
!Vary
--- response_body chomp
{"data":{"__typename":"Query"}}



=== TEST 8: text/html and application/json at the same q: JSON
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql?query=%7B__typename%7D
--- more_headers
Accept: text/html, application/json
--- response_headers
Content-Type: application/json
--- response_body chomp
{"data":{"__typename":"Query"}}



=== TEST 9: neither html nor JSON acceptable: 406 as before
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql?query=%7B__typename%7D
--- more_headers
Accept: application/xml
--- error_code: 406
--- response_headers
Content-Type: application/json
!Vary
--- response_body chomp
{"errors":[{"message":"The Accept header allows neither application/graphql-response+json nor application/json.","extensions":{"code":"BAD_REQUEST"}}]}



=== TEST 10: text/html;q=0 refuses html: 406 as before
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql
--- more_headers
Accept: text/html;q=0
--- error_code: 406
--- response_body chomp
{"errors":[{"message":"The Accept header allows neither application/graphql-response+json nor application/json.","extensions":{"code":"BAD_REQUEST"}}]}



=== TEST 11: a POST that prefers html is the API's: 406 as before
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
POST /graphql
{"query":"{ __typename }"}
--- more_headers
Content-Type: application/json
Accept: text/html
--- error_code: 406
--- response_headers
Content-Type: application/json
!Vary
--- response_body_like chomp
allows neither



=== TEST 12: a HEAD that prefers html is the API's: 405 as before
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
HEAD /graphql
--- more_headers eval
"Accept: $ENV{TEST_NGINX_ACCEPT_CHROMIUM}"
--- error_code: 405
--- response_headers
Allow: GET, POST
!Vary



=== TEST 13: cast_graphiql off: a browser gets the API's answer
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_graphiql off;
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql
--- more_headers eval
"Accept: $ENV{TEST_NGINX_ACCEPT_CHROMIUM}"
--- error_code: 400
--- response_headers
Content-Type: application/json
!Vary
!Content-Security-Policy
--- response_body chomp
{"errors":[{"message":"The query parameter is missing.","extensions":{"code":"BAD_REQUEST"}}]}



=== TEST 14: cast_graphiql off: text/html alone is 406
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_graphiql off;
--- config
$TEST_NGINX_PAGES
--- request
GET /graphql
--- more_headers
Accept: text/html
--- error_code: 406
--- response_body_like chomp
allows neither



=== TEST 15: the page's own URI is internal
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /graphiql.html
--- more_headers eval
"Accept: $ENV{TEST_NGINX_ACCEPT_CHROMIUM}"
--- error_code: 404



=== TEST 16: cast_graphiql_page names another page
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_graphiql_page /ide;
--- config
location = /graphql { cast_graphql; }
location = /ide { internal; return 200 "the other page\n"; }
--- request
GET /graphql
--- more_headers
Accept: text/html
--- response_headers
Vary: Accept
--- response_body
the other page



=== TEST 17: the page's assets are served with the policy
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
$TEST_NGINX_PAGES
--- request
GET /static/graphiql.js
--- response_headers
Content-Type: text/javascript
Content-Security-Policy: default-src 'self'
--- response_body_like chomp
GraphiQL



=== TEST 18: a page URI that leads back to the endpoint: no loop, the API
--- http_config
$TEST_NGINX_CAST_HTTP
    cast_graphiql_page /graphql;
--- config
location = /graphql { cast_graphql; }
--- request
GET /graphql
--- more_headers
Accept: text/html
--- error_code: 406
--- response_body_like chomp
allows neither
--- no_error_log
internal redirection cycle
