# Redis loses its data (FLUSHALL): votes and queries answer UNAVAILABLE
# until the counts come back from PostgreSQL.  cast-admin restore brings
# them back once the pipeline is drained; then Redis == PostgreSQL, new
# votes persist.  With the persister running the restore is automatic.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $ADMIN = repo_root() . '/build/bin/cast-admin';

sub admin {
    my $out = `$ADMIN @_ 2>&1`;
    return ($? >> 8, $out);
}

sub query_code {
    my ($name) = @_;
    my ($status, $json) = graphql("{query(username:\"$name\")}");

    return $json && $json->{errors} ? $json->{errors}[0]{extensions}{code}
                                    : 'none';
}

sub wait_ready {
    my ($seconds) = @_;
    my $end = time + $seconds;

    until (redis_cmd('EXISTS', '{cast}:ready')) {
        return 0 if time > $end;
        sleep 0.1;
    }
    return 1;
}

# some votes, persisted
my @names = pipeline_names('p053', 60);
my $res = traffic_ledger(vote_traffic(seconds => 4, names => \@names,
                                      width => 6, tag => 'p053'));
my %ledger = %{ $res->{ledger} };
my ($ok, $why) = wait_agree(\%ledger, 5);
ok($ok, 'votes persisted before the wipe') or diag $why;

# --- by hand: persister stopped, cast-admin restore ---------------------------

ok(cast_stack('stop', 'persister'), 'persister stopped');
redis_cmd('FLUSHALL');

is(query_code($names[0]), 'UNAVAILABLE', 'after the wipe: query UNAVAILABLE');

my ($rc, $out) = admin('check');
is($rc, 1, 'check: redis lost the counts') or diag $out;

# events only the relay holds: no restore until it has none (the relay
# is stopped so that the marker stays what is set here)
ok(cast_stack('stop', 'relay'), 'relay stopped');
redis_cmd('SET', '{cast}:relay:inflight', 7, 'PX', 60000);
($rc, $out) = admin('restore', '--wait', 3);
isnt($rc, 0, 'no restore while the relay holds events');
like($out, qr/relay in flight 7/, 'and it says why') or diag $out;
is(query_code($names[0]), 'UNAVAILABLE', 'so Redis stays not ready');
redis_cmd('DEL', '{cast}:relay:inflight');
ok(cast_stack('start', 'relay'), 'relay started');

($rc, $out) = admin('restore', '--wait', 30);
is($rc, 0, 'cast-admin restore') or diag $out;
like($out, qr/restore: \d+ names written, ready set/, 'restore reports');

is(query_code($names[0]), 'none', 'queries answered again');
my ($status, $json) = graphql("{query(username:\"$names[0]\")}");
is($json->{data}{query}, $ledger{ $names[0] } // 0,
   'the restored count is the ledger\'s');

ok(cast_stack('start', 'persister'), 'persister started');
($rc, $out) = admin('check', '--wait', 30);
is($rc, 0, 'check: Redis == PostgreSQL after the restore') or diag $out;

# new votes persist on top of the restored counts
$res = traffic_ledger(vote_traffic(seconds => 3, names => \@names,
                                   width => 6, tag => 'p053b'));
$ledger{$_} += $res->{ledger}{$_} for keys %{ $res->{ledger} };
($ok, $why) = wait_agree(\%ledger, 5);
ok($ok, 'new votes persist after the restore') or diag $why;

# --- automatic: the persister sees {cast}:ready missing ------------------------

redis_cmd('FLUSHALL');
my $t0 = time;
ok(wait_ready(10), 'the persister restores by itself');
note sprintf 'ready again after %.2f s', time - $t0;
($ok, $why) = wait_agree(\%ledger, 5);
ok($ok, 'counts agree after the automatic restore') or diag $why;

done_testing();
