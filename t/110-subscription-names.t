# A votes(usernames:) subscription holds at most cast_max_usernames names,
# as a vote does: each view renders every name it holds on every tick, so
# without the bound one client's streams with lists of a thousand copies
# of one name (one watched name, cast_max_watched_names never reached)
# cost the worker most of a core and hundreds of kilobytes per stream
# with no vote flowing.  Refused before the stream, 400 BAD_USER_INPUT.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::SSE;
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';

start_nginx(<<"CONF", http_config => <<"HTTP");
        location = /graphql { cast_graphql; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_max_usernames 5;
HTTP

sub watch {
    my ($n) = @_;
    return 'subscription { votes(usernames: ['
         . join(',', ('"s110_a"') x $n) . ']) { username votes } }';
}

my $c = sse_open(watch(6), undef, url => $url);
is($c->{status}, 400, 'six copies of one name: refused before a stream');
my $e = $c->{json} && $c->{json}{errors} && $c->{json}{errors}[0];
is($e && "$e->{extensions}{code}: $e->{message}",
   'BAD_USER_INPUT: usernames may hold at most 5 names (cast_max_usernames)',
   '  naming the directive');
sse_abort($c);

$c = sse_open(watch(5), undef, url => $url);
is($c->{status}, 200, 'five: a stream');
my $ev = sse_next($c, 10);
is($ev && scalar @{ $ev->{data}{data}{votes} }, 5, '  with five scores');
sse_abort($c);

$c = sse_open(watch(6), undef, url => $url, method => 'GET');
is($c->{status}, 400, 'refused by GET too');
sse_abort($c);

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
