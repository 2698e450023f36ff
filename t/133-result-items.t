# Output amplification: a request's answer is bounded by
# cast_max_result_items (5000 by default), counted before any Redis work
# from what the operation may produce (each field 1 per 64 bytes of its
# key and longest value, a username 3; each list item 1 more:
# top(limit: 100) { username votes } is 501).  A private Redis holds
# a leaderboard of 100 names of 64 bytes; without the bound, 64 aliases
# of top(limit: 100), a 3 KB request, answered 590 KB, and 50 aliases of
# username inside one top(limit: 100) 360 KB, each event of a
# subscription too.  Past the bound: 200 with one RESPONSE_TOO_LARGE error and
# data null (400 before a stream for a subscription), and no FCALL.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok calls answering leaderboard private_nginx);
use Cast::SSE;
use Test::More;

my $url = private_nginx("location = /graphql { cast_graphql; }\n")
        . '/graphql';

# the leaderboard: 100 names of 64 bytes
my @names = map { sprintf '%03d%s', $_, 'n' x 61 } 1 .. 100;
leaderboard(@names);
cmd_ok('SET', '{cast}:total', 100000);
cmd_ok('SET', '{cast}:ready', 1);

is(answering($url, 'nobody', 5), 5, 'nginx answers from the private Redis');

# the functions Redis ran since the last CONFIG RESETSTAT (reads are RO)
sub fcalls { return calls('fcall') + calls('fcall_ro') }

sub aliases {
    my ($n, $field) = @_;
    return join ' ', map { "t$_: $field" } 1 .. $n;
}

# the answer and its size; FCALLs Redis ran for it
sub ask {
    my ($query, $vars, %o) = @_;

    cmd_ok('CONFIG', 'RESETSTAT');
    return (graphql_sized($query, $vars, url => $url, %o), fcalls());
}

sub too_large {
    my ($what, $status, $json, $len, $calls, $items, $max) = @_;
    my $e = $json && $json->{errors} && $json->{errors}[0];

    is($status, 200, "$what: 200");
    is($e && "$e->{extensions}{code}: $e->{message}",
       "RESPONSE_TOO_LARGE: The answer could hold $items items, more than "
       . "the limit of $max (max_result_items).", '  one error naming the limit')
        or diag explain $json;
    ok($json && exists $json->{data} && !defined $json->{data}
       && @{ $json->{errors} } == 1, '  data null');
    cmp_ok($len, '<', 512, "  a short answer ($len bytes)");
    is($calls, 0, '  nothing asked of Redis');
}

my $TOP = 'top(limit: 100) { username votes }';

# --- within the default: nine leaderboards of 100 and a few fields ---------

my ($status, $json, $len, $calls) =
    ask('{ ' . aliases(9, $TOP) . ' totalVotes n: query(username: "x") }');
is($status, 200, 'nine top(limit: 100) and two fields: 200');
is(scalar(grep { @{ $json->{data}{"t$_"} // [] } == 100 } 1 .. 9), 9,
   '  nine lists of 100') or diag explain $json->{errors};
is($json->{data}{t9}[99]{username}, $names[99], '  in order');
cmp_ok($calls, '>=', 1, '  from Redis (so the FCALLs counted are its)');

# --- 64 aliases of top(limit: 100) ---------------------------------------------

my $query = '{ ' . aliases(64, $TOP) . ' }';
cmp_ok(length $query, '<', 3072, 'a request of less than 3 KB');
too_large('64 x top(limit: 100)', ask($query), 64 * 501, 5000);

# the same cached document answers as its variable allows
$query = 'query($n: Int) { ' . aliases(64, 'top(limit: $n) { username votes }')
       . ' }';
($status, $json, $len, $calls) = ask($query, { n => 15 });
is(scalar(grep { @{ $json->{data}{"t$_"} // [] } == 15 } 1 .. 64), 64,
   '64 x top(limit: $n), $n = 15: answered');
too_large('the same document, $n = 100', ask($query, { n => 100 }),
          64 * 501, 5000);

# --- aliases inside one list ---------------------------------------------------

$query = '{ top(limit: 100) { ' . aliases(50, 'username') . ' } }';
too_large('50 aliases of username in top(limit: 100)', ask($query),
          1 + 100 * 151, 5000);

# --- a subscription: refused before its stream, as its other errors ---------

for my $method ('POST', 'GET') {
    cmd_ok('CONFIG', 'RESETSTAT');
    my $c = sse_open("subscription $query", undef, url => $url,
                     method => $method);
    my $e = $c->{json} && $c->{json}{errors} && $c->{json}{errors}[0];

    is($c->{status}, 400, "subscription ($method): refused before a stream");
    is($e && "$e->{extensions}{code}: $e->{message}",
       'RESPONSE_TOO_LARGE: The answer could hold 15101 items, more than the '
       . 'limit of 5000 (max_result_items).', '  saying why');
    sse_abort($c);
    is(fcalls(), 0, '  nothing asked of Redis');
}

my $c = sse_open("subscription { $TOP }", undef, url => $url);
is($c->{status}, 200, 'a subscription of top(limit: 100): a stream');
my $ev = sse_next($c, 10);
is($ev && scalar @{ $ev->{data}{data}{top} // [] }, 100, '  its 100 names')
    or diag explain $ev;
sse_abort($c);

# --- cast_max_result_items 601: one leaderboard of 100, nothing more ---------

stop_nginx();
private_nginx("location = /graphql { cast_graphql; }\n",
              "    cast_max_result_items 601;\n");

is(answering($url, 'nobody', 5), 5, 'cast_max_result_items 601: answers');
my $ALL = 'top(limit: 100) { username votes __typename }';
($status, $json) = ask("{ $ALL }");
is(scalar @{ $json->{data}{top} // [] }, 100, '  top(limit: 100): 601 items');
too_large('  and totalVotes', ask("{ $ALL totalVotes }"), 602, 601);

stop_nginx();
check_error_log('answers bounded by cast_max_result_items');

done_testing();
