# Redis restarted under traffic: errors while it is down, full service
# within a second after it is back.  Redis stalled: UNAVAILABLE within
# the timeout.  Clients that go away while Redis holds their command:
# their requests end at once, no crash, no alert.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $CAS = '{cas{ticket remainingUsage}}';

sub code_of {
    my ($json) = @_;
    return $json && $json->{errors} ? $json->{errors}[0]{extensions}{code}
                                    : 'none';
}

# --- restart under traffic (the stack's nginx) --------------------------------

my ($status, $json) = graphql($CAS);
ok($json->{data}{cas}{ticket}, 'service before the restart');

ok(cast_stack('stop', 'redis'), 'redis stopped');
my $t0 = time;
($status, $json) = graphql($CAS, undef, timeout => 5);
my $took = time - $t0;
is(code_of($json), 'UNAVAILABLE', 'Redis down: UNAVAILABLE');
cmp_ok($took, '<', 2, 'Redis down: answered at once, not hung');

my $ready = HTTP::Tiny->new->get(
    ($ENV{CAST_GRAPHQL_URL} =~ s{/graphql$}{/readyz}r));
is($ready->{status}, 503, 'Redis down: /readyz is 503');

ok(cast_stack('start', 'redis'), 'redis started again');
my $back = time;
my $ok;
while (time - $back < 5) {
    ($status, $json) = graphql($CAS, undef, timeout => 2);
    if ($json && $json->{data} && $json->{data}{cas}) { $ok = 1; last }
    sleep 0.02;
}
ok($ok, 'service is back after the restart');
cmp_ok(time - $back, '<', 1.0, 'within a second of Redis answering again');

# the counts survived: Redis runs with its AOF
my $n = redis_cmd('HLEN', '{cast}:count');
cmp_ok($n, '>=', 0, 'counts readable after the restart');

# --- a stalled Redis and clients that go away (a private nginx) ----------------

start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 300ms;
HTTP

# the port opens before the workers have reached Redis
my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
for (1 .. 100) {
    ($status, $json) = graphql($CAS, undef, url => $url);
    last if $json && $json->{data}{cas};
    sleep 0.05;
}
ok($json->{data}{cas}, 'private nginx serves');

redis_cmd('CLIENT', 'PAUSE', 1500, 'ALL');
$t0 = time;
($status, $json) = graphql($CAS, undef, url => $url, timeout => 5);
$took = time - $t0;
is(code_of($json), 'UNAVAILABLE', 'Redis stalled: UNAVAILABLE');
cmp_ok($took, '<', 0.9, 'within the 300 ms timeout (plus slack)');

sleep 1.5;
($status, $json) = graphql($CAS, undef, url => $url);
ok($json->{data}{cas}, 'served again once Redis resumes');

# clients that go away while their command waits in Redis
my $logged = length error_log_text();
redis_cmd('CLIENT', 'PAUSE', 800, 'ALL');
my $body = '{"query":"{cas{ticket}}"}';
for my $i (1 .. 30) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port()) or die $!;
    my $req = "POST /graphql HTTP/1.1\r\nHost: x\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
    # some leave mid-body, the others after the whole request
    $s->syswrite($i % 3 ? $req : substr($req, 0, length($req) - 5));
    close $s;
}
sleep 1.2;
($status, $json) = graphql($CAS, undef, url => $url);
ok($json->{data}{cas}, 'still serving after clients went away mid-request');

# each was let go when it closed (mid-body or while its call waited),
# none at the timeout
my $log = substr(error_log_text(), $logged);
my $left = () = $log =~ /client prematurely closed connection,/g;
SKIP: {
    skip 'the close is logged at info', 1
        unless $ENV{TEST_NGINX_LOG_LEVEL} =~ /^(?:debug|info)$/;
    is($left, 30, 'each client that left ended its request');
}
unlike($log, qr/redis timed out/, 'none of them waited for the timeout');

stop_nginx();
check_error_log('Redis stalls and clients going away');

done_testing();
