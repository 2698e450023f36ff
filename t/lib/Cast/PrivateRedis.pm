package Cast::PrivateRedis;

# A private redis-server for one test file, whose work the file counts
# exactly (INFO commandstats): on a unix socket in a temporary directory,
# stopped when the file ends.
#
#   my $sock = start_redis();      # skips the file without redis-server
#   start_redis(port => $p, args => [...]);
#                                  # also on a loopback port (for a
#                                  # Sentinel), with more redis-server
#                                  # arguments
#   my $pport = start_primary();   # start_redis on a free loopback port,
#                                  # {cast}:ready set: that port
#   cmd('HGET', $key, $field);     # RESP on one connection: a reply, an
#                                  # error as { err => "..." }
#   cmd_ok(...);                   # the same, an error reply dies
#   cli('FCALL', ..., "''");       # redis-cli's output (shell words)
#   fcalls();                      # FCALLs since the last CONFIG RESETSTAT
#   redis_ms();                    # Redis's clock, in ms
#   my $t = ticket($seq, max => 3, ttl => 600000);
#   answering($url, $name, 20);    # waits until 20 queries in a row answer
#   leaderboard(@names);           # {cast}:top holding just those names,
#                                  # in that order
#   my $base = private_nginx($locations, $http);
#                                  # Cast::Nginx's nginx on this Redis and
#                                  # the function library, $http's
#                                  # directives added: its base URL
#   my $base = sentinel_nginx($sport, 'cast153', '10s',
#                             replica_reads => 1, metrics => 1);
#                                  # Cast::Nginx's nginx finding its
#                                  # primary through the Sentinel on
#                                  # $sport: its base URL
#   reads_go_to($base, $port);     # waits (10 s at most) until /readyz
#                                  # says the reads go to that port
#   start_sentinel($dir, 'cast1', $host, $port);
#                                  # a Sentinel of the file's own watching
#                                  # that Redis as cast1: its port once it
#                                  # names the Redis, undef if it never did

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::UNIX;
use MIME::Base64 qw(encode_base64url);
use Test::More;
use Time::HiRes qw(sleep);

our @EXPORT_OK = qw(start_redis start_primary cmd cmd_ok cli calls fcalls
                    redis_ms ticket answering leaderboard start_sentinel
                    private_nginx sentinel_nginx reads_go_to);

my ($dir, $sock, $redis, @sentinels);


# starts the server (once) and connects to it; returns its socket's path
sub start_redis {
    my (%o) = @_;

    return $sock if $sock;

    plan skip_all => 'redis-server not found'
        unless system('sh', '-c', 'command -v redis-server >/dev/null') == 0;

    $dir = tempdir('cast-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $sock = "$dir/redis.sock";

    system('redis-server', '--port', $o{port} // 0, '--bind', '127.0.0.1',
           '--dir', $dir, '--unixsocket', $sock,
           '--unixsocketperm', '777', '--save', '', '--appendonly', 'no',
           '--daemonize', 'yes', '--pidfile', "$dir/redis.pid",
           '--logfile', "$dir/redis.log", @{ $o{args} // [] }) == 0
        or die "redis-server: $?\n";
    # the socket file is there (bound) a moment before Redis listens on it
    for (1 .. 200) {
        $redis = IO::Socket::UNIX->new(Peer => $sock) and last;
        sleep 0.05;
    }
    $redis or die "connect $sock: $!\n";

    return $sock;
}

# the primary a Sentinel names: the server on a loopback port, marked
# ready for the function library
sub start_primary {
    require Cast::Stack;

    my $port = Cast::Stack::free_port();

    start_redis(port => $port);
    cmd_ok('SET', '{cast}:ready', 1);
    return $port;
}

END {
    kill 'TERM', @sentinels if @sentinels;
    if ($dir && open my $fh, '<', "$dir/redis.pid") {
        my $pid = <$fh>;
        kill 'TERM', $pid if $pid && $pid =~ /^\d+$/;
    }
}


sub reply {
    my ($die) = @_;
    my $line = <$redis> // die "redis closed\n";

    $line =~ s/\r\n\z//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+' || $type eq ':';
    die "redis: $rest\n" if $type eq '-' && $die;
    return { err => $rest } if $type eq '-';
    if ($type eq '$') {
        return undef if $rest < 0;
        read($redis, my $buf, $rest + 2) == $rest + 2 or die "short read\n";
        return substr($buf, 0, $rest);
    }
    return [map { reply($die) } 1 .. $rest] if $type eq '*';
    die "unexpected reply $line\n";
}

sub send_cmd {
    my $out = '*' . @_ . "\r\n";

    $out .= '$' . length($_) . "\r\n$_\r\n" for map { "$_" } @_;
    print {$redis} $out;
}

sub cmd {
    send_cmd(@_);
    return reply(0);
}

sub cmd_ok {
    send_cmd(@_);
    return reply(1);
}

# through redis-cli: the arguments are shell words, the output its text
sub cli {
    my $out = `redis-cli -s $sock @_ 2>&1`;
    chomp $out;
    return $out;
}

# how many times Redis ran a command since the last CONFIG RESETSTAT
sub calls {
    my ($name) = @_;
    return cmd('INFO', 'commandstats') =~ /^cmdstat_\Q$name\E:calls=(\d+)/m
           ? $1 : 0;
}

sub fcalls { return calls('fcall') }

sub redis_ms {
    my $t = cmd('TIME');
    return $t->[0] * 1000 + int($t->[1] / 1000);
}

# a ticket of the right form, current in Redis for ttl ms (ten minutes
# unless told) with max uses ({cast}:ticket's "expires" says until when)
sub ticket {
    my ($seq, %o) = @_;
    my $ttl = $o{ttl} // 600000;
    my $now = redis_ms();
    my $t = encode_base64url(pack('Q>Q>', $seq, $now - 1000)
                             . join('', map { chr int rand 256 } 1 .. 48));

    cmd_ok('DEL', '{cast}:ticket', '{cast}:ticket:prev',
           '{cast}:ticket:next');
    cmd_ok('HSET', '{cast}:ticket', 'id', $t, 'seq', $seq,
           'issued', $now - 1000, 'expires', $now + $ttl, 'max', $o{max},
           'used', 0, 'grace', 0);
    return $t;
}

# queries until $n in a row answered from Redis (every worker has loaded
# the library), at most 100; returns how many in a row did
sub answering {
    my ($url, $name, $n) = @_;
    my $up = 0;

    require Cast::Stack;

    for (1 .. 100) {
        my (undef, $json) = Cast::Stack::graphql(
            "{query(username:\"$name\")}", undef, url => $url);
        $up = ($json && defined $json->{data}
               && defined $json->{data}{query}) ? $up + 1 : 0;
        last if $up >= $n;
        sleep 0.05;
    }
    return $up;
}

# the leaderboard of @names, the first ranked first (K_TOP's scores are
# -votes: the n-th name has 1000 - n votes)
sub leaderboard {
    my (@names) = @_;

    cmd_ok('DEL', '{cast}:top');
    cmd_ok('ZADD', '{cast}:top',
           map { (-(1000 - $_), $names[$_ - 1]) } 1 .. @names);
}

# a Sentinel in $sdir (its configuration and log there), stopped when
# the file ends
sub start_sentinel {
    my ($sdir, $name, $host, $port) = @_;

    require Cast::Stack;
    require File::Path;
    require IO::Socket::INET;

    my $sport = Cast::Stack::free_port();

    File::Path::make_path($sdir);
    open my $fh, '>', "$sdir/sentinel.conf" or die "sentinel.conf: $!\n";
    print {$fh} "port $sport\nbind 127.0.0.1\ndir $sdir\n"
                . "sentinel monitor $name $host $port 1\n";
    close $fh;

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', "$sdir/sentinel.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', "$sdir/sentinel.conf", '--sentinel';
        exit 127;
    }
    push @sentinels, $pid;

    my $names = Cast::Stack::wait_for(20, sub {
        my $s = IO::Socket::INET->new("127.0.0.1:$sport") or return 0;
        print {$s} "SENTINEL get-master-addr-by-name $name\r\n";
        my $line = <$s> // '';
        return $line =~ /^\*2/;
    });

    return $names ? $sport : undef;
}

# Cast::Nginx's nginx (its $Workers and the like as the file set them)
# on this Redis, with the function library, its server's locations and
# more http-level directives
sub private_nginx {
    my ($locations, $http) = @_;
    my $redis_sock = start_redis();

    require Cast::Nginx;
    Cast::Nginx::start_nginx($locations, http_config => <<"HTTP"
    cast_redis unix:$redis_sock;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
HTTP
        . ($http // ''));

    return 'http://127.0.0.1:' . Cast::Nginx::server_port();
}

# Cast::Nginx's nginx with the function library and /graphql and /readyz
# (and /metrics with metrics => 1), finding its primary through the
# Sentinel on $sport as $name, cast_redis_timeout $timeout; reading from
# the replica the Sentinel names with replica_reads => 1
sub sentinel_nginx {
    my ($sport, $name, $timeout, %o) = @_;
    my $locations = "location = /graphql { cast_graphql; }\n"
                  . "location = /readyz { cast_readyz; }\n";
    my $reads = $o{replica_reads} ? "    cast_redis_replica_reads on;\n" : '';

    $locations .= "location = /metrics { cast_metrics; }\n" if $o{metrics};

    require Cast::Nginx;
    Cast::Nginx::start_nginx($locations, http_config => <<"HTTP");
    cast_redis_sentinel 127.0.0.1:$sport;
    cast_redis_master_name $name;
$reads    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout $timeout;
HTTP

    return 'http://127.0.0.1:' . Cast::Nginx::server_port();
}

# whether the nginx at $base said within 10 s, on /readyz, that its reads
# go to 127.0.0.1:$port
sub reads_go_to {
    my ($base, $port) = @_;

    require Cast::Stack;
    require HTTP::Tiny;

    return Cast::Stack::wait_for(10, sub {
        (HTTP::Tiny->new->get("$base/readyz")->{content} // '')
            =~ / reads 127\.0\.0\.1:$port$/ });
}

1;
