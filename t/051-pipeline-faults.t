# The durable pipeline under faults: votes flow through nginx while one part
# fails; after the traffic ends, PostgreSQL == Redis == the client's ledger
# for every name within 5 s.  One fault per block: the relay SIGKILLed,
# the persister SIGKILLed mid-batch, Kafka stopped for 10 s, PostgreSQL
# stopped for 10 s, Redis restarted (it keeps its data in its AOF).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $RELAY = $ENV{CAST_RELAY_HTTP_PORT};
my $PERS = $ENV{CAST_PERSISTER_HTTP_PORT};

# Traffic for 2 s, the fault, 6 s more traffic, then the checks.
sub under_fault {
    my ($what, $fault) = @_;
    my @names = pipeline_names('p051', 100);
    my $run = vote_traffic(seconds => 120, names => \@names, width => 8,
                           tag => 'p051');

    sleep 2;
    $fault->();
    sleep 6;
    traffic_stop($run);

    my $res = traffic_ledger($run);
    my $ended = time;
    my $stat = $res->{stat};

    note "$what: " . join ' ', map { "$_=$stat->{$_}" } sort keys %$stat;
    cmp_ok($stat->{ok}, '>=', 100, "$what: votes accepted ($stat->{ok})");
    is($stat->{unsettled}, 0, "$what: every vote settled");

    my ($ok, $why) = wait_agree($res->{ledger}, 5);
    ok($ok, "$what: PostgreSQL == Redis == ledger within 5 s") or diag $why;
    note sprintf '%s: agreed %.2f s after the traffic', $what, time - $ended;
}

under_fault('relay SIGKILL', sub {
    ok(cast_stack('kill', 'relay'), 'relay killed');
    sleep 1;
    ok(cast_stack('start', 'relay'), 'relay started');
});

under_fault('persister SIGKILL', sub {
    # under this load a batch is almost always in progress
    cmp_ok(metric($PERS, 'cast_persister_messages_total'), '>', 0,
           'persister busy');
    ok(cast_stack('kill', 'persister'), 'persister killed');
    ok(cast_stack('start', 'persister'), 'persister started');
});

under_fault('kafka stopped 10 s', sub {
    ok(cast_stack('stop', 'kafka'), 'kafka stopped');
    sleep 10;
    cmp_ok(metric($RELAY, 'cast_relay_backlog'), '>', 0,
           'the outbox holds the events meanwhile');
    ok(cast_stack('start', 'kafka'), 'kafka started');
});

under_fault('postgresql stopped 10 s', sub {
    ok(cast_stack('stop', 'postgres'), 'postgresql stopped');
    sleep 10;
    is(metric($PERS, 'cast_persister_paused'), 1,
       'the persister paused consumption');
    ok(cast_stack('start', 'postgres'), 'postgresql started');
});

under_fault('redis restarted', sub {
    ok(cast_stack('restart', 'redis'), 'redis restarted');
});

is(redis_cmd('EXISTS', '{cast}:ready'), 1, 'redis kept {cast}:ready');

done_testing();
