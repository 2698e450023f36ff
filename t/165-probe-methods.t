# The probes are GET and HEAD, as /graphql/schema and /metrics are: any
# other method to /healthz or /readyz is 405 (it answered 200, or 503 and
# a Redis call for /readyz, to a POST, PUT or DELETE).  A body sent with
# the refused request is read and thrown away: a request hidden in it is
# never answered as the connection's next one.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;

run_tests();

__DATA__

=== TEST 1: healthz: POST, PUT, DELETE and OPTIONS are 405
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /healthz { cast_healthz; }
--- request eval
["POST /healthz\nx", "PUT /healthz\nx", "DELETE /healthz", "OPTIONS /healthz"]
--- error_code eval
[405, 405, 405, 405]
--- response_body_like eval
[qr/405 Not Allowed/, qr/405 Not Allowed/, qr/405 Not Allowed/,
 qr/405 Not Allowed/]



=== TEST 2: healthz: GET and HEAD are 200
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /healthz { cast_healthz; }
--- request eval
["GET /healthz", "HEAD /healthz"]
--- error_code eval
[200, 200]
--- response_body eval
["ok\n", ""]



=== TEST 3: readyz: POST, PUT, DELETE and OPTIONS are 405
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /readyz { cast_readyz; }
--- request eval
["POST /readyz\nx", "PUT /readyz\nx", "DELETE /readyz", "OPTIONS /readyz"]
--- error_code eval
[405, 405, 405, 405]
--- response_body_like eval
[qr/405 Not Allowed/, qr/405 Not Allowed/, qr/405 Not Allowed/,
 qr/405 Not Allowed/]



=== TEST 4: readyz: GET and HEAD are answered
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /readyz { cast_readyz; }
--- request eval
["GET /readyz", "HEAD /readyz"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^ready redis /, qr/^$/]



=== TEST 5: a request hidden in a refused POST's body is not answered
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /healthz { cast_healthz; }
location = /metrics { cast_metrics; }
--- pipelined_requests eval
["POST /healthz\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET /healthz"]
--- error_code eval
[405, 200]
--- response_body_like eval
[qr/405 Not Allowed/, qr/^ok$/]
