# Subscriptions over Server-Sent Events, through the stack's nginx: each
# subscription's stream (POST and GET, as EventSource sends it) sees the
# changes votes make, and its last event equals what a query answers;
# what is refused before a stream starts (4xx with a GraphQL error body);
# Redis going away (UNAVAILABLE events, then results again); a reload
# with streams open (they complete, the old workers exit, no alert).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Cast::SSE;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!){vote(usernames:$u,'
         . 'voteCount:$c,ticket:$t){success}}';

sub vote_ok {
    my ($names, $counts) = @_;

    for (1 .. 50) {
        my ($ticket) = cas_ticket();
        my (undef, $json) = graphql($VOTE, { u => $names, c => $counts,
                                             t => $ticket });
        return 1 if $json && $json->{data} && $json->{data}{vote}{success};
        sleep 0.1;
    }
    return 0;
}

sub data_of {
    my ($query, $vars) = @_;
    my ($status, $json) = graphql($query, $vars);

    die "$query: $status\n" unless $status == 200 && $json && $json->{data};
    return $json->{data};
}

sub code_of {
    my ($ev) = @_;
    return $ev && $ev->{data} && $ev->{data}{errors}
        ? $ev->{data}{errors}[0]{extensions}{code} : 'none';
}

my @names = pipeline_names('s071', 3);

# --- the stream itself -----------------------------------------------------------

my $s = sse_open('subscription { totalVotes }');
is($s->{status}, 200, 'a subscription streams');
is($s->{headers}{'content-type'}, 'text/event-stream', 'as text/event-stream');
is($s->{headers}{'cache-control'}, 'no-cache', 'not cached');
is($s->{headers}{'x-accel-buffering'}, 'no', 'not buffered by a proxy');
my $ev = sse_next($s, 10);
is($ev->{event}, 'next', 'the first event is next');
like($ev->{data}{data}{totalVotes}, qr/^\d+$/, 'with the total');

my %sub = (
    top => sse_open('subscription { top(limit: 100) { username votes } }'),
    votes => sse_open('subscription($u: [String!]!) { v: votes(usernames: '
                      . '$u) { username votes } }', { u => \@names }),
    ticket => sse_open('subscription { ticket { ticket validUntil '
                       . 'remainingUsage } }'),
    total => $s,
    get => sse_open('subscription { votes(usernames: ["' . $names[0]
                    . '"]) { votes } }', undef, method => 'GET'),
);
is($sub{$_}{status}, 200, "$_: streams") for sort keys %sub;

# every stream's first event, then votes
my %last = (total => $ev);
for my $k (sort keys %sub) {
    $last{$k} //= sse_next($sub{$k}, 10);
    is(code_of($last{$k}), 'none', "$k: a first event without errors")
        or diag explain $last{$k};
}
is_deeply($last{votes}{data}{data}{v},
          [map { { username => $_, votes => 0 } } @names],
          'votes: the names watched, in order, not voted for yet');

my $total0 = $last{total}{data}{data}{totalVotes};
my $burst = 0;
for my $i (1 .. 20) {
    ok(vote_ok([@names[0 .. ($i % 3)]], [(2) x (1 + $i % 3)]), "vote $i")
        or last;
    $burst += 2 * (1 + $i % 3);
}

# the last event of each stream, once the burst is over, equals a query
my %want = (
    votes => [map { { username => $_, votes => ::count_of($_) } } @names],
);

sub count_of {
    my ($name) = @_;
    return data_of('query($u:String!){query(username:$u)}',
                   { u => $name })->{query};
}

my $n = 0;
$ev = sse_until($sub{votes}, 10, sub {
    $n++;
    is_deeply_quiet($_[0]{data}{data}{v}, $want{votes});
});
ok($ev, 'votes: the last event equals the counts queried')
    or diag explain \%want;
cmp_ok($n, '>=', 2, "votes: changes came as events ($n)");

my $total = data_of('{totalVotes}')->{totalVotes};
is($total - $total0, $burst, 'the burst, by totalVotes');
ok(sse_until($sub{total}, 10,
             sub { $_[0]{data}{data}{totalVotes} == $total }),
   'totalVotes: the last event equals the query');

my $top = data_of('{top(limit: 100){username votes}}')->{top};
ok(sse_until($sub{top}, 10,
             sub { is_deeply_quiet($_[0]{data}{data}{top}, $top) }),
   'top: the last event equals the query');

my $cas = data_of('{cas{ticket validUntil remainingUsage}}')->{cas};
ok(sse_until($sub{ticket}, 10, sub {
       my $t = $_[0]{data}{data}{ticket};
       $t && $t->{ticket} eq $cas->{ticket}
          && $t->{remainingUsage} == $cas->{remainingUsage};
   }), 'ticket: an event with the ticket and uses cas shows')
    or diag explain $cas;

ok(sse_until($sub{get}, 10, sub {
       ($_[0]{data}{data}{votes}[0]{votes} // -1) == count_of($names[0])
   }), 'GET (as EventSource asks): the last event equals the count');

# nothing changes: no event, only keep-alive comments later
my @quiet = sse_read_all($sub{votes}, 1);
is(scalar(@quiet), 0, 'no vote, no event');

sub is_deeply_quiet {
    my ($got, $want) = @_;
    return JSON::PP->new->canonical->encode($got // [])
        eq JSON::PP->new->canonical->encode($want);
}

# --- refused before a stream starts: a 4xx and a GraphQL error ------------------

my @refused = (
    ['subscription { nope }', 400, 'GRAPHQL_VALIDATION_FAILED',
     qr/Cannot query field "nope" on type "Subscription"/],
    ['subscription { top(limit: 101) { votes } }', 400, 'BAD_USER_INPUT',
     qr/limit must be between 0 and 100 \(cast_max_top_limit\)/],
    ['subscription { totalVotes top { votes } }', 400,
     'GRAPHQL_VALIDATION_FAILED', qr/must select only one top level field/],
    ['subscription { votes(usernames: [""]) { votes } }', 400,
     'BAD_USER_INPUT', qr/each username must be 1 to 64 bytes/],
    ['{ totalVotes }', 400, 'BAD_REQUEST',
     qr/Only subscription operations are served as text\/event-stream/],
    ['mutation { vote(usernames: ["a"], ticket: "t") { success } }', 400,
     'BAD_REQUEST', qr/Only subscription operations/],
    ['subscription { totalVotes', 400, 'GRAPHQL_PARSE_FAILED', qr/Syntax/],
);
for my $r (@refused) {
    my ($q, $status, $code, $msg) = @$r;
    my $c = sse_open($q);
    is($c->{status}, $status, "refused: $q");
    like($c->{headers}{'content-type'}, qr{^application/json},
         '  with a JSON body');
    my $e = $c->{json} && $c->{json}{errors} && $c->{json}{errors}[0];
    is($e && $e->{extensions}{code}, $code, "  $code");
    like($e && $e->{message}, $msg, '  saying why');
}

my $c = sse_open('mutation { vote(usernames: ["a"], ticket: "t") '
                 . '{ success } }', undef, method => 'GET');
is($c->{status}, 400, 'a mutation by GET on the stream: refused');

my ($status, $json) = graphql('subscription { totalVotes }');
is($status, 400, 'a subscription without Accept: text/event-stream: 400');
like($json->{errors}[0]{message}, qr/served over Server-Sent Events/,
     '  saying where it is served');

$c = sse_open('subscription { totalVotes }', undef,
              accept => 'text/event-stream;q=0, application/json');
is($c->{status}, 400, 'text/event-stream with q=0 is not a stream');

# --- Redis goes away: UNAVAILABLE events, then results again ------------------

ok(cast_stack('stop', 'redis'), 'redis stopped');
$ev = sse_until($sub{total}, 10, sub { code_of($_[0]) eq 'UNAVAILABLE' });
ok($ev, 'Redis down: an UNAVAILABLE event') or diag explain $ev;
is($ev && $ev->{data}{data}, undef, '  with data null');
my @more = sse_read_all($sub{total}, 1);
is(scalar(@more), 0, '  sent once, not every tick');

ok(cast_stack('start', 'redis'), 'redis started again');
$ev = sse_until($sub{total}, 10, sub { code_of($_[0]) eq 'none' });
is($ev && $ev->{data}{data}{totalVotes}, $total,
   'Redis back: the results again');

# --- a reload: the old workers complete their streams and exit ----------------

open my $pidfh, '<', "$ENV{CAST_VAR}/nginx/nginx.pid" or die "pid: $!\n";
chomp(my $master = <$pidfh>);
close $pidfh;
my $elog = $ENV{CAST_NGINX_ERROR_LOG};
my $elog_at = -s $elog;

my $t0 = time;
ok(kill('HUP', $master), 'reload with streams open');
for my $k (sort keys %sub) {
    my $ev = sse_until($sub{$k}, 10, sub { $_[0]{event} eq 'complete' });
    ok($ev, "$k: event complete");
    sse_next($sub{$k}, 5);
    ok($sub{$k}{eof}, "$k: then the stream ends");
}
note sprintf 'streams completed in %.2f s', time - $t0;

ok(wait_for(10, sub {
       my $log = do {
           open my $fh, '<', $elog or die "$elog: $!\n";
           seek $fh, $elog_at, 0;
           local $/;
           <$fh>;
       };
       $log =~ /exited with code 0/;
   }), 'the old workers exited');
open my $elogfh, '<', $elog or die "$elog: $!\n";
seek $elogfh, $elog_at, 0;
my $reload_log = do { local $/; <$elogfh> };
unlike($reload_log, qr/exited on signal|\[alert\]|\[crit\]|open socket/,
       'no crash, no alert, no socket left open');

$s = sse_open('subscription { totalVotes }');
is($s->{status}, 200, 'the new workers stream');
ok(sse_next($s, 10), '  events');

done_testing();
