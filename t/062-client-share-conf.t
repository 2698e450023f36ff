# cast_client_uses off (the default) is today's behaviour exactly: one
# client takes every use of a ticket, cas says clientRemaining null, and
# Redis holds no share records.  With only cast_client_uses set, the key
# is the client's address ($binary_remote_addr): every request from
# 127.0.0.1 is one client.  Bad values of the directives are refused at
# configuration time.  A private nginx and a private Redis; the tickets
# are written by the test.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body messages);
use Cast::PrivateRedis qw(start_redis cmd_ok ticket answering);
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

my $sock = start_redis();

my $http = <<"HTTP";
    cast_redis unix:$sock;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
HTTP
my $loc = "location = /graphql { cast_graphql; }\n";

$Cast::Nginx::Workers = 2;
$Cast::Nginx::WorkerConnections = 1024;
$Cast::Nginx::LogLevel = 'info';

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "share-conf-$run";

sub cas {
    my (undef, $json) = graphql('{cas{remainingUsage clientRemaining}}',
                                undef, url => $url, @_);
    return $json->{data}{cas} // $json;
}

sub workers_up {
    return answering($url, $name, 20) >= 20 ? 1 : 0;
}

cmd_ok('SET', '{cast}:ready', 1);
my $seq = 7000 + int rand 1000;

# --- off: today's behaviour ---------------------------------------------------

start_nginx($loc, http_config => $http . "    cast_client_key \$http_x_c;\n");
ok(workers_up(), 'off: the workers answer');

my $t = ticket($seq, max => 50);
my $msg = messages(burst($url, [map { vote_body($t, [$name]) } 1 .. 80],
                         headers => [({ 'X-C' => 'greedy' }) x 80],
                         timeout => 60));
is_deeply($msg, { 'Votes recorded successfully' => 50,
                  'Ticket usage limit exceeded' => 30 },
          'off: one client takes all 50 uses') or diag explain $msg;
is_deeply(cas(headers => { 'x-c' => 'greedy' }),
          { remainingUsage => 0, clientRemaining => undef },
          'off: clientRemaining null');
is_deeply(cmd_ok('KEYS', '{cast}:share:*'), [], 'off: no share records');
my (undef, $json) = graphql(
    'mutation($t:String!){vote(usernames:["x"],ticket:$t){message}}',
    { t => ticket($seq + 1, max => 5) }, url => $url);
is($json->{data}{vote}{message}, 'Votes recorded successfully',
   'off: a request without the key header votes');

stop_nginx();
check_error_log('client share off');

# --- the default key: the client's address -----------------------------------

start_nginx($loc, http_config => $http . "    cast_client_uses 2;\n");
ok(workers_up(), 'default key: the workers answer');

$t = ticket($seq + 2, max => 50);
$msg = messages(burst($url, [map { vote_body($t, [$name]) } 1 .. 40],
                      headers => [map { { 'X-C' => "c$_" } } 1 .. 40],
                      timeout => 60));
is_deeply($msg, { 'Votes recorded successfully' => 2,
                  'Client share of this ticket used up' => 38 },
          'default key: 40 votes from 127.0.0.1, whatever their headers, '
          . 'get 2') or diag explain $msg;
is(cmd_ok('HGET', "{cast}:share:" . ($seq + 2), "\x7f\0\0\1"), 2,
   'the record is under the 4 bytes of 127.0.0.1');
is_deeply(cas(), { remainingUsage => 48, clientRemaining => 0 },
          'cas: none left to this address');

stop_nginx();
check_error_log('client share by address');

# --- bad directives -----------------------------------------------------------

for my $bad ('cast_client_uses 0;', 'cast_client_uses 1k;',
             'cast_client_uses -1;', 'cast_client_uses 1000001;',
             "cast_client_uses 2;\n    cast_client_uses 3;",
             'cast_client_uses on;')
{
    eval { start_nginx($loc, http_config => $http . "    $bad\n") };
    like($@, qr/cast_client_uses/, "refused: $bad");
    stop_nginx();
}

done_testing();
