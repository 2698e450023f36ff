# A ticket's limit under concurrency: with M uses left, 5·M vote calls at
# once on one ticket inside one period -> exactly M succeed, the rest are
# refused with "Ticket usage limit exceeded", and the totals grow by
# exactly what the M accepted calls carried.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body);
use Test::More;
use Time::HiRes qw(sleep time);

my $run = sprintf '%d%04d', time, $$ % 10000;
my $url = $ENV{CAST_GRAPHQL_URL} or plan skip_all => 'no test stack';

sub cas {
    my (undef, $json) = graphql('{cas{ticket remainingUsage}}');
    return $json->{data}{cas};
}

sub count {
    my (undef, $json) = graphql('query($u:String!){query(username:$u)}',
                                { u => $_[0] });
    return $json->{data}{query};
}

for my $round (1 .. 2) {
    # start right after a rotation, with the whole period ahead
    my $old = cas()->{ticket};
    my $t0 = time;
    sleep 0.01 while cas()->{ticket} eq $old && time - $t0 < 5;
    my $cas = cas();
    my $m = $cas->{remainingUsage};
    cmp_ok($m, '>', 0, "round $round: a fresh ticket with $m uses");

    my @names = map { "limit-$run-$round-$_" } 1 .. 4;
    my @bodies = map {
        vote_body($cas->{ticket}, [$names[$_ % 4], $names[($_ + 1) % 4]],
                  [1, 2])
    } 0 .. 5 * $m - 1;

    my @answers = burst($url, \@bodies, timeout => 20);
    my (%msg, $ok, %added);
    for my $i (0 .. $#answers) {
        my $v = $answers[$i]{json} && $answers[$i]{json}{data}{vote};
        my $m = $v ? $v->{message} : ($answers[$i]{error} // 'no vote');
        $msg{$m}++;
        next unless $v && $v->{success};
        $ok++;
        $added{$names[$i % 4]} += 1;
        $added{$names[($i + 1) % 4]} += 2;
    }

    is($ok, $m, "round $round: exactly M = $m of " . 5 * $m
                . " concurrent calls succeed") or diag explain \%msg;
    is($msg{'Ticket usage limit exceeded'}, 4 * $m,
       "round $round: the others are refused as exhausted")
        or diag explain \%msg;
    is(cas()->{ticket} eq $cas->{ticket} ? cas()->{remainingUsage} : 0, 0,
       "round $round: no use left");
    for my $n (@names) {
        is(count($n), $added{$n} // 0,
           "round $round: $n grew by exactly what accepted calls carried");
    }
}

done_testing();
