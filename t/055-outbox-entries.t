# The outbox's entry formats during an upgrade: with the relay stopped,
# the outbox holds legacy entries (field "e", the event JSON formatted by
# the cast.lua of before, written here by that formatter running in
# Redis), batch entries (cast.lua's "b" entries, one event per vote,
# formatted by the relay) written by hand and by real votes through nginx,
# packed entries ("p", votes of one name counted once) written by hand,
# and a malformed batch entry.  A relay says it reads packed entries
# ({cast}:relay:packed) while it runs, and no more once it stopped: only
# then does cast.lua write them.  Once the relay runs: every event is
# in Kafka exactly once, a batch entry's event byte for byte what the old
# formatter makes of the same values (names with quotes, backslashes,
# slashes, UTF-8 and control characters, counts up to 2^53 - 1), each
# valid event one vote_events row, and the malformed entry and the events
# with control characters dead-lettered.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $OUTBOX = '{cast}:outbox';
my $tag = sprintf 't055_%d_%d', $$, time % 100000;
my $S1 = int(time) * 1000 + $$ % 1000;     # legacy events' ticket seq
my $S2 = $S1 + 1;                          # the batch entries'
my $PERS = $ENV{CAST_PERSISTER_HTTP_PORT};

# cast.lua's event formatter before batch entries, verbatim: ARGV is
# id ts seq voter k {name n c ver}*k; with a key, also XADDed as "e"
my $OLD = <<'LUA';
local function json_str(s)
    if s:find('[%c"\\]') then
        return cjson.encode(s)
    end
    return '"' .. s .. '"'
end
local votes = {}
for i = 0, tonumber(ARGV[5]) - 1 do
    local b = 6 + 4 * i
    votes[#votes + 1] = string.format('{"u":%s,"n":%d,"c":%d,"ver":%d}',
                                      json_str(ARGV[b]), tonumber(ARGV[b + 1]),
                                      tonumber(ARGV[b + 2]),
                                      tonumber(ARGV[b + 3]))
end
local e = string.format(
    '{"v":1,"id":"%s","ts":%d,"ticket":%s,"voter":%s,"votes":[%s]}',
    ARGV[1], tonumber(ARGV[2]), ARGV[3],
    ARGV[4] ~= '' and json_str(ARGV[4]) or 'null', table.concat(votes, ','))
if KEYS[1] then
    redis.call('XADD', KEYS[1], '*', 'e', e)
end
return e
LUA

# the old formatter's JSON of a vote; written as a legacy entry with $xadd
sub old_json {
    my ($xadd, $id, $ts, $seq, $voter, @names) = @_;

    return redis_cmd('EVAL', $OLD, $xadd ? (1, $OUTBOX) : 0, $id, $ts, $seq,
                     $voter, @names / 4, @names);
}

# the votes written by hand: [use, voter, name n c ver ...], the names
# with control characters dead-lettered by the persister
my $MAX = '9007199254740991';
my @votes = (
    [1, '', "${tag}_plain", 1, 1, 1],
    [2, "voter\"/$tag", "${tag}_q\"uote", 2, 5, 3, "${tag}_back\\slash/", 1,
     1, 1, "${tag}_a/b", 3, 3, 1, "${tag}_caf\xc3\xa9 \xe2\x82\xac", 1, 7, 2],
    [3, "\xe2\x82\xac$tag", "${tag}_huge", 1000000, $MAX, $MAX,
     "${tag}_big", 1, '9007199254740990', '4503599627370497'],
    [4, '', "${tag}_ctl\x01\t\n\x7f/\"", 1, 1, 1],
);
my %dead = (4 => 1, 7 => 1);

# the votes in a packed entry: one name counted once each, [use, voter,
# name, c, ver], uses one after the other; a '\n' in a name or a voter
my @packed = (
    [5, "pv/$tag", "${tag}_p\"q\\/", 4, 2],
    [6, '', "${tag}_caf\xc3\xa9", 9, 9],
    [7, "n\nl", "${tag}_new\nline", 1, 1],
);
my $ts = int(time * 1000);

sub is_deeply_quiet {
    my ($a, $b) = @_;

    return JSON::PP->new->canonical->encode($a)
        eq JSON::PP->new->canonical->encode($b);
}

# --- the outbox during an upgrade, the relay stopped -------------------------

my $dlq0 = metric($PERS, 'cast_persister_dead_letters_total') // 0;

my $relay_stopped;
END { cast_stack('start', 'relay') if $relay_stopped }
ok(wait_for(10, sub { (redis_cmd('PTTL', '{cast}:relay:packed') // -2) > 0 }),
   'a running relay says it reads packed entries');
ok($relay_stopped = cast_stack('stop', 'relay'), 'relay stopped');
is(redis_cmd('EXISTS', '{cast}:relay:packed'), 0,
   'a stopped relay no longer says so');

my (%want, %legacy_key);    # Kafka key => expected value
for my $v (@votes) {
    my ($use, $voter, @names) = @$v;
    my $json = old_json(1, "$S1-$use", $ts, $S1, $voter, @names);

    my $last = redis_cmd('XREVRANGE', $OUTBOX, '+', '-', 'COUNT', 1);
    my $sid = $last->[0][0];
    is($last->[0][1][1], $json, "legacy entry $sid written");
    $want{$sid} = $json;
    $legacy_key{$sid} = $use;

    $want{"$S2-$use"} = old_json(0, "$S2-$use", $ts, $S2, $voter, @names);
}

# the hand-written votes in two batch entries: three, then one
my @flat = map { my ($u, $w, @n) = @$_; ($S2, $u, $w, @n / 4, @n) } @votes;
my $cut = 0;
$cut += 4 + @$_ - 2 for @votes[0 .. 2];
redis_cmd('XADD', $OUTBOX, '*', 'b', $ts, @flat[0 .. $cut - 1]);
redis_cmd('XADD', $OUTBOX, '*', 'b', $ts, @flat[$cut .. $#flat]);

# the packed votes: their events are the old formatter's of the same
# values, each one name counted once
redis_cmd('XADD', $OUTBOX, '*', 'p', join("\n", $ts, $S2, $packed[0][0],
          map { (length $_->[1], $_->[1], length $_->[2], $_->[2],
                 @$_[3, 4]) } @packed));
for my $v (@packed) {
    my ($use, $voter, $name, $c, $ver) = @$v;
    $want{"$S2-$use"} = old_json(0, "$S2-$use", $ts, $S2, $voter, $name, 1,
                                 $c, $ver);
}

# a malformed batch entry: one empty message, dead-lettered
my $bad = redis_cmd('XADD', $OUTBOX, '*', 'b', $ts, $S2, '9', '', '2', 'x',
                    '1', '1', '1');
$want{$bad} = '';

# real votes through nginx, written by the new cast.lua as batch entries;
# one voter is "e", which stands where a legacy entry has its field name
my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!,$v:String,'
         . '$k:String){vote(usernames:$u,voteCount:$c,ticket:$t,'
         . 'voterUsername:$v,idempotencyKey:$k){success}}';
my @real = ("${tag}_r\"q", "${tag}_r\\b/", "${tag}_r/c");
my $accepted = 0;
for my $i (1 .. 3) {
    for (1 .. 20) {
        my ($ticket) = cas_ticket() or next;
        my ($status, $json) = graphql($VOTE, {
            u => \@real,
            c => [1, 2, $i], t => $ticket,
            v => $i == 2 ? 'e' : "real\"voter/$i",
            k => "$tag-$i" });
        if ($json && $json->{data} && $json->{data}{vote}
            && $json->{data}{vote}{success})
        {
            $accepted++;
            last;
        }
        sleep 0.3;
    }
}
is($accepted, 3, 'three real votes accepted');

# their entries: the same values through the old formatter
my $entries = redis_cmd('XRANGE', $OUTBOX, '-', '+');
my $real_events = 0;
for my $e (@$entries) {
    my @f = @{ $e->[1] };
    next unless $f[0] eq 'b' && grep { index($_, "${tag}_r") == 0 } @f;
    my $i = 2;
    while ($i < @f) {
        my ($seq, $use, $voter, $k) = @f[$i .. $i + 3];
        my @names = @f[$i + 4 .. $i + 3 + 4 * $k];
        $i += 4 + 4 * $k;
        next unless grep { index($_, "${tag}_r") == 0 } @names;
        $want{"$seq-$use"} = old_json(0, "$seq-$use", $f[1], $seq, $voter,
                                      @names);
        $real_events++;
    }
}
is($real_events, 3, 'the real votes are three events in batch entries');

# --- the relay runs ----------------------------------------------------------

ok(cast_stack('start', 'relay'), 'relay started');
$relay_stopped = 0;
ok(wait_for(30, sub { !redis_cmd('XLEN', $OUTBOX) }), 'outbox drained');

# every message of cast.votes, key and value
my $libs = $ENV{CAST_KAFKA_LIBS} // ($ENV{XDG_CACHE_HOME}
    // ($ENV{HOME} // '/root') . '/.cache') . '/cast/kafka-4.1.1/libs';
my %got;
my $deadline = time + 90;
while (time < $deadline) {
    %got = ();
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', '/dev/null';
        exec 'java', '-Xmx256m', '-XX:TieredStopAtLevel=1',
            '-cp', "$libs/*", 'org.apache.kafka.tools.consumer.ConsoleConsumer',
            '--bootstrap-server', $ENV{CAST_KAFKA_BOOTSTRAP},
            '--topic', 'cast.votes', '--from-beginning',
            '--timeout-ms', '8000',
            '--property', 'print.key=true',
            '--property', "key.separator=\t"
            or die "exec java: $!";
    }
    while (my $line = <$fh>) {
        chomp $line;
        my ($k, $v) = split /\t/, $line, 2;
        push @{ $got{$k} }, $v // '' if exists $want{$k};
    }
    close $fh;
    last if keys %got == keys %want;
    sleep 1;
}

is(scalar(keys %got), scalar(keys %want), 'every event is in Kafka')
    or diag explain [grep { !$got{$_} } sort keys %want];
for my $k (sort keys %want) {
    my $what = exists $legacy_key{$k} ? "legacy entry $k"
             : $k eq $bad ? "malformed batch entry $k" : "event $k";
    is(scalar @{ $got{$k} // [] }, 1, "$what: in Kafka once");
    is($got{$k}[0], $want{$k},
       "$what: " . ($k eq $bad ? 'empty' : 'the old formatter\'s JSON'));
}

# the batch entries' events are byte for byte the legacy ones, but for
# their ticket seq
for my $v (@votes) {
    my $use = $v->[0];
    my ($legacy) = grep { $legacy_key{$_} == $use } keys %legacy_key;
    (my $same = $got{$legacy}[0] // 'none') =~ s/\b$S1\b/$S2/g;
    is($got{"$S2-$use"}[0], $same, "vote $use: batch event == legacy event");
}

# --- PostgreSQL --------------------------------------------------------------

my @valid = grep { !$dead{$_->[0]} } @votes;
my @ids = ((map { ("'$S1-$_->[0]'", "'$S2-$_->[0]'") } @valid),
           (map { "'$S2-$_->[0]'" } grep { !$dead{$_->[0]} } @packed),
           map { "'$_'" } grep { !exists $legacy_key{$_} && $_ ne $bad
                                   && !/^($S1|$S2)-/ } keys %want);
my $rows = 0;
ok(wait_for(30, sub {
    $rows = psql_query('SELECT count(*) FROM vote_events WHERE event_id IN ('
                       . join(',', @ids) . ')');
    $rows == @ids }), 'every valid event is one vote_events row')
    or diag "$rows of " . scalar @ids;

my $payload = psql_query("SELECT payload->'votes'->0->>'c' FROM vote_events "
                         . "WHERE event_id = '$S2-3'");
is($payload, $MAX, 'a count of 2^53 - 1 arrives exact');

ok(wait_for(30, sub {
    metric($PERS, 'cast_persister_dead_letters_total') >= $dlq0 + 4 }),
   'the malformed entry and the control characters dead-lettered');
is(metric($PERS, 'cast_persister_dead_letters_total'), $dlq0 + 4,
   'four dead letters, no more');

# Redis and PostgreSQL agree on the real votes' names
my $c = counts_redis(\@real);
ok(wait_for(10, sub { is_deeply_quiet(counts_pg(\@real), $c) }),
   'the real votes: PostgreSQL == Redis');
is($c->{ $real[2] }, 6, 'the real votes counted');

# the hand-written votes touched names Redis never counted
psql_query("DELETE FROM votes WHERE username LIKE '${tag}_%' "
           . "AND username NOT LIKE '${tag}_r%'");

done_testing();
