# A stream lets its request go once its headers are out: with nginx's
# stock pool and buffer sizes, 800 idle streams cost their worker under
# 4 kB each (RSS; not under ASan), and the streams, now without their
# requests, still behave: each gets its first event, the chunked framing
# of HTTP/1.1 and the bare one of HTTP/1.0 hold, clients that leave are
# taken out at once, and a reload completes the rest (event: complete,
# then a clean end) while the old worker exits, nothing left open.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::SSE;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $N = 800;
my $port = server_port();
my $url = "http://127.0.0.1:$port/graphql";

$Cast::Nginx::WorkerConnections = $N + 200;
$Cast::Nginx::LogLevel = 'info';

start_nginx(<<"CONF", main_config => 'worker_rlimit_nofile 4096;',
        location = /graphql { cast_graphql; }
        location = /metrics { cast_metrics; }
CONF
            http_config => <<"HTTP");
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_max_subscribers 2000;
HTTP

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    my ($kb) = join('', <$fh>) =~ /^VmRSS:\s+(\d+) kB/m;
    return $kb // 0;
}

my $master = nginx_pid();
my $worker;
wait_for(10, sub { ($worker) = `pgrep -P $master` =~ /(\d+)/; $worker });
ok($worker, 'one worker');

# the worker's first streams allocate what lasts (views, the tick's pools)
my @warm = map { sse_open('subscription { totalVotes }', undef, url => $url) }
           1 .. 10;
sse_next($_, 10) for @warm;
sse_abort($_) for @warm;
ok(wait_for(10, sub { nginx_metrics()->{cast_subscriptions_open} == 0 }),
   'the warm-up streams are gone');
sleep 0.5;

my $rss0 = rss_kb($worker);
my @s;
for my $i (1 .. $N) {
    push @s, sse_open('subscription { totalVotes }', undef, url => $url,
                      $i % 2 ? (method => 'GET') : ());
}
is(scalar(grep { $_->{status} == 200 } @s), $N, "$N streams");
is(scalar(grep { sse_next($_, 10) } @s), $N, '  each with its first event');
ok(wait_for(10, sub { nginx_metrics()->{cast_subscriptions_open} == $N }),
   '  all open');
sleep 0.5;
my $rss1 = rss_kb($worker);
my $per = ($rss1 - $rss0) / $N;
note sprintf 'worker RSS %d kB before, %d kB with %d streams: %.2f kB each',
     $rss0, $rss1, $N, $per;
SKIP: {
    # ASan's quarantine and shadow memory: its RSS says nothing here
    skip 'RSS under AddressSanitizer', 1
        if ($ENV{TEST_NGINX_LD_PRELOAD} // '') =~ /asan/;
    cmp_ok($per, '<', 4, 'under 4 kB of worker memory per idle stream');
}

# half of them leave: resets and orderly closes
sse_abort($_) for splice @s, 0, $N / 4;
close $_->{sock} for splice @s, 0, $N / 4;
ok(wait_for(20, sub { nginx_metrics()->{cast_subscriptions_open} == $N / 2 }),
   'streams that leave are taken out');

# an HTTP/1.0 client: no chunks, the end of the stream is the close
my $old = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
    or die "connect: $!\n";
print {$old} "GET /graphql?query=subscription%7BtotalVotes%7D HTTP/1.0\r\n"
    . "Accept: text/event-stream\r\n\r\n";
my $got = '';
my $t = time;
while (time - $t < 10 && $got !~ /\nevent: next\n.*\n\n/s) {
    $old->blocking(0);
    my $n = sysread($old, my $buf, 65536);
    $got .= $buf if $n;
    sleep 0.05 unless $n;
}
like($got, qr{^HTTP/1\.1 200.*\r\n\r\n:\n\nevent: next\n}s,
     'HTTP/1.0: the stream, bare');
unlike($got, qr/Transfer-Encoding/i, '  not chunked');

my $elog = server_root() . '/logs/error.log';
my $elog_at = -s $elog;

ok(kill('HUP', $master), 'reload with streams open');
my $complete = 0;
my $ended = 0;
for my $c (@s) {
    my $ev = sse_until($c, 20, sub { $_[0]{event} eq 'complete' });
    $complete++ if $ev;
    sse_next($c, 10);
    $ended++ if $c->{eof} && $c->{last_chunk} && $c->{raw} eq '';
}
is($complete, $N / 2, 'each stream gets event: complete');
is($ended, $N / 2, '  then its last chunk and the close, nothing after');

$t = time;
while (time - $t < 20) {
    $old->blocking(1);
    my $n = sysread($old, my $buf, 65536);
    last unless $n;
    $got .= $buf;
}
like($got, qr/event: complete\ndata:\n\n\z/, 'HTTP/1.0: complete, then EOF');

ok(wait_for(20, sub { !kill(0, $worker) }), 'the old worker exited');
open my $fh, '<', $elog or die "$elog: $!\n";
seek $fh, $elog_at, 0;
my $log = do { local $/; <$fh> };
like($log, qr/worker process $worker exited with code 0/, '  code 0');
unlike($log, qr/exited on signal|\[alert\]|\[crit\]|open socket/,
       'no crash, no alert, no socket left open');

done_testing();
