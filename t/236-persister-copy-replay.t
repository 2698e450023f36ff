# The persister copies a batch's events into vote_events (COPY, no ON
# CONFLICT probe) and applies a batch that holds a known event id again
# with ON CONFLICT DO NOTHING (README, "The persister").  Here:
#
# 1. every event of a round twice in Kafka (each outbox entry written
#    twice while the relay was stopped) and so twice in one batch: copied
#    once each, no batch taken for a replay;
# 2. a batch mixing known events (the first round's, written to the
#    outbox again) with new ones: the copy fails on a known id, the
#    fallback inserts only the new events, and every count converges.
#
# PostgreSQL == Redis == the client's ledger after each, and each event is
# in vote_events once.

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
my $LOG = "$ENV{CAST_VAR}/log/persister.log";

sub pers { return metric($PERS, $_[0]) // -1 }

# the events in vote_events whose payload names one of the round's $tag
sub events_of {
    my ($tag) = @_;
    return psql_query("SELECT count(*) FROM vote_events "
                      . "WHERE payload::text LIKE '%\"${tag}\\_%'");
}

sub relay_drained {
    return wait_for(20, sub { (metric($RELAY, 'cast_relay_backlog') // -1)
                              == 0
                              && (metric($RELAY, 'cast_relay_inflight')
                                  // -1) == 0 });
}

sub persister_up {
    ok(cast_stack('start', 'persister'), 'persister started');
    ok(wait_for(30, sub { partitions($PERS) > 0 }), 'it has partitions');
}

ok(wait_for(30, sub { (metric($PERS, 'cast_persister_consumer_lag') // -1)
                      == 0 }), 'nothing pending before the test');

# --- 1. each event twice in one batch -------------------------------------

my $tag1 = "p236a_$$";
my @names1 = pipeline_names($tag1, 20);

ok(cast_stack('stop', 'persister'), 'persister stopped');
ok(cast_stack('stop', 'relay'), 'relay stopped');
# the packed key of a relay is gone with it within 3 s: batch entries
ok(wait_for(10, sub { !redis_cmd('EXISTS', '{cast}:relay:packed') }),
   'no relay reads packed entries');

my $res1 = traffic_ledger(vote_traffic(seconds => 2, names => \@names1,
                                       width => 3, per_round => 30,
                                       tag => $tag1));
cmp_ok($res1->{stat}{ok}, '>=', 10, "votes accepted ($res1->{stat}{ok})");

my $entries = redis_cmd('XRANGE', '{cast}:outbox', '-', '+') // [];
cmp_ok(scalar @$entries, '>', 0, 'the outbox holds the votes');
redis_cmd('XADD', '{cast}:outbox', '*', @{ $_->[1] }) for @$entries;

ok(cast_stack('start', 'relay'), 'relay started');
ok(relay_drained(), 'every entry twice in Kafka');

my $from = -s $LOG // 0;
persister_up();

my ($ok, $why) = wait_agree($res1->{ledger}, 30);
ok($ok, 'PostgreSQL == Redis == ledger') or diag $why;

my $n1 = events_of($tag1);
cmp_ok($n1, '>', 0, "the round's events are in vote_events ($n1)");
ok(wait_for(10, sub { pers('cast_persister_rows_total') == $n1 }),
   'each inserted once: rows_total == events')
    or diag 'rows_total ' . pers('cast_persister_rows_total');
is(pers('cast_persister_messages_total'), 2 * $n1, 'each consumed twice');
is(pers('cast_persister_replay_batches_total'), 0,
   'no batch applied as a replay: the duplicates were copied once');

# --- 2. known events and new ones in one batch -----------------------------

my $tag2 = "p236b_$$";
my @names2 = pipeline_names($tag2, 20);
my @known = map { $_->[0] } psql_query(
    "SELECT payload FROM vote_events WHERE payload::text LIKE "
    . "'%\"${tag1}\\_%' ORDER BY event_id");
is(scalar @known, $n1, 'the first round read back');

ok(cast_stack('stop', 'persister'), 'persister stopped');
my $rows_before = psql_query('SELECT count(*) FROM vote_events');

# legacy entries (field e) go to Kafka as they are: known event ids
redis_cmd('XADD', '{cast}:outbox', '*', 'e', $_) for @known;
my $res2 = traffic_ledger(vote_traffic(seconds => 2, names => \@names2,
                                       width => 3, per_round => 30,
                                       tag => $tag2));
cmp_ok($res2->{stat}{ok}, '>=', 10, "votes accepted ($res2->{stat}{ok})");
ok(relay_drained(), 'the known and the new events in Kafka');

$from = -s $LOG // 0;
persister_up();

($ok, $why) = wait_agree({ %{ $res1->{ledger} }, %{ $res2->{ledger} } }, 30);
ok($ok, 'PostgreSQL == Redis == ledger, both rounds') or diag $why;

my $n2 = events_of($tag2);
cmp_ok($n2, '>', 0, "the new events are in vote_events ($n2)");
is(events_of($tag1), $n1, 'the known events are there once each');
is(psql_query('SELECT count(*) FROM vote_events') - $rows_before, $n2,
   'vote_events grew by the new events only');
ok(wait_for(10, sub { pers('cast_persister_rows_total') == $n2 }),
   'rows_total counts the new events only')
    or diag 'rows_total ' . pers('cast_persister_rows_total');
cmp_ok(pers('cast_persister_replay_batches_total'), '>=', 1,
       'a batch was applied as a replay');
is(pers('cast_persister_pg_errors_total'), 0, 'without a PostgreSQL error');

my $log = do { local $/; open my $fh, '<', $LOG or die "$LOG: $!";
               seek $fh, $from, 0; <$fh> };
like($log, qr/some applied before: again with ON CONFLICT/,
     'the log says the copy met known events');

done_testing();
