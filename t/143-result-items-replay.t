# An idempotent retry returns the recorded reply of the first vote with
# its key (lib/redis/cast.lua), whatever names the retry carries, while
# cast_max_result_items counted the retry's own names: a vote of one
# name with 60 aliases of usernames counted 121 items and was answered
# the 100 names of the first vote 60 times (6000 names, 400 KB from a
# 1 KB request, replayed for 10 minutes with any ticket of the right
# form).  The answer now holds at most the names its request counted:
# a retry of the same call is answered as before.  A private Redis,
# tickets written into it by the test.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok ticket answering private_nginx);
use Test::More;

private_nginx(<<'CONF');
location = /graphql { cast_graphql; }
CONF

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my $run = sprintf '%d%04d', time, $$ % 10000;
my @names = map { sprintf '%03d-%s-%s', $_, $run, 'r' x 45 } 1 .. 100;
my $key = "replay-$run";

cmd_ok('SET', '{cast}:ready', 1);
is(answering($url, 'nobody', 5), 5, 'nginx answers from the private Redis');

my $t = ticket(1, max => 5);

sub vote {
    my ($names, $fields) = @_;
    my (undef, $json, $res) = graphql(
        'mutation($u: [String!]!, $t: String!, $k: String) { vote('
        . 'usernames: $u, ticket: $t, idempotencyKey: $k) { ...R } } '
        . "fragment R on VoteResult { success $fields }",
        { u => $names, t => $t, k => $key }, url => $url);
    return ($json, length($res->{content} // ''));
}

my ($json, $len) = vote(\@names, 'usernames votes');
ok($json->{data} && $json->{data}{vote}{success}, 'a vote of 100 names')
    or diag explain $json;
is(scalar @{ $json->{data}{vote}{usernames} // [] }, 100, '  answered 100');

($json, $len) = vote(\@names, 'usernames votes');
is_deeply($json->{data} && $json->{data}{vote}{usernames}, \@names,
          'its retry (the same names): the recorded 100 names');

my $aliases = join ' ', map { "u$_: usernames" } 1 .. 60;
($json, $len) = vote([$names[0]], $aliases);
my $vote = $json->{data} && $json->{data}{vote};
ok($vote && $vote->{success}, 'a retry of one name, 60 aliases of usernames')
    or diag explain $json;
my $held = 0;
$held += scalar @{ $vote->{"u$_"} // [] } for 1 .. 60;
is($held, 60, '  holds the one name it counted in each (not 6000)');
is($vote->{u60} && $vote->{u60}[0], $names[0], '  the first recorded name');
cmp_ok($len, '<', 16384, "  a small answer ($len bytes)");

stop_nginx();
check_error_log('a replayed vote holds what was counted');

done_testing();
