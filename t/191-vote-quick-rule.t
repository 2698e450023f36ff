# lib/redis/cast.lua decides the usual batch (every vote one name counted
# once, no idempotency key, no client share) in quick(), and every other
# one in rule(); quick() repeats the writes count() makes.  The same
# batches here go through both: counted "1" they take quick(), counted
# "01" (the same number) rule(), on a private redis-server that starts
# each time from the same state.  Replies, counts, versions, the
# leaderboard, the total, the ticket's uses and the outbox entries (all
# but their time) must be the same.  quick() is taken only while a relay
# says it reads packed outbox entries ({cast}:relay:packed), as they are
# the entries it writes; without, the rule decides every batch, the same
# replies and writes but for batch entries in the outbox.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cast::PrivateRedis qw(start_redis cmd);
use Test::More;

start_redis();

my $lib = do {
    local (@ARGV, $/) = ("$FindBin::Bin/../lib/redis/cast.lua");
    <>;
};

# the state both runs of a case start from: a ticket, counts, versions
sub setup {
    my (%o) = @_;

    cmd('FLUSHALL');
    is(cmd('FUNCTION', 'LOAD', 'REPLACE', $lib), 'cast', 'the library')
        unless $o{quiet};
    cmd('SET', '{cast}:ready', 1);
    cmd('SET', '{cast}:relay:packed', 1) unless $o{unpacked};
    cmd('HSET', '{cast}:ticket', 'id', 'T', 'seq', 41,
        'issued', $o{now} - 1000, 'expires', $o{now} + 60000,
        'max', $o{max}, 'used', $o{used}, 'grace', 0);

    for my $name (sort keys %{ $o{counts} }) {
        my $c = $o{counts}{$name};
        cmd('HSET', '{cast}:count', $name, $c);
        cmd('HSET', '{cast}:version', $name, 7);
        cmd('ZADD', '{cast}:top', -$c, $name);
        cmd('INCRBY', '{cast}:total', $c);
    }
}

# the votes of a case, each name counted $one ("1" or "01"), by $fn
# (cast_vote_batch when absent)
sub run_batch {
    my ($names, $one, $fn) = @_;
    return cmd('FCALL', $fn // 'cast_vote_batch', 0,
               map { ('T', "voter-$_", '', 41, '', 0, 1, $names->[$_], $one) }
                   0 .. $#$names);
}

# what a batch left: everything it may write, the outbox without times
sub state {
    my @entries = map {
        my @f = @{ $_->[1] };
        if ($f[0] eq 'p') {
            $f[1] =~ s/\A[0-9]+\n/TS\n/;
        } else {
            $f[1] = 'TS';
        }
        \@f;
    } @{ cmd('XRANGE', '{cast}:outbox', '-', '+') };

    return {
        count   => { @{ cmd('HGETALL', '{cast}:count') } },
        version => { @{ cmd('HGETALL', '{cast}:version') } },
        top     => cmd('ZRANGE', '{cast}:top', 0, -1, 'WITHSCORES'),
        total   => cmd('GET', '{cast}:total'),
        used    => cmd('HGET', '{cast}:ticket', 'used'),
        outbox  => \@entries,
    };
}

# an EXHAUSTED reply's third element is the ms the ticket stays usable,
# which moves between the two runs: only its kind is compared (an error
# and cast_votes's total are no arrays)
sub replies {
    my ($rep) = @_;
    return [map {
        ref $_ ne 'ARRAY' ? "scalar: $_"
        : $_->[0] eq 'EXHAUSTED' ? [$_->[0], $_->[1], $_->[2] > 0 ? 1 : 0]
        : $_
    } @$rep];
}

my $now = int(cmd('TIME')->[0]) * 1000;
my @names = map { "n$_" } 0 .. 5;
my @cases = (
    { what => 'uses for every vote, names new and known',
      max => 100, used => 0, counts => { n1 => 3, n2 => 1 } },
    { what => 'the ticket runs out within the batch',
      max => 10, used => 4, counts => { n0 => 5 } },
    { what => 'a spent ticket', max => 10, used => 10, counts => {} },
    { what => 'a count Redis holds negative',
      max => 100, used => 0, counts => { n3 => -2, n4 => 0 } },
);

srand 191;

for my $case (@cases) {
    my @batch = map { $names[int rand @names] } 1 .. 11;
    my %run;

    for my $one ('1', '01') {
        for my $fn ('cast_vote_batch', 'cast_votes') {
            setup(%$case, now => $now,
                  quiet => $one eq '01' || $fn eq 'cast_votes');
            my $rep = run_batch(\@batch, $one, $fn);
            $run{"$fn $one"} = { replies => replies($rep), state => state() };
        }
        $run{$one} = $run{"cast_vote_batch $one"};
    }

    # cast_votes: an accepted vote's reply its name's total alone, the
    # same writes
    my $short = [map { ref $_ && $_->[0] eq 'OK' ? "scalar: $_->[4]" : $_ }
                     @{ $run{1}{replies} }];
    for my $one ('1', '01') {
        is_deeply($run{"cast_votes $one"}{replies}, $short,
                  "$case->{what}: cast_votes, counted $one: the totals");
        is_deeply($run{"cast_votes $one"}{state}, $run{1}{state},
                  "$case->{what}: cast_votes, counted $one: the same writes");
    }

    my @kinds = map { $_->[0] } @{ $run{1}{state}{outbox} };
    ok(!grep({ $_ ne 'p' } @kinds),
       "$case->{what}: packed entries (@kinds)");

    # no relay that reads packed entries: the rule, and batch entries
    setup(%$case, now => $now, quiet => 1, unpacked => 1);
    my $rep = run_batch(\@batch, '1', 'cast_votes');
    my $state = state();
    is_deeply(replies($rep), $short,
              "$case->{what}: unpacked: the same replies");
    my $outbox = delete $state->{outbox};
    my %same = %{ $run{1}{state} };
    delete $same{outbox};
    is_deeply($state, \%same, "$case->{what}: unpacked: the same writes");
    is(scalar(grep { $_->[0] ne 'b' } @$outbox), 0,
       "$case->{what}: unpacked: batch entries");
    is(scalar(map { @$_ } @$outbox) > 0 ? 1 : 0, @kinds ? 1 : 0,
       "$case->{what}: unpacked: entries when packed ones were");

    cmp_ok(scalar @{ $run{1}{replies} }, '==', 11,
           "$case->{what}: a reply per vote");
    is_deeply($run{'01'}{replies}, $run{1}{replies},
              "$case->{what}: the same replies from quick() and rule()");
    is_deeply($run{'01'}{state}, $run{1}{state},
              "$case->{what}: the same writes from quick() and rule()");
}

done_testing();
