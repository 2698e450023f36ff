# Votes through the stack's nginx: results, merging, defaults, every bad
# input refused without consuming anything, ticket rejections,
# idempotency keys, the voter carried to PostgreSQL.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body);
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!,$v:String,'
         . '$k:String){vote(usernames:$u,voteCount:$c,ticket:$t,'
         . 'voterUsername:$v,idempotencyKey:$k)'
         . '{success message usernames votes}}';
my $run = sprintf '%d%04d', time, $$ % 10000;

sub cas {
    my ($status, $json) = graphql('{cas{ticket validUntil remainingUsage}}');
    die "cas: $status\n" unless $status == 200 && $json->{data};
    return $json->{data}{cas};
}

sub count {
    my ($name) = @_;
    my (undef, $json) = graphql('query($u:String!){query(username:$u)}',
                                { u => $name });
    return $json->{data}{query};
}

sub vote {
    my (%v) = @_;
    my ($status, $json) = graphql($VOTE, \%v);
    return $json;
}

# a ticket with at least 600 ms left, so a test does not race a rotation,
# and more than $uses uses left (10 by default)
sub fresh_ticket {
    my ($uses) = @_;

    for (1 .. 50) {
        my $cas = cas();
        my $left = iso_ms($cas->{validUntil}) - time * 1000;
        return $cas if $left > 600 && $cas->{remainingUsage} > ($uses // 10);
        sleep 0.1;
    }
    die "no fresh ticket\n";
}

sub iso_ms {
    my ($s) = @_;
    my ($y, $mo, $d, $h, $mi, $se, $ms) =
        $s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$/
        or die "not ISO 8601 with ms: $s\n";
    require Time::Local;
    return Time::Local::timegm($se, $mi, $h, $d, $mo - 1, $y) * 1000 + $ms;
}

sub used {
    my $t = redis_cmd('HMGET', '{cast}:ticket', 'id', 'used');
    return "$t->[0]/$t->[1]";
}

# --- cas -------------------------------------------------------------------

my $cas = cas();
like($cas->{ticket}, qr/^[A-Za-z0-9_-]{86}$/, 'cas: an opaque 86-char ticket');
ok(iso_ms($cas->{validUntil}) > time * 1000 - 100,
   'cas: validUntil is ISO 8601 UTC with ms, in the future');
cmp_ok($cas->{remainingUsage}, '>', 0, 'cas: remainingUsage counts uses left');

# --- a vote and its totals -------------------------------------------------

my ($a, $b) = ("alice-$run", "bob-$run");
$cas = fresh_ticket();
my $res = vote(t => $cas->{ticket}, u => [$a, $b], c => [1, 2]);
is_deeply($res->{data}{vote}, {
    success => JSON::PP::true, message => 'Votes recorded successfully',
    usernames => [$a, $b], votes => [1, 2] }, 'vote: success and new totals');
is(count($a), 1, 'query: alice has 1');
is(count($b), 2, 'query: bob has 2');
is(cas()->{remainingUsage}, $cas->{remainingUsage} - 1,
   'vote: consumed exactly one use')
    if cas()->{ticket} eq $cas->{ticket};

$cas = fresh_ticket();
$res = vote(t => $cas->{ticket}, u => [$a, $b, $a], c => [2, 1, 3]);
is_deeply([$res->{data}{vote}{usernames}, $res->{data}{vote}{votes}],
          [[$a, $b], [6, 3]], 'vote: duplicate names merged, counts summed');

$cas = fresh_ticket();
$res = vote(t => $cas->{ticket}, u => [$a, $b]);
is_deeply($res->{data}{vote}{votes}, [7, 4], 'vote: voteCount absent is 1 each');

is(count("nobody-$run"), 0, 'query: an unknown name has 0');

# --- bad input: a GraphQL error, nothing consumed ---------------------------

my @bad = (
    [ 'no usernames',        u => [] ],
    [ '101 usernames',       u => [map { "n$_" } 1 .. 101] ],
    [ 'empty username',      u => [''] ],
    [ '65-byte username',    u => ['x' x 65] ],
    [ 'control character',   u => ["a\tb"] ],
    [ 'invalid UTF-8',       raw => 1 ],
    [ 'voteCount 0',         u => [$a], c => [0] ],
    [ 'voteCount 11',        u => [$a], c => [11] ],
    [ 'negative voteCount',  u => [$a], c => [-1] ],
    [ 'voteCount too short', u => [$a, $b], c => [1] ],
    [ 'voteCount too long',  u => [$a], c => [1, 1] ],
    [ 'empty voter',         u => [$a], v => '' ],
    [ '129-byte key',        u => [$a], k => 'k' x 129 ],
);

for my $case (@bad) {
    my ($name, %v) = @$case;
    my ($before, $after, $json);
    for (1 .. 3) {
        $cas = fresh_ticket();
        $before = used();
        if ($v{raw}) {
            my $body = vote_body($cas->{ticket}, ['PLACEHOLDER']);
            $body =~ s/PLACEHOLDER/a\xff\xfeb/;
            (undef, $json) = graphql(undef, undef, raw => $body);
        } else {
            $json = vote(t => $cas->{ticket}, %v);
        }
        $after = used();
        last if (split m{/}, $before)[0] eq (split m{/}, $after)[0];
    }
    my $code = $json->{errors} && $json->{errors}[0]{extensions}{code};
    ok(defined $code && $code =~ /^(BAD_USER_INPUT|BAD_REQUEST|GRAPHQL_VALIDATION_FAILED)$/,
       "bad input refused: $name") or diag explain $json;
    ok(!defined $json->{data} || !defined $json->{data}{vote},
       "bad input has no vote result: $name");
    is($after, $before, "bad input consumed no use: $name");
}
is(count($a), 7, 'bad input changed no count');

# --- ticket rejections -------------------------------------------------------

$cas = fresh_ticket();
my $before = used();
$res = vote(t => 'not-a-ticket', u => [$a]);
is_deeply($res->{data}{vote}, { success => JSON::PP::false,
    message => 'Invalid ticket', usernames => [], votes => [] },
    'a malformed ticket is invalid');

my $forged = $cas->{ticket};
substr($forged, 40, 1) = substr($forged, 40, 1) eq 'A' ? 'B' : 'A';
$res = vote(t => $forged, u => [$a]);
is($res->{data}{vote}{message}, 'Invalid ticket', 'a forged ticket is invalid');
is(used(), $before, 'rejected tickets consumed no use') if
    (split m{/}, used())[0] eq (split m{/}, $before)[0];

my $old = cas()->{ticket};
my $t0 = time;
sleep 0.05 while cas()->{ticket} eq $old && time - $t0 < 5;
$res = vote(t => $old, u => [$a]);
is($res->{data}{vote}{message}, 'Ticket expired', 'an old ticket is expired');
is($res->{data}{vote}{success}, JSON::PP::false, 'expired: success false');
is(count($a), 7, 'rejected votes changed no count');

# --- idempotency keys ----------------------------------------------------------

my $key = "key-$run";
$cas = fresh_ticket();
my $first = vote(t => $cas->{ticket}, u => [$a], c => [2], k => $key);
is($first->{data}{vote}{votes}[0], 9, 'idempotent vote: applied once');
my $again = vote(t => $cas->{ticket}, u => [$a], c => [2], k => $key);
is_deeply($again->{data}, $first->{data}, 'a retry returns the first result');
is(count($a), 9, 'a retry changes nothing');

$old = $cas->{ticket};
$t0 = time;
sleep 0.05 while cas()->{ticket} eq $old && time - $t0 < 5;
$again = vote(t => $old, u => [$a], c => [2], k => $key);
is_deeply($again->{data}, $first->{data},
          'a retry after the ticket rotated still returns the first result');
is(count($a), 9, 'and still changes nothing');

# --- votes that arrive together travel in one batch ---------------------------
# Each is still decided alone: every total a vote reports is the count
# right after it, so N votes of 1 report N different totals.

my $url = $ENV{CAST_GRAPHQL_URL};
my $c = "carl-$run";
$cas = fresh_ticket(25);
my @answers = burst($url, [map { vote_body($cas->{ticket}, [$c, $c]) }
                           1 .. 20]);
my @totals = sort map {
    sprintf '%03d', $_->{json}{data}{vote}{votes}[0] // 0 } @answers;
is_deeply(\@totals, [map { sprintf '%03d', 2 * $_ } 1 .. 20],
          'a burst of 20 votes reports each total after its own vote');
is(count($c), 40, 'and the count is their sum');

$key = "burst-$run";
$cas = fresh_ticket();
my ($id0, $used0) = split m{/}, used();
@answers = burst($url, [map { vote_body($cas->{ticket}, [$c], [3],
                                        key => $key) } 1 .. 10]);
my %seen = map { JSON::PP->new->canonical->encode($_->{json}) => 1 }
           @answers;
is(scalar keys %seen, 1, 'a burst with one idempotency key: one answer');
is($answers[0]{json}{data}{vote}{votes}[0], 43, 'which applied the vote');
is(count($c), 43, 'once');
is(used(), "$id0/" . ($used0 + 1), 'and consumed one use');

# A burst past the 64 KB of arguments at which a batch leaves whatever is
# in flight: 20 votes of 100 names of 64 bytes (about 160 KB), each vote
# still decided whole and alone.

my @big = map { sprintf '%s-%03d-%s', $c, $_, 'x' x 64 } 1 .. 100;
$_ = substr $_, 0, 64 for @big;
$cas = fresh_ticket(25);
@answers = burst($url, [map { vote_body($cas->{ticket}, \@big) } 1 .. 20]);
is(scalar(grep { $_->{json}{data}{vote}{success} } @answers), 20,
   'a burst of 20 votes of 100 long names: all accepted');
@totals = sort map { sprintf '%03d', $_->{json}{data}{vote}{votes}[99] // 0 }
          @answers;
is_deeply(\@totals, [map { sprintf '%03d', $_ } 1 .. 20],
          'each reports the totals right after it');
is_deeply([map { count($_) } @big[0, 49, 99]], [20, 20, 20],
          'and every name counts all 20');

# --- /metrics: Prometheus text whose counters move with votes -----------------

sub metrics {
    my $url = $ENV{CAST_GRAPHQL_URL} =~ s{/graphql$}{/metrics}r;
    my $res = HTTP::Tiny->new->get($url);
    my (%m, @bad);
    for (split /\n/, $res->{content}) {
        next if /^# (?:HELP|TYPE) [a-z_]+ /;
        my ($name, $value) =
            /^([a-z_]+(?:\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})?) (\S+)$/;
        if (defined $value && $value =~ /^[0-9]+(?:\.[0-9]+)?$/) {
            $m{$name} = $value;
        } else {
            push @bad, $_;
        }
    }
    return (\%m, \@bad, $res);
}

my ($m0, $bad0, $res0) = metrics();
is($res0->{status}, 200, 'metrics: 200');
is_deeply($bad0, [], 'metrics: every line is a comment or a sample');
$cas = fresh_ticket();
vote(t => $cas->{ticket}, u => [$a]);
vote(t => 'not-a-ticket', u => [$a]);
vote(t => $cas->{ticket}, u => ['']);
my ($m1) = metrics();
for my $o (qw(accepted invalid bad_input)) {
    my $k = qq{cast_votes_total{outcome="$o"}};
    cmp_ok($m1->{$k} // 0, '>=', ($m0->{$k} // 0) + 1, "metrics: $o moved");
}
my $k = 'cast_redis_command_seconds_count';
cmp_ok($m1->{$k}, '>', $m0->{$k}, 'metrics: Redis latency observed');
$k = qq{cast_requests_total{operation="mutation",outcome="ok"}};
cmp_ok($m1->{$k}, '>', $m0->{$k}, 'metrics: mutations counted');

# --- a reload keeps the master, the service and the counters -------------------
# (the master unlocks every shared zone's slab mutex as old workers exit)

open my $pidfh, '<', "$ENV{CAST_VAR}/nginx/nginx.pid" or die "pid: $!\n";
chomp(my $master = <$pidfh>);
close $pidfh;
my $acc = qq{cast_votes_total{outcome="accepted"}};
my $elog = $ENV{CAST_NGINX_ERROR_LOG};
my $elog_at = -s $elog;
ok(kill('HUP', $master), 'reload: SIGHUP sent to the master');
sleep 1.5;
ok(kill(0, $master), 'reload: the master lives on after the old workers left');
my ($m2, undef, $res2) = metrics();
is($res2->{status}, 200, 'reload: the new workers serve');
cmp_ok($m2->{$acc}, '>=', $m1->{$acc}, 'reload: the counters survive');
open my $elogfh, '<', $elog or die "$elog: $!\n";
seek $elogfh, $elog_at, 0;
my $reload_log = do { local $/; <$elogfh> };
like($reload_log, qr/exited with code 0/, 'reload: the old workers exited');
unlike($reload_log, qr/exited on signal|\[alert\]|\[crit\]/,
       'reload: no process crashed, no alert');

# --- the voter travels with the event into PostgreSQL --------------------------

my $voter = "dave-$run";
$cas = fresh_ticket();
$res = vote(t => $cas->{ticket}, u => ["carol-$run"], v => $voter);
ok($res->{data}{vote}{success}, 'vote with voterUsername accepted');
my $rows = 0;
$t0 = time;
while (time - $t0 < 10) {
    $rows = eval { psql_query("select count(*) from vote_events where voter = '$voter'") } // 0;
    last if $rows;
    sleep 0.2;
}
is($rows, 1, 'the voter is recorded with its event in PostgreSQL');

done_testing();
