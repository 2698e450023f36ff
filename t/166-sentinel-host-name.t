# A Sentinel that names the primary by a host name (announce-hostnames
# yes) is passed over: hiredis would resolve the name with a blocking
# getaddrinfo() in the worker, at every connect.  The worker logs why,
# connects nowhere, and /readyz says it is not ready.  A second Sentinel
# that names the same Redis by its address is then the one followed.
#
# A private Redis; two fake Sentinels on private ports; a private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_redis cmd cmd_ok ticket);
use Cast::FakeRedis qw(fake_redis stop_fake bulk arr);
use Test::More;
use HTTP::Tiny;

my $rport = free_port();
start_redis(port => $rport);
# restored counts and a ticket: ready as soon as a worker reaches it
cmd_ok('SET', '{cast}:ready', 1);
ticket(1, max => 100);

sub sentinel_naming {
    my ($host) = @_;
    return fake_redis(sub {
        return uc($_[0] // '') eq 'SENTINEL'
               ? arr(bulk($host), bulk($rport)) : "+OK\r\n";
    });
}

my $base = 'http://127.0.0.1:' . server_port();

sub readyz { return HTTP::Tiny->new->get("$base/readyz")->{status} }

sub connections {
    return cmd('INFO', 'stats') =~ /^total_connections_received:(\d+)/m
           ? $1 : -1;
}

my $by_name = sentinel_naming('localhost');
my $sport = $by_name->{port};
my $from = connections();

start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
CONF
    cast_redis_sentinel 127.0.0.1:$sport;
    cast_redis_master_name cast166;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 500ms;
HTTP

ok(wait_for(10, sub { error_log_text()
                      =~ /names "localhost" for "cast166", not an IP/ }),
   'the host name is refused, and the log says why');
is(readyz(), 503, '/readyz: not ready');
is(connections() - $from, 0, 'no connection reached the Redis');

# a second Sentinel naming the same Redis by its address is followed
my $by_addr = sentinel_naming('127.0.0.1');
my $aport = $by_addr->{port};
stop_nginx();
start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
CONF
    cast_redis_sentinel 127.0.0.1:$sport 127.0.0.1:$aport;
    cast_redis_master_name cast166;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 500ms;
HTTP

ok(wait_for(10, sub { readyz() == 200 }),
   'ready through the Sentinel that names an address');

stop_nginx();
stop_fake($by_name);
stop_fake($by_addr);
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
