# Two persister replicas share the topic's partitions through their
# consumer group; under a burst both apply events and the totals stay
# exact.  SIGTERM ends the second one cleanly (exit 0) and the first takes
# all partitions back.

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

my $PARTS = $ENV{CAST_KAFKA_PARTITIONS} // 4;
my $P1 = $ENV{CAST_PERSISTER_HTTP_PORT};

my $P2 = free_port();
my $log = "$ENV{CAST_VAR}/log/persister-2.log";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>>', $log or die "$log: $!";
    open STDERR, '>&', \*STDOUT;
    $ENV{CAST_HTTP_PORT} = $P2;
    exec repo_root() . '/build/bin/cast-persister', '-c',
         repo_root() . '/conf/persister.conf' or die "exec: $!";
}

ok(wait_for(30, sub { partitions($P2) > 0 && partitions($P1) > 0
                      && partitions($P1) + partitions($P2) == $PARTS }),
   "the $PARTS partitions are shared by both replicas")
    or diag "replica 1: " . partitions($P1) . ", replica 2: "
            . partitions($P2);

my @m0 = map { metric($_, 'cast_persister_messages_total') } $P1, $P2;

my @names = pipeline_names('p052', 150);
my $run = vote_traffic(seconds => 8, names => \@names, width => 10,
                       tag => 'p052');
my $res = traffic_ledger($run);

cmp_ok($res->{stat}{ok}, '>=', 200, "votes accepted ($res->{stat}{ok})");
my ($ok, $why) = wait_agree($res->{ledger}, 5);
ok($ok, 'two replicas: PostgreSQL == Redis == ledger within 5 s')
    or diag $why;

my @m1 = map { metric($_, 'cast_persister_messages_total') } $P1, $P2;
cmp_ok($m1[0] - $m0[0], '>', 0, 'replica 1 applied events');
cmp_ok($m1[1] - $m0[1], '>', 0, 'replica 2 applied events');
note "replica 1: " . ($m1[0] - $m0[0]) . " messages, replica 2: "
     . ($m1[1] - $m0[1]);

kill 'TERM', $pid;
my $end = time + 20;
my $done = 0;
while (time < $end) {
    $done = waitpid($pid, WNOHANG);
    last if $done;
    sleep 0.1;
}
is($done, $pid, 'replica 2 stops on SIGTERM');
is($? >> 8, 0, 'with exit status 0');

ok(wait_for(30, sub { partitions($P1) == $PARTS }),
   'replica 1 takes all partitions back');

@names = pipeline_names('p052b', 50);
$run = vote_traffic(seconds => 3, names => \@names, width => 5,
                    tag => 'p052b');
$res = traffic_ledger($run);
($ok, $why) = wait_agree($res->{ledger}, 5);
ok($ok, 'one replica again: totals exact') or diag $why;

done_testing();
