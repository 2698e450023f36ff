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
use Cast::Burst qw(burst vote_body);
use File::Temp qw(tempdir);
use IO::Socket::UNIX;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'redis-server not found'
    unless system('sh', '-c', 'command -v redis-server >/dev/null') == 0;

my $dir = tempdir(CLEANUP => 1);
my $sock = "$dir/redis.sock";

system('redis-server', '--port', '0', '--unixsocket', $sock,
       '--unixsocketperm', '777', '--save', '', '--appendonly', 'no',
       '--daemonize', 'yes', '--pidfile', "$dir/redis.pid",
       '--logfile', "$dir/redis.log") == 0 or die "redis-server: $?\n";
for (1 .. 100) { last if -S $sock; sleep 0.05 }

END {
    if (open my $fh, '<', "$dir/redis.pid") {
        my $pid = <$fh>;
        kill 'TERM', $pid if $pid && $pid =~ /^\d+$/;
    }
}

my $redis = IO::Socket::UNIX->new(Peer => $sock)
    or die "connect $sock: $!\n";

sub reply {
    my $line = <$redis> // die "redis closed\n";
    $line =~ s/\r\n\z//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+' || $type eq ':';
    die "redis: $rest\n" if $type eq '-';
    if ($type eq '$') {
        return undef if $rest < 0;
        read($redis, my $buf, $rest + 2) == $rest + 2 or die "short read\n";
        return substr($buf, 0, $rest);
    }
    return [map { reply() } 1 .. $rest] if $type eq '*';
    die "unexpected reply $line\n";
}

sub cli {
    my $out = '*' . @_ . "\r\n";
    $out .= '$' . length($_) . "\r\n$_\r\n" for map { "$_" } @_;
    print {$redis} $out;
    return reply();
}

sub redis_ms {
    my $t = cli('TIME');
    return $t->[0] * 1000 + int($t->[1] / 1000);
}

sub ticket {
    my ($seq, %o) = @_;
    my $now = redis_ms();
    my $t = encode_base64url(pack('Q>Q>', $seq, $now - 1000)
                             . join('', map { chr int rand 256 } 1 .. 48));
    cli('DEL', '{cast}:ticket', '{cast}:ticket:prev', '{cast}:ticket:next');
    cli('HSET', '{cast}:ticket', 'id', $t, 'seq', $seq, 'issued', $now - 1000,
        'expires', $now + 600000, 'max', $o{max}, 'used', 0, 'grace', 0);
    return $t;
}

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

sub messages {
    my %msg;

    for (@_) {
        my $m = $_->{json} ? $_->{json}{data}{vote}{message}
              : $_->{error} // "HTTP $_->{status}: $_->{body}";
        $msg{$m // 'no message'}++;
    }
    return \%msg;
}

sub cas {
    my (undef, $json) = graphql('{cas{remainingUsage clientRemaining}}',
                                undef, url => $url, @_);
    return $json->{data}{cas} // $json;
}

sub workers_up {
    my $up = 0;
    for (1 .. 100) {
        my (undef, $json) = graphql("{query(username:\"$name\")}", undef,
                                    url => $url);
        $up = ($json && defined $json->{data}
               && defined $json->{data}{query}) ? $up + 1 : 0;
        return 1 if $up >= 20;
        sleep 0.05;
    }
    return 0;
}

cli('SET', '{cast}:ready', 1);
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
is_deeply(cli('KEYS', '{cast}:share:*'), [], 'off: no share records');
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
is(cli('HGET', "{cast}:share:" . ($seq + 2), "\x7f\0\0\1"), 2,
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
