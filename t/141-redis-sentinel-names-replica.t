# A Sentinel that keeps naming a Redis that is a replica (a stale or
# partitioned Sentinel, the one nginx asks first since it answered last):
# each worker connects, ROLE says replica, and it leaves.  The function
# library's load still gets an answer there (READONLY), which must not
# reset the backoff: the worker retries with its backoff (at most twice a
# second), not every 50 ms, as long as the Sentinel names it.
#
# A private Redis, a replica of a port nothing listens on; a fake
# Sentinel on a private port naming it; a private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_redis cmd);
use Cast::FakeRedis qw(fake_redis bulk arr);
use Test::More;
use Time::HiRes qw(sleep);

my $rport = free_port();
my $nowhere = free_port();
start_redis(port => $rport,
            args => ['--replicaof', '127.0.0.1', $nowhere]);
is((cmd('ROLE'))->[0], 'slave', 'the private Redis is a replica');

# a Sentinel naming the replica as the primary, until the file ends
my $sentinel = fake_redis(sub {
    return uc($_[0] // '') eq 'SENTINEL'
           ? arr(bulk('127.0.0.1'), bulk($rport)) : "+OK\r\n";
});
my $sport = $sentinel->{port};

start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
CONF
    cast_redis_sentinel 127.0.0.1:$sport;
    cast_redis_master_name cast141;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 500ms;
HTTP

sub connections {
    return cmd('INFO', 'stats') =~ /^total_connections_received:(\d+)/m
           ? $1 : -1;
}

ok(wait_for(10, sub { error_log_text()
                      =~ /leaving redis 127\.0\.0\.1:$rport: it is not a/ }),
   'the worker reached the replica, and left it');
# the load's refusal comes after ROLE's answer, on the connection left
ok(wait_for(10, sub { error_log_text()
                      =~ /redis FUNCTION LOAD failed: READONLY/ }),
   'the function library was refused there');

# the backoff grows to 500 ms: a connect per try, not one every 50 ms
# (the library's refusal reset it, about 40 connections in 3 s)
my $from = connections();
sleep 3;
my $tries = connections() - $from;
cmp_ok($tries, '<=', 12, "tries backed off ($tries connections in 3 s)");

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
