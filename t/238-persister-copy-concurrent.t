# Two writers of one event id at once, as two persister replicas are
# during a rebalance: a transaction stands in for the other replica,
# inserting an event id and holding its COMMIT while the persister copies
# a batch holding that id and a new one.  The COPY waits for the
# transaction; once it commits, the COPY fails with unique_violation and
# the batch is applied again with ON CONFLICT: the new event inserted,
# the other one left as the first writer wrote it, both names' counts at
# their versions.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use IO::Handle;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $PERS = $ENV{CAST_PERSISTER_HTTP_PORT};
my $seq = int(time * 1000) * 10 + $$ % 10;
my ($u1, $u2) = map { "p238_${$}_${seq}_$_" } 1, 2;

sub pers { return metric($PERS, $_[0]) // -1 }

sub event {
    my ($use, $name, $c) = @_;
    return qq({"v":1,"id":"$seq-$use","ts":1767000000000,"ticket":$seq,)
        . qq("voter":null,"votes":[{"u":"$name","n":1,"c":$c,"ver":$c}]});
}

ok(wait_for(30, sub { pers('cast_persister_consumer_lag') == 0 }),
   'nothing pending before the test');

# first a batch of a new event alone: a persister an earlier test left
# replaying (t/237) inserts with ON CONFLICT until a batch skips none
my $uw = "${u1}_w";
my $warm = $seq + 1;
my $rows = pers('cast_persister_rows_total');
redis_cmd('XADD', '{cast}:outbox', '*', 'e',
          qq({"v":1,"id":"$warm-1","ts":1767000000000,"ticket":$warm,)
          . qq("voter":null,"votes":[{"u":"$uw","n":1,"c":1,"ver":1}]}));
ok(wait_for(30, sub { pers('cast_persister_rows_total') == $rows + 1 }),
   'a new event alone persisted first');
$rows = pers('cast_persister_rows_total');
my $replays = pers('cast_persister_replay_batches_total');

# the other writer: event 1 inserted, not committed
my $psql = -x '/usr/lib/postgresql/15/bin/psql'
    ? '/usr/lib/postgresql/15/bin/psql' : 'psql';
open my $tx, '|-', $psql, '-X', '-q', '-v', 'ON_ERROR_STOP=1',
    '-d', $ENV{CAST_PG_DSN} or die "psql: $!";
$tx->autoflush(1);
my $e1 = event(1, $u1, 7);
print {$tx} "BEGIN;\n"
    . "INSERT INTO vote_events (event_id, ts, ticket_seq, payload) "
    . "VALUES ('$seq-1', now(), $seq, '$e1');\n";

ok(wait_for(10, sub { psql_query("SELECT count(*) FROM pg_locks l JOIN "
                                 . "pg_class c ON c.oid = l.relation "
                                 . "WHERE c.relname = 'vote_events' "
                                 . "AND l.mode = 'RowExclusiveLock' "
                                 . "AND l.granted") > 0 }),
   'the other writer holds its insert');

# the persister's batch: event 1 again and a new event 2
redis_cmd('XADD', '{cast}:outbox', '*', 'e', $e1);
redis_cmd('XADD', '{cast}:outbox', '*', 'e', event(2, $u2, 3));

ok(wait_for(20, sub { psql_query("SELECT count(*) FROM pg_stat_activity "
                                 . "WHERE wait_event_type = 'Lock' "
                                 . "AND query LIKE 'COPY vote_events%'")
                      > 0 }),
   "the persister's COPY waits for the other writer");

print {$tx} "COMMIT;\n";
close $tx;
is($?, 0, 'the other writer committed');

ok(wait_for(20, sub { pers('cast_persister_rows_total') == $rows + 1 }),
   'the persister inserted the new event only')
    or diag 'rows_total ' . pers('cast_persister_rows_total');
is(pers('cast_persister_replay_batches_total'), $replays + 1,
   'its batch was applied as a replay');
is(pers('cast_persister_pg_errors_total'), 0, 'without a PostgreSQL error');

is(psql_query("SELECT count(*) FROM vote_events WHERE ticket_seq = $seq"),
   2, 'two events, each once');
is(psql_query("SELECT to_char(ts, 'YYYY') FROM vote_events "
              . "WHERE event_id = '$seq-2'"), '2025',
   'the new one as the persister wrote it');
my %votes = map { ($_->[0] => "$_->[1]/$_->[2]") } psql_query(
    "SELECT username, count, version FROM votes "
    . "WHERE username IN ('$u1', '$u2')");
is_deeply(\%votes, { $u1 => '7/7', $u2 => '3/3' },
          'both names at their versions');

# names Redis never counted: out of the way of cast-admin check
psql_query("DELETE FROM votes WHERE username IN ('$u1', '$u2', '$uw')");

done_testing();
