# cast_max_result_items' least value lets the largest field the other
# limits allow be answered with every field of its type, __typename too
# (Apollo Client and urql add it to each selection): a leaderboard of
# cast_max_top_limit or a votes subscription of cast_max_usernames names,
# { username votes __typename }, is 1 + 6n items (a username counts 3,
# its 130 bytes of JSON at most); a vote of n names with its four fields
# and __typename 6 + 4n; a ticket 7.  The least value was once 1 + 3n
# ({ username votes } only): at 301, top(limit: 100) with __typename was
# refused, and with cast_max_usernames 1 and cast_max_top_limit 0 at 4,
# every vote and cas with its fields.  A private Redis, tickets written
# into it by the test.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(start_redis cmd_ok ticket answering);
use Cast::SSE;
use Test::More;

my $sock = start_redis();
my $url = 'http://127.0.0.1:' . server_port() . '/graphql';

# nginx with these directives: its pid, or undef and what it said
sub start_with {
    my ($directives) = @_;
    my $pid = eval {
        start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
CONF
    cast_redis unix:$sock;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
$directives
HTTP
    };
    return ($pid, $@);
}

my @names = map { "min142-$_" } 1 .. 100;
cmd_ok('DEL', '{cast}:top');
cmd_ok('ZADD', '{cast}:top', map { (-(1000 - $_), $names[$_ - 1]) } 1 .. 100);
cmd_ok('SET', '{cast}:ready', 1);

# --- the defaults (100 names, top 100): at least 601 ------------------------

my ($pid, $err) = start_with('    cast_max_result_items 600;');
ok(!$pid, 'cast_max_result_items 600: nginx refuses to start');
like($err, qr/cast_max_result_items must be at least 601, /,
     '  saying the least value');
stop_nginx() if $pid;

($pid, $err) = start_with('    cast_max_result_items 601;');
ok($pid, 'cast_max_result_items 601: nginx starts') or diag $err;
is(answering($url, 'nobody', 5), 5, '  and answers');

my $TOP = 'top(limit: 100) { username votes __typename }';
my ($status, $json) = graphql("{ $TOP }", undef, url => $url);
is(scalar @{ $json->{data}{top} // [] }, 100,
   'top(limit: 100) with __typename: its 100 names')
    or diag explain $json;
is($json->{data}{top}[0]{__typename}, 'Score', '  each a Score');

my $c = sse_open('subscription($u: [String!]!) { votes(usernames: $u) '
                 . '{ username votes __typename } }', { u => \@names },
                 url => $url);
is($c->{status}, 200, 'votes of 100 names with __typename: a stream');
my $ev = sse_next($c, 10);
is($ev && scalar @{ $ev->{data}{data}{votes} // [] }, 100, '  100 names')
    or diag explain $ev;
sse_abort($c);

# --- one name a vote, no leaderboard: at least 10 ---------------------------

my $SMALL = "    cast_max_usernames 1;\n    cast_max_top_limit 0;\n";

($pid, $err) = start_with("${SMALL}    cast_max_result_items 9;");
ok(!$pid, 'one name a vote, cast_max_result_items 9: refused')
    or stop_nginx();
like($err, qr/cast_max_result_items must be at least 10, /,
     '  saying the least value');

($pid, $err) = start_with("${SMALL}    cast_max_result_items 10;");
ok($pid, 'one name a vote, cast_max_result_items 10: nginx starts')
    or diag $err;
is(answering($url, 'nobody', 5), 5, '  and answers');

my $t = ticket(1, max => 5);
($status, $json) = graphql(
    'mutation($u: [String!]!, $t: String!) { vote(usernames: $u, '
    . 'ticket: $t) { success message usernames votes __typename } }',
    { u => [$names[0]], t => $t }, url => $url);
is($json->{data} && $json->{data}{vote}{success} ? 'counted'
   : $json->{errors}[0]{message}, 'counted',
   'a vote of one name with all its fields (10 items)');
is_deeply($json->{data}{vote}{usernames}, [$names[0]], '  its name');

($status, $json) = graphql('{ cas { ticket validUntil remainingUsage '
                           . 'clientRemaining __typename } }', undef,
                           url => $url);
is($json->{data} && $json->{data}{cas}{ticket}, $t,
   'cas with all its fields (7 items)') or diag explain $json;

stop_nginx();
check_error_log('the least cast_max_result_items');

done_testing();
