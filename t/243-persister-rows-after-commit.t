# cast_persister_rows_total counts new vote_events rows (README, docs/
# pipeline.md: "replays not counted"), so only rows a COMMIT kept.  Here
# the persister's transaction fails after its COPY went through: a row of
# votes the batch updates is held by another transaction, and while the
# persister waits for it its PostgreSQL session is terminated (as a
# PostgreSQL restart or a failover does).  The batch is applied again
# and the event stored once; the counter must say one row, not two (the
# COPY of the failed transaction was counted before its COMMIT).

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
my $seq = int(time * 1000) * 10 + $$ % 10 + 7;
my $u = "p243_${$}_${seq}";

sub pers { return metric($PERS, $_[0]) // -1 }

ok(wait_for(30, sub { pers('cast_persister_consumer_lag') == 0 }),
   'nothing pending before the test');

psql_query("INSERT INTO votes (username, count, version) VALUES "
           . "('$u', 0, 0)");

# the other transaction: the votes row locked until it commits
my $psql = -x '/usr/lib/postgresql/15/bin/psql'
    ? '/usr/lib/postgresql/15/bin/psql' : 'psql';
open my $tx, '|-', $psql, '-X', '-q', '-v', 'ON_ERROR_STOP=1',
    '-d', $ENV{CAST_PG_DSN} or die "psql: $!";
$tx->autoflush(1);
print {$tx} "BEGIN;\nSELECT 1 FROM votes WHERE username = '$u' "
    . "FOR UPDATE;\n";

ok(wait_for(10, sub { psql_query("SELECT count(*) FROM pg_locks l JOIN "
                                 . "pg_class c ON c.oid = l.relation "
                                 . "WHERE c.relname = 'votes' "
                                 . "AND l.mode = 'RowShareLock' "
                                 . "AND l.granted") > 0 }),
   'the other transaction holds the row');

my $rows = pers('cast_persister_rows_total');
my $errors = pers('cast_persister_pg_errors_total');

redis_cmd('XADD', '{cast}:outbox', '*', 'e',
          qq({"v":1,"id":"$seq-1","ts":1767000000000,"ticket":$seq,)
          . qq("voter":null,"votes":[{"u":"$u","n":1,"c":1,"ver":1}]}));

my $waiting = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = "
    . "'Lock' AND query LIKE 'INSERT INTO votes%'";
ok(wait_for(20, sub { scalar(() = psql_query($waiting)) > 0 }),
   "the persister's votes upsert waits, its events copied");
is(psql_query("SELECT count(*) FROM vote_events WHERE ticket_seq = $seq"),
   0, 'nothing committed yet');

psql_query("SELECT pg_terminate_backend(pid) FROM ($waiting) w");

print {$tx} "COMMIT;\n";
close $tx;
is($?, 0, 'the other transaction committed');

ok(wait_for(30, sub { psql_query("SELECT count(*) FROM vote_events "
                                 . "WHERE ticket_seq = $seq") == 1
                      && pers('cast_persister_consumer_lag') == 0 }),
   'the batch applied again and committed');
cmp_ok(pers('cast_persister_pg_errors_total'), '>', $errors,
       'after a PostgreSQL error');
is(psql_query("SELECT count || '/' || version FROM votes "
              . "WHERE username = '$u'"), '1/1', 'the name at its version');
is(pers('cast_persister_rows_total') - $rows, 1,
   'rows_total: one new row, the rolled back copy not counted');

# a name Redis never counted: out of the way of cast-admin check; a fresh
# persister, its error counter back at 0 for the tests after this one
psql_query("DELETE FROM votes WHERE username = '$u'");
ok(cast_stack('stop', 'persister'), 'persister stopped');
ok(cast_stack('start', 'persister'), 'persister started');
ok(wait_for(30, sub { partitions($PERS) > 0 }), 'it has partitions');

done_testing();
