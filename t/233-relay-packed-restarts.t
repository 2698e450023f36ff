# Keyless votes of one name (the usual vote: cast_votes' quick(), its
# reply an integer, its events in packed outbox entries while a relay says
# it reads them) through the stack's nginx while the relay is stopped
# (its key deleted: batch entries), started again (packed), SIGKILLed (the
# key outlives it up to 3 s: packed entries with no relay) and started
# again.  Every vote nginx answered success reaches PostgreSQL exactly
# once: an event per accepted vote, no other, and the counts agree.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst;
use Cast::Pipeline qw(cas_ticket counts_pg);
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $url = $ENV{CAST_GRAPHQL_URL};
my $run = sprintf '%d%04d', time, $$ % 10000;
my @names = map { "p233-$run-$_" } 1 .. 12;
my (%accepted, $sent, %kinds);

# a round: one ticket's uses at most, one name each, no key; how many
# were accepted
sub round {
    my ($ticket, $left) = cas_ticket();
    return 0 unless $ticket && $left;

    my $n = $left < 40 ? $left : 40;
    my @who = map { $names[rand @names] } 1 .. $n;
    my @answers = burst($url, [map { vote_body($ticket, [$_]) } @who],
                        timeout => 10);
    my $ok = 0;

    for my $i (0 .. $#answers) {
        my $v = $answers[$i]{json} && $answers[$i]{json}{data}
                && $answers[$i]{json}{data}{vote};
        $sent++;
        next unless $v && $v->{success};
        $accepted{ $who[$i] }++;
        $ok++;
    }
    return $ok;
}

# rounds until 60 votes are accepted (a ticket has 100 uses a period),
# then what the outbox holds, before the relay trims it
sub rounds {
    my $ok = 0;
    my $end = time + 30;

    while ($ok < 60 && time < $end) {
        my $got = round();
        $ok += $got;
        sleep 0.1 unless $got;
    }
    for my $e (@{ redis_cmd('XRANGE', '{cast}:outbox', '-', '+') // [] }) {
        $kinds{ $e->[1][0] }++;
    }
    return $ok;
}

rounds();
ok(cast_stack('stop', 'relay'), 'relay stopped');
ok(!redis_cmd('EXISTS', '{cast}:relay:packed'), '  its key went with it');
rounds();
ok(cast_stack('start', 'relay'), 'relay started');
ok(wait_for(10, sub { redis_cmd('EXISTS', '{cast}:relay:packed') }),
   '  its key is back');
rounds();
ok(cast_stack('kill', 'relay'), 'relay SIGKILLed');
rounds();
ok(cast_stack('start', 'relay'), 'relay started');
rounds();

my $total = 0;
$total += $_ for values %accepted;
cmp_ok($total, '>=', 300, "votes accepted: $total of $sent");
ok($kinds{p} && $kinds{b}, 'the outbox held packed and batch entries ('
   . join(', ', map { "$_ $kinds{$_}" } sort keys %kinds) . ')');

my $list = join ',', map { "'$_'" } @names;
my %events;
my $agree = wait_for(30, sub {
    %events = map { ($_->[0] => $_->[1]) } psql_query(
        "SELECT payload->'votes'->0->>'u', count(*) FROM vote_events "
        . "WHERE payload->'votes'->0->>'u' IN ($list) GROUP BY 1");
    my $pg = counts_pg(\@names);
    return !grep { ($events{$_} // 0) != ($accepted{$_} // 0)
                   || ($pg->{$_} // 0) != ($accepted{$_} // 0) } @names;
});
ok($agree, 'PostgreSQL holds an event per accepted vote and its counts')
    or diag explain { accepted => \%accepted, events => \%events,
                      pg => counts_pg(\@names) };

my $redis = redis_cmd('HMGET', '{cast}:count', @names);
is_deeply([map { $_ // 0 } @$redis], [map { $accepted{$_} // 0 } @names],
          'Redis counts what nginx accepted');

done_testing();
