# Subscriptions on an nginx that finds Redis through Sentinel
# (cast_redis_sentinel, as the prod overlay runs it, instead of
# cast_redis): the streams are served, not refused as if no Redis were
# configured.  A Sentinel of the test's own watches the stack's Redis.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::Stack;
use Cast::SSE;
use Cast::PrivateRedis qw(start_sentinel);
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my ($rhost, $rport) = @ENV{qw(TEST_NGINX_REDIS_HOST TEST_NGINX_REDIS_PORT)};
my $sport = start_sentinel(server_root() . '/sentinel', 'cast111', $rhost,
                           $rport);
ok($sport, "the Sentinel names the stack's Redis");

start_nginx(<<"CONF", http_config => <<"HTTP");
        location = /graphql { cast_graphql; }
CONF
    cast_redis_sentinel 127.0.0.1:$sport;
    cast_redis_master_name cast111;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
HTTP

my $c = sse_open('subscription { totalVotes }', undef, url => $url);
is($c->{status}, 200, 'a subscription streams');
# the first may be UNAVAILABLE: the worker may still be asking the Sentinel
my $ev = sse_until($c, 10, sub { $_[0]{data}{data} });
ok($ev && defined $ev->{data}{data}{totalVotes}, '  with the total')
    or diag explain $ev // $c->{json};
sse_abort($c);

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
