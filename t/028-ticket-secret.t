# The ticket secret file means the same key to cast-ticketd and to nginx:
# both drop every trailing CR and LF (cast_ticket_secret_len), so a file
# ending in blank lines or a CRLF still lets nginx accept the tickets
# ticketd mints.  A private redis-server and ticketd per file, and a
# private nginx with the same file.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

my $root = "$FindBin::Bin/..";
my $bin = "$root/build/bin/cast-ticketd";

plan skip_all => "$bin not built (make daemons)" unless -x $bin;
plan skip_all => 'redis-server not found'
    unless system('sh', '-c', 'command -v redis-server >/dev/null') == 0;

my $dir = tempdir('cast-secret-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $key = 'secret-of-forty-bytes-for-the-test-key!';
my @pids;

END { kill 'KILL', $_ for grep { $_ } @pids }

sub spawn {
    my ($env, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        delete $ENV{$_} for grep { /^CAST_/ } keys %ENV;
        $ENV{$_} = $env->{$_} for keys %$env;
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec @cmd;
        exit 127;
    }
    push @pids, $pid;
    return $pid;
}

sub stop {
    my ($pid) = @_;
    kill 'TERM', $pid;
    for (1 .. 100) { return if waitpid($pid, WNOHANG) == $pid; sleep 0.05 }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

my $redis_port = free_port();
my $redis = spawn({}, "$dir/redis.log", 'redis-server', '--port',
                  $redis_port, '--bind', '127.0.0.1', '--dir', $dir,
                  '--save', '', '--appendonly', 'no');
for (1 .. 50) {
    last if IO::Socket::INET->new("127.0.0.1:$redis_port");
    sleep 0.1;
}
system("redis-cli -p $redis_port SET {cast}:ready 1 >/dev/null") == 0
    or die "redis-cli: $?\n";

my $url = 'http://127.0.0.1:' . $ENV{TEST_NGINX_SERVER_PORT} . '/graphql';
my $n = 0;

for my $case (["two newlines", "$key\n\n"], ['CRLF', "$key\r\n"],
              ['CRLF twice', "$key\r\n\r\n"], ['no line ending', $key])
{
    my ($what, $text) = @$case;
    my $file = "$dir/secret-" . ++$n;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;

    my $td = spawn({ CAST_REDIS_URL => "redis://127.0.0.1:$redis_port",
                     CAST_FUNCTIONS_FILE => "$root/lib/redis/cast.lua",
                     CAST_TICKET_SECRET_FILE => $file,
                     CAST_TICKET_PERIOD_MS => 1000,
                     # the ticket read by `cas` still votes if it rotates
                     # before the vote (a loaded sanitizer pass saw
                     # "Ticket expired"): what is checked is the secret
                     CAST_TICKET_GRACE_MS => 1000,
                     CAST_HTTP_PORT => free_port(),
                     CAST_LEASE_OWNER => "secret-$n" },
                   "$dir/ticketd.log", $bin);

    start_nginx('location = /graphql { cast_graphql; }',
                http_config => <<"EOF");
    cast_redis 127.0.0.1:$redis_port;
    cast_redis_functions $root/lib/redis/cast.lua;
    cast_ticket_secret_file $file;
EOF

    # a ticket minted by this ticketd with this file (the tickets of the
    # one before were deleted)
    my ($cas, $t0) = (undef, time);
    while (time - $t0 < 10) {
        my (undef, $json) = graphql('{cas{ticket}}', undef, url => $url);
        $cas = $json && $json->{data} && $json->{data}{cas};
        last if $cas && $cas->{ticket};
        sleep 0.1;
    }
    ok($cas, "$what: ticketd mints") or diag `tail -5 $dir/ticketd.log`;

    my (undef, $json) = graphql(
        'mutation($t:String!){vote(usernames:["s"],ticket:$t)'
        . '{success message}}', { t => $cas->{ticket} }, url => $url);
    is_deeply($json->{data}{vote}, { success => JSON::PP::true,
                                     message => 'Votes recorded successfully' },
              "$what: nginx accepts its tickets") or diag explain $json;

    stop_nginx();
    stop($td);
    # the next ticketd starts with a fresh lease and fresh tickets
    system("redis-cli -p $redis_port DEL {cast}:lease {cast}:ticket "
           . "{cast}:ticket:prev {cast}:ticket:next >/dev/null");
}

stop($redis);
done_testing();
