# The alphabet of an idempotencyKey: 1 to 128 bytes of printable ASCII
# without spaces (0x21-0x7e).  A key is the suffix of a Redis key that
# redis-cli and logs show as it is, so a control byte, a NUL, an escape
# sequence, a space or a byte outside ASCII is refused as BAD_USER_INPUT
# before Redis, and the vote consumes nothing.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Vote;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

$ENV{TEST_NGINX_CAST_HTTP}
    .= "    cast_ticket_secret_file $ENV{CAST_TICKET_SECRET_FILE};\n";

our $REFUSED = qr/\A\{"errors":\[\{"message":"idempotencyKey must be 1 to 128 printable ASCII characters, without spaces","locations":\[\{"line":1,"column":\d+\}\],"path":\["vote"\],"extensions":\{"code":"BAD_USER_INPUT"\}\}\],"data":null\}\z/;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a key with a control byte (0x01) is refused, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [::name('idem-ctl')], k => "key\x01" . ::name('ctl'))
--- response_body eval
$main::REFUSED
--- ticket_uses: 0



=== TEST 2: a key with a NUL is refused, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [::name('idem-nul')], k => "key\x00" . ::name('nul'))
--- response_body eval
$main::REFUSED
--- ticket_uses: 0



=== TEST 3: a key with an escape sequence (ESC [2J) is refused
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [::name('idem-esc')], k => "\x1b[2J" . ::name('esc'))
--- response_body eval
$main::REFUSED
--- ticket_uses: 0



=== TEST 4: a key with a space, a tab, a newline or DEL is refused
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('idem-sp')], k => 'a b' . ::name('sp')),
 ::vote(u => [::name('idem-sp')], k => "a\tb" . ::name('tab')),
 ::vote(u => [::name('idem-sp')], k => "a\nb" . ::name('nl')),
 ::vote(u => [::name('idem-sp')], k => "a\x7fb" . ::name('del'))]
--- response_body eval
[$main::REFUSED, $main::REFUSED, $main::REFUSED, $main::REFUSED]
--- ticket_uses: 0



=== TEST 5: a key outside ASCII (valid UTF-8) is refused
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [::name('idem-utf8')], k => "cl\xc3\xa9-" . ::name('utf8'))
--- response_body eval
$main::REFUSED
--- ticket_uses: 0



=== TEST 6: every printable ASCII character is a key's: accepted, once
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
my $k = pack("C*", 0x21 .. 0x7e) . ::name('');
[::vote(u => [::name('idem-ok')], k => $k),
 ::vote(u => [::name('idem-ok')], k => $k),
 ::count(::name('idem-ok'))]
--- response_body eval
['{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["idem-ok-' . $ENV{TEST_NGINX_RUN} . '"],"votes":[1]}}}',
 '{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["idem-ok-' . $ENV{TEST_NGINX_RUN} . '"],"votes":[1]}}}',
 '{"data":{"query":1}}']
--- ticket_uses: 1
