# Votes.  As blocks, each against a private nginx on the stack's Redis:
# the current ticket, results and totals, merging, defaults, every bad
# input refused without consuming anything, ticket rejections and
# idempotency keys.  Driven from Perl, through the stack's nginx: bursts
# that travel in one batch, the metrics, a reload, and the voter carried
# to PostgreSQL.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Vote;
use Cast::Burst qw(burst vote_body);
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!,$v:String,'
         . '$k:String){vote(usernames:$u,voteCount:$c,ticket:$t,'
         . 'voterUsername:$v,idempotencyKey:$k)'
         . '{success message usernames votes}}';
my $run = sprintf '%d%04d', time, $$ % 10000;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

$ENV{TEST_NGINX_CAST_HTTP}
    .= "    cast_ticket_secret_file $ENV{CAST_TICKET_SECRET_FILE};\n";

sub cas {
    my ($status, $json) = graphql('{cas{ticket validUntil remainingUsage}}');
    die "cas: $status\n" unless $status == 200 && $json->{data};
    return $json->{data}{cas};
}

sub count_of {
    my ($name) = @_;
    my (undef, $json) = graphql('query($u:String!){query(username:$u)}',
                                { u => $name });
    return $json->{data}{query};
}

sub vote_on {
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

my $a = "alice-$run";
my ($cas, $res, $t0, $key);

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
is(count_of($c), 40, 'and the count is their sum');

$key = "burst-$run";
$cas = fresh_ticket();
my ($id0, $used0) = split m{/}, used();
@answers = burst($url, [map { vote_body($cas->{ticket}, [$c], [3],
                                        key => $key) } 1 .. 10]);
my %seen = map { JSON::PP->new->canonical->encode($_->{json}) => 1 }
           @answers;
is(scalar keys %seen, 1, 'a burst with one idempotency key: one answer');
is($answers[0]{json}{data}{vote}{votes}[0], 43, 'which applied the vote');
is(count_of($c), 43, 'once');
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
is_deeply([map { count_of($_) } @big[0, 49, 99]], [20, 20, 20],
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
vote_on(t => $cas->{ticket}, u => [$a]);
vote_on(t => 'not-a-ticket', u => [$a]);
vote_on(t => $cas->{ticket}, u => ['']);
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
$res = vote_on(t => $cas->{ticket}, u => ["carol-$run"], v => $voter);
ok($res->{data}{vote}{success}, 'vote with voterUsername accepted');
my $rows = 0;
$t0 = time;
while (time - $t0 < 10) {
    $rows = eval { psql_query("select count(*) from vote_events where voter = '$voter'") } // 0;
    last if $rows;
    sleep 0.2;
}
is($rows, 1, 'the voter is recorded with its event in PostgreSQL');

run_tests();

__DATA__

=== TEST 1: cas answers the current ticket, its end and the uses left
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::ticket();
[(::graphql_request('{cas{ticket validUntil remainingUsage}}')) x 2]
--- response_body eval
[::cas_body(),
 qr/^\{"data":\{"cas":\{"ticket":"[A-Za-z0-9_-]{86}","validUntil":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","remainingUsage":[1-9]\d*\}\}\}\z/]



=== TEST 2: a vote answers the new totals and consumes one use
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('alice'), ::name('bob')], c => [1, 2]),
 ::count(::name('alice')), ::count(::name('bob'))]
--- response_body eval
['{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["alice-$TEST_NGINX_RUN","bob-$TEST_NGINX_RUN"],"votes":[1,2]}}}',
 '{"data":{"query":1}}', '{"data":{"query":2}}']
--- ticket_uses: 1



=== TEST 3: duplicate names in one vote are merged, their counts summed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [::name('carol'), ::name('dave'), ::name('carol')], c => [2, 1, 3])
--- response_body chomp
{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["carol-$TEST_NGINX_RUN","dave-$TEST_NGINX_RUN"],"votes":[5,1]}}}
--- ticket_uses: 1



=== TEST 4: a vote without voteCount gives 1 to each name
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [::name('erin'), ::name('frank')])
--- response_body chomp
{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["erin-$TEST_NGINX_RUN","frank-$TEST_NGINX_RUN"],"votes":[1,1]}}}



=== TEST 5: a name nobody voted for has 0
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::count(::name('nobody'))
--- response_body chomp
{"data":{"query":0}}



=== TEST 6: bad input, no usernames: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [])
--- response_body chomp
{"errors":[{"message":"usernames must hold 1 to cast_max_usernames names","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}
--- ticket_uses: 0



=== TEST 7: bad input, 101 usernames: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [map { ::name("n$_") } 1 .. 101]),
 ::count(::name('n1'))]
--- response_body eval
['{"errors":[{"message":"usernames must hold 1 to cast_max_usernames names","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 8: bad input, an empty username: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [''])
--- response_body chomp
{"errors":[{"message":"each username must be 1 to 64 bytes of UTF-8 without control characters","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}
--- ticket_uses: 0



=== TEST 9: bad input, a 65-byte username: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => ['x' x 65])
--- response_body chomp
{"errors":[{"message":"each username must be 1 to 64 bytes of UTF-8 without control characters","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}
--- ticket_uses: 0



=== TEST 10: bad input, a control character in a username: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => [::name("tab\tbed")])
--- response_body chomp
{"errors":[{"message":"each username must be 1 to 64 bytes of UTF-8 without control characters","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}
--- ticket_uses: 0



=== TEST 11: bad input, voteCount 0: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('zero')], c => [0]),
 ::count(::name('zero'))]
--- response_body eval
['{"errors":[{"message":"each voteCount must be between 1 and cast_max_vote_count","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 12: bad input, voteCount 11, over cast_max_vote_count: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('eleven')], c => [11]),
 ::count(::name('eleven'))]
--- response_body eval
['{"errors":[{"message":"each voteCount must be between 1 and cast_max_vote_count","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 13: bad input, a negative voteCount: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('minus')], c => [-1]),
 ::count(::name('minus'))]
--- response_body eval
['{"errors":[{"message":"each voteCount must be between 1 and cast_max_vote_count","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 14: bad input, a voteCount shorter than usernames: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('short1'), ::name('short2')], c => [1]),
 ::count(::name('short1'))]
--- response_body eval
['{"errors":[{"message":"voteCount must have one entry per username","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 15: bad input, a voteCount longer than usernames: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('long')], c => [1, 1]),
 ::count(::name('long'))]
--- response_body eval
['{"errors":[{"message":"voteCount must have one entry per username","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 16: bad input, an empty voterUsername: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('voter')], v => ''),
 ::count(::name('voter'))]
--- response_body eval
['{"errors":[{"message":"voterUsername must be 1 to 64 bytes of UTF-8 without control characters","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 17: bad input, a 129-byte idempotencyKey: BAD_USER_INPUT, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(u => [::name('key')], k => 'k' x 129),
 ::count(::name('key'))]
--- response_body eval
['{"errors":[{"message":"idempotencyKey must be 1 to 128 printable ASCII characters, without spaces","locations":[{"line":1,"column":66}],"path":["vote"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":null}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 18: bad input, a username that is not UTF-8: 400, nothing consumed
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
::vote(u => ['PLACEHOLDER'], raw => sub { $_[0] =~ s/PLACEHOLDER/a\xff\xfeb/r })
--- error_code: 400
--- response_body chomp
{"errors":[{"message":"The request body is not valid JSON.","extensions":{"code":"BAD_REQUEST"}}]}
--- ticket_uses: 0



=== TEST 19: a malformed ticket is invalid and changes nothing
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(t => 'not-a-ticket', u => [::name('gina')]),
 ::count(::name('gina'))]
--- response_body eval
['{"data":{"vote":{"success":false,"message":"Invalid ticket","usernames":[],"votes":[]}}}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 20: a forged ticket is invalid and changes nothing
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(t => ::forged_ticket(), u => [::name('hank')]),
 ::count(::name('hank'))]
--- response_body eval
['{"data":{"vote":{"success":false,"message":"Invalid ticket","usernames":[],"votes":[]}}}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 21: the ticket before the current one is expired and changes nothing
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
[::vote(t => ::old_ticket(), u => [::name('ida')]),
 ::count(::name('ida'))]
--- response_body eval
['{"data":{"vote":{"success":false,"message":"Ticket expired","usernames":[],"votes":[]}}}',
 '{"data":{"query":0}}']
--- ticket_uses: 0



=== TEST 22: a retry with the same idempotencyKey answers the first result, once
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
my $vote = ::vote(u => [::name('jack')], c => [2], k => ::name('key'));
[$vote, $vote, ::count(::name('jack'))]
--- response_body eval
['{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["jack-$TEST_NGINX_RUN"],"votes":[2]}}}',
 '{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["jack-$TEST_NGINX_RUN"],"votes":[2]}}}',
 '{"data":{"query":2}}']
--- ticket_uses: 1



=== TEST 23: a retry after its ticket was replaced still answers the first result
--- http_config
$TEST_NGINX_CAST_HTTP
--- config
location = /graphql { cast_graphql; }
--- more_headers
Content-Type: application/json
--- request eval
my $vote = ::vote(u => [::name('kate')], c => [2], k => ::name('late-key'));
[$vote, $vote, ::count(::name('kate'))]
--- wait: 2.1
--- response_body eval
['{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["kate-$TEST_NGINX_RUN"],"votes":[2]}}}',
 '{"data":{"vote":{"success":true,"message":"Votes recorded successfully","usernames":["kate-$TEST_NGINX_RUN"],"votes":[2]}}}',
 '{"data":{"query":2}}']
