# cast_redis_replica_reads with a Sentinel that keeps naming, as a
# replica up and linked, a Redis whose link to its primary is down (a
# stale Sentinel, a replica resyncing): the worker's replica connection
# reaches it, ROLE says its link is not connected, and it leaves.  The
# reads never go there: every query answers from the primary, /readyz
# says so.  And the worker tries that replica again with the primary's
# backoff (at most twice a second), not in a loop.
#
# A private primary; a private Redis that is a replica of a port nothing
# listens on; a fake Sentinel naming the one as the primary and the other
# as its replica; a private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx);
use Cast::FakeRedis qw(fake_redis bulk arr);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

# the replica that never links: its primary's port has no listener
my $dir = tempdir('cast-151-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($rport, $nowhere) = (free_port(), free_port());
system('redis-server', '--port', $rport, '--bind', '127.0.0.1',
       '--dir', $dir, '--save', '', '--appendonly', 'no',
       '--replicaof', '127.0.0.1', $nowhere, '--daemonize', 'yes',
       '--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log") == 0
    or die "redis-server: $?\n";

END {
    if (open my $fh, '<', "$dir/redis.pid") {
        my $pid = <$fh>;
        kill 'TERM', $pid if $pid && $pid =~ /^\d+$/;
    }
}

sub info_of {
    my ($port, $section) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 2) or return '';
    print {$s} "INFO $section\r\n";
    my $len = <$s> // return '';
    $len =~ /^\$(\d+)/ or return '';
    read($s, my $buf, $1);
    return $buf;
}

ok(wait_for(10, sub { info_of($rport, 'replication')
                      =~ /^master_link_status:down/m }),
   'the private replica is not linked to its primary');

# the Sentinel: the primary, and the replica as up and linked
my $sentinel = fake_redis(sub {
    my ($cmd, $sub) = (uc($_[0] // ''), uc($_[1] // ''));
    return "+OK\r\n" unless $cmd eq 'SENTINEL';
    return arr(bulk('127.0.0.1'), bulk($pport))
        if $sub eq 'GET-MASTER-ADDR-BY-NAME';
    return arr(arr(map { bulk($_) } 'name', "127.0.0.1:$rport",
                   'ip', '127.0.0.1', 'port', $rport, 'flags', 'slave',
                   'master-link-status', 'ok'))
        if $sub eq 'REPLICAS';
    return "-ERR unknown\r\n";
});
my $sport = $sentinel->{port};

my $base = sentinel_nginx($sport, 'cast151', '500ms', replica_reads => 1);

my $left = qr/leaving redis 127\.0\.0\.1:$rport: it is not a replica/
         . qr/ linked to its primary/;
ok(wait_for(10, sub { error_log_text() =~ $left }),
   'the worker reached the replica, and left it');

my %answers;
for (1 .. 20) {
    my (undef, $json) = graphql('{query(username:"nobody-151")}', undef,
                                url => "$base/graphql", timeout => 3);
    $answers{ $json && $json->{data} && !$json->{errors}
              ? 'answered' : 'failed' }++;
}
is_deeply(\%answers, { answered => 20 }, 'every query answers')
    or diag explain \%answers;
like(HTTP::Tiny->new->get("$base/readyz")->{content} // '',
     qr/ redis 127\.0\.0\.1:$pport reads 127\.0\.0\.1:$pport$/,
     '/readyz says the reads go to the primary');

# the backoff grows to 500 ms: a connect per try, not one every 50 ms
sub connections {
    return info_of($rport, 'stats') =~ /^total_connections_received:(\d+)/m
           ? $1 : -1;
}
my $from = connections();
sleep 3;
my $tries = connections() - $from - 1;     # less this INFO's own
cmp_ok($tries, '<=', 12, "tries backed off ($tries connections in 3 s)");
cmp_ok($tries, '>=', 1, '  and it is tried again');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
