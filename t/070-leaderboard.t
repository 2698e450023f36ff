# The leaderboard and the running total, through the stack's nginx: top
# is ordered by votes, ties by username, and always equals the counts
# (kept in the same Redis step); totalVotes is the sum of every count and
# grows by exactly the votes accepted; limit is bounded by
# cast_max_top_limit; a restore from PostgreSQL (the persister's, after
# Redis lost its data) rebuilds both.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!){vote(usernames:$u,'
         . 'voteCount:$c,ticket:$t){success message}}';

sub data_of {
    my ($query, $vars) = @_;
    my ($status, $json) = graphql($query, $vars);

    die "$query: $status\n" unless $status == 200 && $json && $json->{data};
    return $json->{data};
}

sub total { return data_of('{totalVotes}')->{totalVotes} }

sub vote_ok {
    my ($names, $counts) = @_;

    for (1 .. 50) {
        my ($ticket) = cas_ticket();
        my ($status, $json) = graphql($VOTE, { u => $names, c => $counts,
                                               t => $ticket });
        my $v = $json && $json->{data} && $json->{data}{vote};
        return 1 if $v && $v->{success};
        sleep 0.1;
    }
    return 0;
}

# Redis's own view: every count, the sorted set, the total
sub redis_board {
    my %count = @{ redis_cmd('HGETALL', '{cast}:count') };
    my $z = redis_cmd('ZRANGE', '{cast}:top', 0, -1, 'WITHSCORES');
    my %top = map { $z->[2 * $_] => -$z->[2 * $_ + 1] } 0 .. $#$z / 2;
    my $sum = 0;

    $sum += $_ for values %count;
    return (\%count, \%top, $sum, redis_cmd('GET', '{cast}:total') // 0);
}

sub board_agrees {
    my ($what) = @_;
    my ($count, $top, $sum, $total) = redis_board();

    is_deeply($top, $count, "$what: the sorted set holds every count");
    is($total, $sum, "$what: the total is the sum of the counts");
}

my @names = pipeline_names('l070', 3);
my ($x, $y, $z) = sort @names;

# enough names for a top of ten
my @more = pipeline_names('l070m', 8);
ok(vote_ok(\@more, [(1) x 8]), 'eight more names');

my $before = total();

# counts far above anything else in the test stack's Redis: the top three
# $z leads by 10, $x and $y tie behind it
ok(vote_ok([$x, $y, $z], [10, 10, 10]), 'first vote');
ok(vote_ok([$y, $z], [10, 10]), 'second vote');
ok(vote_ok([$z, $x], [10, 10]), 'third vote');
for (1 .. 30) {
    vote_ok([$z, $y, $x], [10, 10, 10]) or last;
}

my $d = data_of('query($u:String!){query(username:$u)}', { u => $z });
my $vz = $d->{query};
cmp_ok($vz, '>=', 300, "$z has its votes");

is(total() - $before, 3 * $vz - 20,
   'totalVotes grew by exactly the votes accepted')
    or diag "z $vz";

# earlier runs on this stack may hold names with as many votes: ours in
# their order, wherever they stand
sub ours {
    my ($top) = @_;
    my %mine = map { $_ => 1 } @names;

    return [grep { $mine{ $_->{username} } } @$top];
}

my @want = ({ username => $z, votes => $vz },
            { username => $x, votes => $vz - 10 },
            { username => $y, votes => $vz - 10 });
my $top = data_of('{top(limit: 100){username votes}}');
is_deeply(ours($top->{top}), \@want,
          'top: votes descending, ties by username')
    or diag explain $top;
is(data_of('{top(limit: 1){votes}}')->{top}[0]{votes}, $top->{top}[0]{votes},
   'top(limit: 1) is the first of them');

my $t = data_of('{top{username votes __typename}}')->{top};
is(scalar(@$t), 10, 'top: 10 by default');
is($t->[0]{__typename}, 'Score', 'of type Score');

my $all = data_of('{top(limit: 100){username votes}}')->{top};
my @sorted = sort { $b->{votes} <=> $a->{votes}
                    || $a->{username} cmp $b->{username} } @$all;
is_deeply($all, \@sorted, 'top(limit: 100) is in order');
my $counts = counts_redis([map { $_->{username} } @$all]);
is_deeply({ map { $_->{username} => $_->{votes} } @$all }, $counts,
          'each of its votes is the username\'s count');

is_deeply(data_of('{top(limit: 0){votes}}')->{top}, [], 'limit 0: none');

for my $bad (101, -1) {
    my ($status, $json) = graphql("{top(limit: $bad){votes}}");
    is($json->{errors}[0]{extensions}{code}, 'BAD_USER_INPUT',
       "limit $bad refused");
    like($json->{errors}[0]{message},
         qr/^limit must be between 0 and 100 \(cast_max_top_limit\)$/,
         'naming the directive');
}

board_agrees('after votes');

# Redis loses its data: the persister restores the counts from
# PostgreSQL, and with them the leaderboard and the total
my %ledger = map { $_ => counts_redis([$_])->{$_} } @names;
my ($ok, $why) = wait_agree(\%ledger, 20);
ok($ok, 'the votes reached PostgreSQL') or diag $why;

redis_cmd('DEL', '{cast}:ready', '{cast}:count', '{cast}:version',
          '{cast}:top', '{cast}:total');
my $end = time + 30;
sleep 0.1 until redis_cmd('EXISTS', '{cast}:ready') || time > $end;
ok(redis_cmd('EXISTS', '{cast}:ready'), 'the persister restored Redis');

$top = data_of('{top(limit: 100){username votes}}');
is_deeply(ours($top->{top}), \@want, 'top after the restore');
board_agrees('after the restore');

done_testing();
