# A retry with the same idempotencyKey gets the first call's result
# exactly, whatever the counts: the stored record keeps every count to
# the unit up to the largest one a vote may reach (2^53 - 1), as the
# first reply gave it.  (Redis's cjson writes numbers with 14 digits, so
# a count of 10^14 or more came back rounded, 2^53 - 1 even past that
# limit.)  A private nginx and a private Redis whose counts are set near
# the limit.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cli cmd_ok ticket answering private_nginx);
use Test::More;

private_nginx('location = /graphql { cast_graphql; }');

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my $run = sprintf '%d%04d', time, $$ % 10000;
my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!,$k:String){'
         . 'vote(usernames:$u,voteCount:$c,ticket:$t,idempotencyKey:$k)'
         . '{success message usernames votes}}';

cli('SET', '{cast}:ready', 1);
is(answering($url, "idem-$run", 5), 5, 'nginx answers from the private '
                                       . 'Redis');

my $t = ticket(1000 + int rand 1000, max => 1000);

sub vote {
    my (%v) = @_;
    my ($status, $json) = graphql($VOTE, \%v, url => $url);
    return $json;
}

# counts before the vote, and what the vote adds to each
my @cases = (
    [123456789012344, 1],
    [9007199254740989, 2],
    [4503599627370495, 1],
);

for my $i (0 .. $#cases) {
    my ($before, $add) = @{ $cases[$i] };
    my @names = ("big$i-a-$run", "big$i-b-$run");

    cmd_ok('HSET', '{cast}:count', $_, $before) for @names;
    cmd_ok('HSET', '{cast}:version', $_, 1) for @names;

    my $key = "key$i-$run";
    my $first = vote(u => \@names, c => [$add, $add], t => $t, k => $key);
    is_deeply($first->{data}{vote}{votes},
              [map { $before + $add } @names],
              "$before + $add: the vote's counts") or diag explain $first;

    my $again = vote(u => \@names, c => [$add, $add], t => $t, k => $key);
    is_deeply($again, $first, "$before + $add: the retry gets the same "
                              . 'result') or diag explain $again;
    is(cli('HGET', '{cast}:count', $names[0]), $before + $add,
       'counted once');
}

stop_nginx();
done_testing();
