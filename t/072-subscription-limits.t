# Subscriptions against their bounds, on a private nginx (one worker) on
# the stack's Redis: cast_max_subscribers and cast_max_watched_names refuse
# with a clear error before a stream starts; a client that never reads
# costs the worker one event at most (its memory stays flat while votes
# change the leaderboard every tick, and once it reads it gets the latest,
# not the backlog); one that reads nothing for send_timeout is closed;
# clients that vanish (resets, at any point) leave nothing behind; a
# Redis that stalls gives an UNAVAILABLE event within cast_redis_timeout's
# reach, then results again.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::Pipeline;
use Cast::SSE;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $port = server_port();
my $slow = free_port();          # a small send buffer: backpressure shows
my $drop = free_port();          # and send_timeout 1s
my $url = "http://127.0.0.1:$port/graphql";

sub nginx_with {
    my ($subs, $names, $timeout) = @_;

    $timeout //= '1s';

    start_nginx(<<"CONF", http_config => <<"HTTP");
        location = /graphql { cast_graphql; }
        location = /metrics { cast_metrics; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_max_subscribers $subs;
    cast_max_watched_names $names;
    cast_redis_timeout $timeout;

    server {
        listen 127.0.0.1:$slow sndbuf=4k;
        location = /graphql { cast_graphql; send_timeout 60s; }
    }

    server {
        listen 127.0.0.1:$drop sndbuf=4k;
        location = /graphql { cast_graphql; send_timeout 1s; }
    }
HTTP
}

# the one worker (just after a start, once the master has made it)
sub worker_pid {
    my $master = nginx_pid();
    my $pid;

    wait_for(10, sub { ($pid) = `pgrep -P $master` =~ /(\d+)/; $pid });
    return $pid // die "no worker\n";
}

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    my ($kb) = join('', <$fh>) =~ /^VmRSS:\s+(\d+) kB/m;
    return $kb // 0;
}

# --- cast_max_subscribers, cast_max_watched_names ----------------------------------

nginx_with(3, 3);

my @open = map { sse_open('subscription { totalVotes }', undef, url => $url) }
           1 .. 3;
is(scalar(grep { $_->{status} == 200 } @open), 3, 'three subscribers');
ok(sse_next($_, 10), 'each gets its first event') for @open;

my $c = sse_open('subscription { top { votes } }', undef, url => $url);
is($c->{status}, 503, 'a fourth is refused before any stream');
is(sse_refusal($c), 'UNAVAILABLE: this worker already serves 3 subscriptions '
   . '(cast_max_subscribers)', '  naming the directive');
is(nginx_metrics()->{cast_subscriptions_open}, 3, 'three streams open');

sse_abort(pop @open);
ok(wait_for(10, sub { nginx_metrics()->{cast_subscriptions_open} == 2 }),
   'a closed stream leaves at once');
$c = sse_open('subscription { top { votes } }', undef, url => $url);
is($c->{status}, 200, 'then there is room again');
sse_abort($_) for @open, $c;
ok(wait_for(10, sub { nginx_metrics()->{cast_subscriptions_open} == 0 }),
   'all gone');

my $w1 = sse_open('subscription { votes(usernames: ["a", "b"]) { votes } }',
                  undef, url => $url);
is($w1->{status}, 200, 'two names watched');
$c = sse_open('subscription { votes(usernames: ["c", "d"]) { votes } }',
              undef, url => $url);
is($c->{status}, 503, 'two more would pass cast_max_watched_names');
is(sse_refusal($c), 'UNAVAILABLE: this worker already watches 3 usernames '
   . '(cast_max_watched_names)', '  naming the directive');
$c = sse_open('subscription { votes(usernames: ["b", "c", "a"]) '
              . '{ username } }', undef, url => $url);
is($c->{status}, 200, 'names already watched count once');
ok(sse_next($c, 10), '  and it streams');
sse_abort($_) for $w1, $c;
ok(wait_for(10, sub { nginx_metrics()->{cast_subscriptions_open} == 0 }),
   'all gone again');
$c = sse_open('subscription { votes(usernames: ["c", "d"]) { votes } }',
              undef, url => $url);
is($c->{status}, 200, 'names are let go with their last subscriber');
sse_abort($c);

# --- a client that never reads ----------------------------------------------------

nginx_with(1000, 1000);

my $worker = worker_pid();
my @names = pipeline_names('s072', 100);
my $WATCH = 'subscription { votes(usernames: ['
          . join(',', map { qq{"$_"} } @names) . ']) { username votes } }';
my $VOTE = 'mutation($u:[String!]!,$t:String!){vote(usernames:$u,'
         . 'ticket:$t){success}}';

# votes spread over the seconds (a ticket's 100 uses per period): the
# counts change every tick or two
sub votes_for {
    my ($seconds) = @_;
    my $pid = fork // die "fork: $!";

    return $pid if $pid;
    my $end = time + $seconds;
    my $i = 0;
    while (time < $end) {
        my ($ticket) = cas_ticket();
        graphql($VOTE, { u => [$names[$i++ % @names]], t => $ticket })
            if $ticket;
        sleep 0.04;
    }
    POSIX::_exit(0);
}

# the counts move every tick while the traffic runs: events of 6 kB
my $warm = sse_open($WATCH, undef, url => "http://127.0.0.1:$slow/graphql");
sse_next($warm, 10);
my $rss0 = rss_kb($worker);

my @idle = map {
    sse_open($WATCH, undef, url => "http://127.0.0.1:$slow/graphql",
             rcvbuf => 4096)
} 1 .. 20;
is(scalar(grep { $_->{status} == 200 } @idle), 20,
   'twenty subscribers that will not read');

my $run = votes_for(5);
my $events = 0;
my $t0 = time;
while (time - $t0 < 5) {
    $events++ while sse_next($warm, 0.2);
}
waitpid $run, 0;
my $rss1 = rss_kb($worker);
cmp_ok($events, '>=', 10, "a reading subscriber saw $events events");
note "worker RSS: $rss0 kB before, $rss1 kB after 5 s with 20 non-readers";
SKIP: {
    # ASan's quarantine keeps freed memory: its RSS says nothing here
    skip 'RSS under AddressSanitizer', 1
        if ($ENV{TEST_NGINX_LD_PRELOAD} // '') =~ /asan/;
    cmp_ok($rss1 - $rss0, '<', 2048,
           'the worker holds no backlog for them (RSS grew by '
           . ($rss1 - $rss0) . ' kB)');
}

my $counts = counts_redis(\@names);
my @final = map { $counts->{$_} // 0 } @names;
my ($got, $n) = (0, 0);
for my $s (@idle) {
    my $k = 0;
    my $ev = sse_until($s, 10, sub {
        $k++;
        my $v = $_[0]{data}{data}{votes} or return 0;
        join(',', map { $_->{votes} } @$v) eq join(',', @final);
    });
    $got++ if $ev;
    $n = $k if $k > $n;
}
is($got, 20, 'once they read, each gets the latest');
cmp_ok($n, '<', $events / 2,
       "and not the backlog: at most $n events each, not $events");
sse_abort($_) for @idle, $warm;

# --- a client that reads nothing for send_timeout is closed ------------------------

my $d0 = nginx_metrics()->{cast_subscriptions_dropped_total} // 0;
my $stuck = sse_open($WATCH, undef, url => "http://127.0.0.1:$drop/graphql",
                     rcvbuf => 4096);
$run = votes_for(4);
ok(wait_for(10, sub {
       (nginx_metrics()->{cast_subscriptions_dropped_total} // 0) > $d0
   }), 'a subscriber reading nothing for send_timeout is dropped');
waitpid $run, 0;
sse_read_all($stuck, 3);
ok($stuck->{eof}, '  its connection closed');

# --- clients that vanish ----------------------------------------------------------

my $open0 = nginx_metrics()->{cast_subscriptions_open};
my @gone;
for my $i (1 .. 30) {
    my $s = sse_open($i % 2 ? $WATCH : 'subscription { totalVotes }', undef,
                     url => $url, connect_only => $i % 3 == 0);
    push @gone, $s;
}
sse_abort($_) for @gone[0 .. 9];
sse_next($_, 5) for grep { $_->{status} } @gone[10 .. 19];
sse_abort($_) for @gone[10 .. 29];
ok(wait_for(10, sub { nginx_metrics()->{cast_subscriptions_open} == $open0 }),
   'streams closed by resets, before or after their first event, leave');
is(worker_pid(), $worker, 'the worker lives on');
my $m = nginx_metrics();
cmp_ok($m->{cast_subscription_events_total}, '>', 0, 'events counted');
cmp_ok($m->{cast_subscription_tick_seconds_count}, '>', 0, 'ticks counted');

$c = sse_open('subscription { totalVotes }', undef, url => $url);
ok(sse_next($c, 10), 'a new subscriber is served');
sse_abort($c);

# --- Redis stalls: the tick's call is given up after cast_redis_timeout ---------

nginx_with(10, 10, '300ms');
$c = sse_open('subscription { totalVotes }', undef, url => $url);
my $first = sse_next($c, 10);
ok($first && $first->{data}{data}, 'a stream, before Redis stalls');
redis_cmd('CLIENT', 'PAUSE', 3000, 'ALL');
my $ev = sse_until($c, 10, sub { $_[0]{data}{errors} });
is($ev && $ev->{data}{errors}[0]{extensions}{code}, 'UNAVAILABLE',
   'Redis stalled: an UNAVAILABLE event, not silence');
$ev = sse_until($c, 10, sub { $_[0]{data}{data} });
ok($ev, 'and the results again once it answers');
sse_abort($c);

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
