# The bound of t/161 (an answer's data at most 68 bytes an item) holds
# for the names Redis answers too: cast_max_result_items counts a
# username for at most 130 bytes of JSON, a name a vote may hold (1 to 64
# bytes of UTF-8 without control characters).  A leaderboard holding
# other names (a hostile or corrupted Redis) made top's answer as large
# as they are: 64 control characters escaped six bytes each, or a name of
# 20,000 bytes, 16 aliases of username in top(limit: 100) answered 600 KB
# and 32 MB.  Now such a reply is Redis's fault, UNAVAILABLE, as any
# malformed reply (the one of 20,000-byte names, 2 MB, passes a reply's
# bound too: its connection is dropped and made again, t/224); the names
# a vote may hold are answered as before.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok answering leaderboard private_nginx);
use Test::More;

my $url = private_nginx("location = /graphql { cast_graphql; }\n")
        . '/graphql';

cmd_ok('SET', '{cast}:total', 100000);
cmd_ok('SET', '{cast}:ready', 1);

is(answering($url, 'nobody', 5), 5, 'nginx answers from the private Redis');

my @k = map { chr(97 + $_) } 0 .. 15;
my $q = '{ top(limit: 100) { ' . join(' ', map { "$_:username" } @k)
        . ' } }';
my $items = 1 + 100 * (1 + 16 * 3);

# --- names a vote may hold: answered -----------------------------------------

# 3 and 30 times an e acute (two bytes in UTF-8)
my @honest = map { sprintf '%03d%s', $_, "\xc3\xa9" x 30 } 1 .. 100;
leaderboard(@honest);
my ($status, $json, $len) = graphql_sized($q, undef, url => $url);
is(scalar @{ $json->{data}{top} // [] }, 100, 'names of 64 bytes: answered')
    or diag explain $json->{errors};
is($json->{data}{top}[99]{p}, $honest[99], '  as Redis holds them');
cmp_ok($len, '<=', 68 * $items, "  $len bytes, at most 68 an item");

# --- names no vote may hold: UNAVAILABLE, not a large answer ---------------

for my $case (['64 control characters', sub { sprintf "%03d%s", $_[0],
                                                "\x01" x 61 }],
              ['20,000 bytes', sub { sprintf "%03d%s", $_[0], 'x' x 19997 }],
              ['65 bytes', sub { sprintf "%03d%s", $_[0], 'x' x 62 }],
              ['invalid UTF-8', sub { sprintf "%03d\xff", $_[0] }])
{
    my ($what, $make) = @$case;
    leaderboard(map { $make->($_) } 1 .. 100);
    # a dropped connection answers UNAVAILABLE too: connected first
    answering($url, 'nobody', 1);
    ($status, $json, $len) = graphql_sized($q, undef, url => $url);
    my $e = $json && $json->{errors} && $json->{errors}[0];
    is($e && $e->{extensions}{code}, 'UNAVAILABLE',
       "names of $what: UNAVAILABLE")
        or diag "status $status, $len bytes";
    cmp_ok($len, '<=', 68 * $items, "  $len bytes, at most 68 an item");
}

# the leaderboard fixed: answered again
leaderboard(@honest);
answering($url, 'nobody', 1);
($status, $json) = graphql_sized($q, undef, url => $url);
is(scalar @{ $json->{data}{top} // [] }, 100, 'names fixed: answered again');

stop_nginx();
check_error_log('names from Redis bounded as a vote\'s');

done_testing();
