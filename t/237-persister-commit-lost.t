# A persister that crashed between its PostgreSQL COMMIT and the Kafka
# offset commit: the group's committed offsets are moved back over
# messages already applied (ConsumerGroupCommand --shift-by, the
# persister stopped), more votes arrive meanwhile, and the persister
# starts again.  Its first batch holds known events and new ones: the
# copy meets a known id and the batch is applied again with ON CONFLICT.
# vote_events grows by the new events only, every count converges
# (PostgreSQL == Redis == the client's ledger) and nothing fails.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $PERS = $ENV{CAST_PERSISTER_HTTP_PORT};
my $SHIFT = 25;

sub pers { return metric($PERS, $_[0]) // -1 }

sub lag_zero {
    return wait_for(30, sub { pers('cast_persister_consumer_lag') == 0 });
}

sub events_of {
    my ($tag) = @_;
    return psql_query("SELECT count(*) FROM vote_events "
                      . "WHERE payload::text LIKE '%\"${tag}\\_%'");
}

# Kafka's consumer group tool, as scripts/stack.sh runs its TopicCommand
sub kafka_groups {
    my @args = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec 'java', '-Xmx256m', '-XX:TieredStopAtLevel=1',
            "-Dlog4j2.configurationFile=$ENV{CAST_VAR}/kafka/"
            . 'tools-log4j2.properties',
            '-cp', "$ENV{CAST_KAFKA_LIBS}/*",
            'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
            '--bootstrap-server', $ENV{CAST_KAFKA_BOOTSTRAP}, @args
            or die "exec java: $!";
    }
    my $out = join '', <$fh>;
    close $fh;
    return ($? == 0, $out);
}

ok(lag_zero(), 'nothing pending before the test');

my $tag1 = "p237a_$$";
my @names1 = pipeline_names($tag1, 30);
my $res1 = traffic_ledger(vote_traffic(seconds => 3, names => \@names1,
                                       width => 3, tag => $tag1));
my ($ok, $why) = wait_agree($res1->{ledger}, 30);
ok($ok, 'first round: PostgreSQL == Redis == ledger') or diag $why;
ok(lag_zero(), 'and its offsets committed');

ok(cast_stack('stop', 'persister'), 'persister stopped');

my ($done, $out) = kafka_groups(
    '--reset-offsets', '--group', $ENV{CAST_GROUP_ID} // 'cast-persister',
    '--topic', $ENV{CAST_TOPIC} // 'cast.votes', '--shift-by', -$SHIFT,
    '--execute');
ok($done, "offsets moved back by $SHIFT on every partition") or diag $out;
note $out;

my $tag2 = "p237b_$$";
my @names2 = pipeline_names($tag2, 30);
my $res2 = traffic_ledger(vote_traffic(seconds => 2, names => \@names2,
                                       width => 3, tag => $tag2));
cmp_ok($res2->{stat}{ok}, '>=', 10, "votes while it is down "
       . "($res2->{stat}{ok})");

my $rows_before = psql_query('SELECT count(*) FROM vote_events');
my $n1 = events_of($tag1);

ok(cast_stack('start', 'persister'), 'persister started');

($ok, $why) = wait_agree({ %{ $res1->{ledger} }, %{ $res2->{ledger} } }, 30);
ok($ok, 'PostgreSQL == Redis == ledger, both rounds') or diag $why;
ok(lag_zero(), 'the replayed messages committed again');

my $n2 = events_of($tag2);
cmp_ok($n2, '>', 0, "the new events are in vote_events ($n2)");
is(events_of($tag1), $n1, 'the replayed events are there once each');
is(psql_query('SELECT count(*) FROM vote_events') - $rows_before, $n2,
   'vote_events grew by the new events only');
is(pers('cast_persister_rows_total'), $n2,
   'rows_total counts the new events only');
cmp_ok(pers('cast_persister_messages_total'), '>', $n2,
       'the known messages were consumed again');
cmp_ok(pers('cast_persister_replay_batches_total'), '>=', 1,
       'a batch was applied as a replay');
is(pers('cast_persister_pg_errors_total'), 0, 'without a PostgreSQL error');

done_testing();
