# The values the persister writes into vote_events, by both of its paths:
# the binary COPY (a batch of new events) and the ON CONFLICT insert (a
# batch holding a known id).  Strings PostgreSQL's text formats treat
# specially (quotes, backslashes, braces, commas, "NULL", an apostrophe,
# multi-byte UTF-8) and the integers at the ends of what an event may
# hold (ts 0 and 2^53 ms, ticket and versions 2^53): each path stores
# the same id, ticket, voter, timestamp and payload, the payload being
# the event's canonical JSON byte for byte.

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
my $MAX = 9007199254740992;
my $base = int(time * 1000) * 10 + $$ % 10;

sub pers { return metric($PERS, $_[0]) // -1 }

# bytes, not characters: what Redis, Kafka and PostgreSQL hold
my $odd = qq(q"b\\s {x},y NULL it's \xc3\xa9\xe2\x9c\x93\xf0\x9d\x84\x9e);
(my $json_odd = $odd) =~ s/(["\\])/\\$1/g;

# the event in its canonical form, so stored == sent
sub event {
    my ($seq, $ts, $voter, $user, $c) = @_;
    my $v = defined $voter ? qq("$voter") : 'null';
    return qq({"v":1,"id":"$seq-1","ts":$ts,"ticket":$seq,"voter":$v,)
        . qq("votes":[{"u":"$user","n":1,"c":$c,"ver":$c}]});
}

sub relay_drained {
    return wait_for(20, sub { (metric($RELAY, 'cast_relay_backlog') // -1)
                              == 0
                              && (metric($RELAY, 'cast_relay_inflight')
                                  // -1) == 0 });
}

sub stored {
    my ($seq) = @_;
    my @rows = psql_query(
        "SELECT event_id, ticket_seq, coalesce(voter, '<null>'), "
        . "(extract(epoch FROM ts) * 1000)::bigint, payload::text "
        . "FROM vote_events WHERE ticket_seq = $seq");
    return @rows == 1 ? join("\n", @{ $rows[0] }) : scalar(@rows) . ' rows';
}

# per case: ticket, ts, voter (json-escaped), name (json-escaped), c
my @cases = (
    [0, 0, $json_odd, "p244_${$}_a_$json_odd", 1],
    [1, $MAX, undef, "p244_${$}_b", $MAX],
    [2, 1767000000123, 'v', "p244_${$}_c_\xe2\x9c\x93", 3],
);

sub expect {
    my ($seq, $case) = @_;
    my (undef, $ts, $voter, $user, $c) = @$case;
    (my $raw = $voter // '<null>') =~ s/\\(["\\])/$1/g;
    return join("\n", "$seq-1", $seq, $raw, $ts,
                event($seq, $ts, $voter, $user, $c));
}

ok(wait_for(30, sub { pers('cast_persister_consumer_lag') == 0 }),
   'nothing pending before the test');

# --- 1. copied: a batch of new events --------------------------------------

my @copied = map { $base + 10 * $_->[0] } @cases;
my $rows = pers('cast_persister_rows_total');
my $replays = pers('cast_persister_replay_batches_total');

for my $i (0 .. $#cases) {
    my (undef, @rest) = @{ $cases[$i] };
    redis_cmd('XADD', '{cast}:outbox', '*', 'e', event($copied[$i], @rest));
}

ok(wait_for(30, sub { pers('cast_persister_rows_total')
                      == $rows + @cases }), 'the events copied');
is(pers('cast_persister_replay_batches_total'), $replays,
   'no batch taken for a replay');
is(stored($copied[$_]), expect($copied[$_], $cases[$_]),
   "copied, case $_ stored as sent") for 0 .. $#cases;

# --- 2. the ON CONFLICT insert: the same values beside a known id ----------

my @inserted = map { $base + 10 * $_->[0] + 1 } @cases;

ok(cast_stack('stop', 'persister'), 'persister stopped');
redis_cmd('XADD', '{cast}:outbox', '*', 'e',
          event($copied[0], @{ $cases[0] }[1 .. 4]));
for my $i (0 .. $#cases) {
    my (undef, @rest) = @{ $cases[$i] };
    redis_cmd('XADD', '{cast}:outbox', '*', 'e',
              event($inserted[$i], @rest));
}
ok(relay_drained(), 'a known event and new ones in Kafka');

ok(cast_stack('start', 'persister'), 'persister started');
ok(wait_for(30, sub { partitions($PERS) > 0 }), 'it has partitions');
ok(wait_for(30, sub { pers('cast_persister_rows_total') == @cases
                      && pers('cast_persister_consumer_lag') == 0 }),
   'the new events inserted');
cmp_ok(pers('cast_persister_replay_batches_total'), '>=', 1,
       'by a batch taken for a replay');
is(stored($inserted[$_]), expect($inserted[$_], $cases[$_]),
   "inserted, case $_ stored as sent") for 0 .. $#cases;
is(stored($copied[0]), expect($copied[0], $cases[0]),
   'the known event left as it was');
is(pers('cast_persister_pg_errors_total'), 0, 'without a PostgreSQL error');

# names Redis never counted: out of the way of cast-admin check
psql_query("DELETE FROM votes WHERE username LIKE 'p244\\_${$}\\_%'");

done_testing();
