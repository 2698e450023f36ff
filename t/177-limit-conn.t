# limit_conn, nginx's own per-address bound the README (Limits and abuse,
# "Clients that do not read") tells an operator to set: it counts a
# request while it is processed and until its answer is sent, so a client
# cannot hold more unread answers than the limit; a subscription stream
# counts only until its request is let go (cast_max_subscribers_per_client
# bounds streams after that).  On a private nginx (one worker) on the
# stack's Redis, with limit_conn 1 and limit_conn_status 429.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::SSE;
use IO::Socket::INET;
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $port = server_port();
my $url = "http://127.0.0.1:$port/graphql";

start_nginx(<<"CONF", http_config => <<"HTTP");
    location = /graphql { limit_conn cast_addr 1; cast_graphql; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    limit_conn_zone \$binary_remote_addr zone=cast_addr:1m;
    limit_conn_status 429;
HTTP

sub query_status {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5)
        or die "connect: $!\n";
    my $body = '{"query":"{ totalVotes }"}';
    print {$s} "POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             . "Content-Type: application/json\r\nAccept: application/json"
             . "\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
    my $head = <$s> // '';
    close $s;
    return $head =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
}

is(query_status(), 200, 'a query: 200');

# a request in progress (its body still to come) counts
my $held = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5)
    or die "connect: $!\n";
print {$held} "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: "
            . "application/json\r\nContent-Length: 100\r\n\r\n{";
my $busy;
for (1 .. 50) {
    last if ($busy = query_status()) == 429;
    select undef, undef, undef, 0.1;
}
is($busy, 429, 'a second request of the address while one is held: 429');
close $held;

# and gives its place back when it goes
my $free;
for (1 .. 50) {
    last if ($free = query_status()) == 200;
    select undef, undef, undef, 0.1;
}
is($free, 200, '  free again once it closed');

my $c = sse_open('subscription { totalVotes }', undef, url => $url);
is($c->{status}, 200, 'a stream');
ok(sse_next($c, 10), '  streams');

# its request let go: the stream no longer counts
my $st;
for (1 .. 50) {
    last if ($st = query_status()) == 200;
    select undef, undef, undef, 0.1;
}
is($st, 200, 'a query while the stream is open: 200');

sse_abort($c);
stop_nginx();
check_error_log('limit_conn');

done_testing();
