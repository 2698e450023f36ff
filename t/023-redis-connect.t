# How a worker reaches Redis: a unix socket, AUTH and SELECT on every
# connect, the function library loaded by the worker itself, and the
# connection opened again when Redis restarts.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

my $dir = tempdir(CLEANUP => 1);
my $sock = "$dir/redis.sock";
my $pass = 'cast-test-password';

sub redis_start {
    system('redis-server', '--port', '0', '--unixsocket', $sock,
           '--unixsocketperm', '777', '--requirepass', $pass,
           '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
           '--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log")
        == 0 or die "redis-server: $?\n";
    for (1 .. 100) { last if -S $sock; sleep 0.05 }
}

sub cli {
    my $out = `redis-cli -s $sock -a $pass --no-auth-warning -n 3 @_ 2>&1`;
    chomp $out;
    return $out;
}

sub query {
    my ($url) = @_;
    my ($status, $json) = graphql('{query(username:"zoe")}', undef,
                                  url => $url, timeout => 3);
    return $json;
}

redis_start();
is(cli('PING'), 'PONG', 'a private Redis with a password, on a socket');

start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
CONF
    cast_redis unix:$sock;
    cast_redis_password $pass;
    cast_redis_db 3;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
HTTP

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';

# the worker loaded the library: FCALL works and says counts are not ready
my $json;
for (1 .. 50) {
    $json = query($url);
    last if $json && $json->{errors}
            && $json->{errors}[0]{message} =~ /not restored/;
    sleep 0.05;
}
like($json->{errors}[0]{message}, qr/counts not restored/,
     'the library was loaded through AUTH on the unix socket');
is($json->{errors}[0]{extensions}{code}, 'UNAVAILABLE', 'code UNAVAILABLE');

cli('FCALL', 'cast_ready', '0');
cli('HSET', '{cast}:count', 'zoe', '42');
is(query($url)->{data}{query}, 42, 'the count comes from database 3');
is(`redis-cli -s $sock -a $pass --no-auth-warning -n 0 HGET {cast}:count zoe`,
   "\n", 'and not from database 0');

# Redis restarts empty: the worker reconnects, loads the library again
system("redis-cli -s $sock -a $pass --no-auth-warning SHUTDOWN NOSAVE"
       . " >/dev/null 2>&1");
sleep 0.2;
$json = query($url);
is($json->{errors}[0]{extensions}{code}, 'UNAVAILABLE', 'Redis gone: UNAVAILABLE');

redis_start();
my $t0 = time;
my $ok;
while (time - $t0 < 3) {
    cli('FCALL', 'cast_ready', '0');
    cli('HSET', '{cast}:count', 'zoe', '7');
    $json = query($url);
    if ($json->{data} && defined $json->{data}{query}) { $ok = 1; last }
    sleep 0.05;
}
ok($ok, 'served again after Redis came back');
cmp_ok(time - $t0, '<', 1.5, 'within a second or so of Redis answering');
is($json->{data}{query}, 7, 'with the new data');

stop_nginx();
check_error_log('redis over a unix socket with AUTH and SELECT');
system("redis-cli -s $sock -a $pass --no-auth-warning SHUTDOWN NOSAVE"
       . " >/dev/null 2>&1");

done_testing();
