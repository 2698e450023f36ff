# The persister's batch never grows past batch_max while it waits out a
# PostgreSQL outage.  Partitions it is assigned meanwhile are not paused
# yet: here two replicas with batch_max 20 fill their batches, PostgreSQL
# is stopped, the second replica leaves, and the first, given its
# partitions, must not take their messages into the batch it is retrying.
# After PostgreSQL is back every vote is applied exactly once.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $MAX = 20;
my $PARTS = $ENV{CAST_KAFKA_PARTITIONS} // 4;
my $P1 = $ENV{CAST_PERSISTER_HTTP_PORT};
my $LOG1 = "$ENV{CAST_VAR}/log/persister.log";
my $LOG2 = "$ENV{CAST_VAR}/log/persister-054.log";

# the largest batch a "N messages not applied" line of a log reports,
# from byte $from on
sub largest_batch {
    my ($log, $from) = @_;
    my $max = 0;

    open my $fh, '<', $log or return 0;
    seek $fh, $from, 0;
    while (<$fh>) {
        $max = $1 if /msg="(\d+) messages not applied/ && $1 > $max;
    }
    return $max;
}

# replica 1: the stack's persister, restarted with the small batch
{
    local $ENV{CAST_BATCH_MAX} = $MAX;
    ok(cast_stack('restart', 'persister'), "persister with batch_max $MAX");
}
my $from = -s $LOG1 // 0;

my $P2 = free_port();
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>>', $LOG2 or die "$LOG2: $!";
    open STDERR, '>&', \*STDOUT;
    $ENV{CAST_HTTP_PORT} = $P2;
    $ENV{CAST_BATCH_MAX} = $MAX;
    exec repo_root() . '/build/bin/cast-persister', '-c',
         repo_root() . '/conf/persister.conf' or die "exec: $!";
}

ok(wait_for(30, sub { partitions($P2) > 0 && partitions($P1) > 0
                      && partitions($P1) + partitions($P2) == $PARTS }),
   'two replicas share the partitions');

ok(cast_stack('stop', 'postgres'), 'postgresql stopped');

my @names = pipeline_names('p054', 60);
my $run = vote_traffic(seconds => 4, names => \@names, width => 3,
                       tag => 'p054');
my $res = traffic_ledger($run);
cmp_ok($res->{stat}{ok}, '>=', 4 * $MAX,
       "votes accepted during the outage ($res->{stat}{ok})");

ok(wait_for(20, sub { largest_batch($LOG1, $from) > 0 }),
   'replica 1 is retrying a batch');

kill 'TERM', $pid;
my $done = 0;
wait_for(20, sub { $done = waitpid($pid, WNOHANG); $done });
is($done, $pid, 'replica 2 left');

# A clean leave rebalances at once (the assignment metric is not updated
# while a batch is retried); then a few retries of the longest backoff.
sleep 8;
my $largest = largest_batch($LOG1, $from);
cmp_ok($largest, '<=', $MAX, "the batch held at most batch_max ($largest)");

ok(cast_stack('start', 'postgres'), 'postgresql started');
my ($ok, $why) = wait_agree($res->{ledger}, 20);
ok($ok, 'PostgreSQL == Redis == ledger once PostgreSQL is back')
    or diag $why;

ok(cast_stack('restart', 'persister'), 'persister with its own batch_max');

done_testing();
