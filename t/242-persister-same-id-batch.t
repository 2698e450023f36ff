# Two different events under one event id in one batch.  An event id
# names one use of one ticket, so two events under it mean something went
# wrong upstream (a Redis that lost writes in a failover and gave the use
# out again, a hostile producer); the persister's rule for them is the one
# for any event met again: vote_events keeps the first it stored, and the
# votes of every event apply by version.  When the two come in different
# batches that is what happens; in one batch the persister drops
# duplicate ids before the COPY, and it must not drop the second event's
# votes with its row: the counts would then depend on where a batch ended
# and on which of the two qsort() put first.

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
my $seq = int(time * 1000) * 10 + $$ % 10 + 5;
my ($u1, $u2) = map { "p242_${$}_${seq}_$_" } 1, 2;

sub pers { return metric($PERS, $_[0]) // -1 }

sub event {
    my ($name, $c) = @_;
    return qq({"v":1,"id":"$seq-1","ts":1767000000000,"ticket":$seq,)
        . qq("voter":null,"votes":[{"u":"$name","n":1,"c":$c,"ver":$c}]});
}

ok(wait_for(30, sub { pers('cast_persister_consumer_lag') == 0 }),
   'nothing pending before the test');

ok(cast_stack('stop', 'persister'), 'persister stopped');

# keyed by the event id: one partition, one after the other, one batch
redis_cmd('XADD', '{cast}:outbox', '*', 'e', event($u1, 4));
redis_cmd('XADD', '{cast}:outbox', '*', 'e', event($u2, 6));

ok(wait_for(20, sub { (metric($RELAY, 'cast_relay_backlog') // -1) == 0
                      && (metric($RELAY, 'cast_relay_inflight') // -1)
                         == 0 }),
   'both events in Kafka');

ok(cast_stack('start', 'persister'), 'persister started');
ok(wait_for(30, sub { partitions($PERS) > 0 }), 'it has partitions');
ok(wait_for(30, sub { pers('cast_persister_messages_total') >= 2
                      && pers('cast_persister_consumer_lag') == 0 }),
   'both consumed and committed');

is(pers('cast_persister_batches_total'), 1, 'in one batch');
is(psql_query("SELECT count(*) FROM vote_events WHERE ticket_seq = $seq"),
   1, 'vote_events keeps the id once');
is(pers('cast_persister_rows_total'), 1, 'rows_total: one row');

my %votes = map { ($_->[0] => "$_->[1]/$_->[2]") } psql_query(
    "SELECT username, count, version FROM votes "
    . "WHERE username IN ('$u1', '$u2')");
is_deeply(\%votes, { $u1 => '4/4', $u2 => '6/6' },
          "both events' votes applied, as in separate batches");

is(pers('cast_persister_pg_errors_total'), 0, 'without a PostgreSQL error');

# names Redis never counted: out of the way of cast-admin check
psql_query("DELETE FROM votes WHERE username IN ('$u1', '$u2')");

done_testing();
