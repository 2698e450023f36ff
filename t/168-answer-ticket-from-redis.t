# A ticket Redis answers to cas is held to what cast_max_result_items
# counts it for (88 bytes of JSON: at most 86 bytes, CAST_TICKET_LEN, of
# printable ASCII that JSON holds unescaped), as the names of t/167 are.
# A hostile or corrupted {cast}:ticket whose id was 20,000 bytes made 64
# aliases of cas { ticket } answer 1.3 MB from a 2 KB request; 86 bytes
# of control characters 33 KB where 64 x 2 items allow 8.7 KB.  Now such
# a reply is UNAVAILABLE, as any malformed reply.  (A vote's message is
# held the same way, to 38 bytes; the function library's messages cannot
# be made other than its own here, so that half is read, not tested.)
# An expiry past the year 9999 made validUntil 27 bytes where it is
# counted for 24: UNAVAILABLE too.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok answering private_nginx ticket redis_ms);
use Test::More;

my $url = private_nginx("location = /graphql { cast_graphql; }\n")
        . '/graphql';

cmd_ok('SET', '{cast}:total', 100000);
cmd_ok('SET', '{cast}:ready', 1);

is(answering($url, 'nobody', 5), 5, 'nginx answers from the private Redis');

my @k = map { my $i = $_; join '', map { chr(97 + $_) }
              $i < 26 ? ($i) : (int($i / 26) - 1, $i % 26) } 0 .. 63;
my $q = '{ ' . join(' ', map { "$_: cas { ticket }" } @k) . ' }';

# --- a ticket as ticketd makes it: answered ---------------------------------

my $t = ticket(7, max => 3);
my ($status, $json, $len) = graphql_sized($q, undef, url => $url);
is($json->{data}{$k[-1]}{ticket}, $t, 'a ticket of 86 bytes: answered')
    or diag explain $json->{errors};
cmp_ok($len, '<=', 68 * 64 * 3, "  $len bytes, at most 68 an item");

# --- what no ticket is: UNAVAILABLE, not a large answer ---------------------

for my $case (['20,000 bytes', 'x' x 20000],
              ['87 bytes', 'x' x 87],
              ['control characters', "\x01" x 86],
              ['quotes', '"' x 86])
{
    my ($what, $id) = @$case;
    cmd_ok('HSET', '{cast}:ticket', 'id', $id);
    ($status, $json, $len) = graphql_sized($q, undef, url => $url);
    my $e = $json && $json->{errors} && $json->{errors}[0];
    is($e && $e->{extensions}{code}, 'UNAVAILABLE',
       "a ticket of $what: UNAVAILABLE")
        or diag "status $status, $len bytes";
    cmp_ok($len, '<=', 68 * 64 * 3, "  $len bytes, at most 68 an item");
}

cmd_ok('HSET', '{cast}:ticket', 'id', $t);

# an expiry past 9999 (a validUntil of 27 bytes, counted for 24)
cmd_ok('HSET', '{cast}:ticket', 'expires', '9000000000000000000');
($status, $json, $len) = graphql_sized($q, undef, url => $url);
my $e = $json && $json->{errors} && $json->{errors}[0];
is($e && $e->{extensions}{code}, 'UNAVAILABLE',
   'an expiry past the year 9999: UNAVAILABLE')
    or diag explain $json->{data}{a};
cmd_ok('HSET', '{cast}:ticket', 'expires', redis_ms() + 600000);

($status, $json) = graphql_sized($q, undef, url => $url);
is($json->{data}{a}{ticket}, $t, 'the ticket fixed: answered again');

stop_nginx();
check_error_log('tickets from Redis bounded as cas counts them');

done_testing();
