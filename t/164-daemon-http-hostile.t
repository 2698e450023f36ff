# The daemons' /healthz and /metrics listener (daemons/common/cast_http.c)
# against slow clients.  It serves 16 connections at once, each given 2 s
# to send its request; a client that opens 16 connections and never ends
# a request (slowloris) held every slot, and a probe waited in the
# backlog until their 2 s ran out, again and again: past a kubelet's
# timeoutSeconds, so the liveness probe failed and the pod was restarted.
# Now a new connection takes the slot of the oldest, and a request sent
# with the connection is read at once: the probe is answered while the
# slow clients still hold the rest of the slots.  And bad requests get a
# status, not silence: a NUL (which ended the search for the request's
# end: the client waited 2 s for a close) is 400, a request past the 2 KB
# buffer (reset before) 431.  A private Redis and a private cast-ticketd.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(start_redis);
use Cast::Daemon qw(private_ticketd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep);

my $sock = start_redis();
my $dir = tempdir('cast-164-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $port = free_port();

my $pid = private_ticketd("$dir/ticketd.log",
                          CAST_REDIS_URL => "unix://$sock",
                          CAST_REDIS_SENTINELS => '',
                          CAST_HTTP_PORT => $port);

# a request, answered: its status line
sub probe {
    my ($req) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 10) or return "connect: $!";
    print $c $req // "GET /healthz HTTP/1.0\r\n\r\n";
    my $line = <$c>;
    return $line // 'no answer';
}

ok(wait_for(10, sub { probe() =~ m{^HTTP/1\.0 200 } }),
   'cast-ticketd answers /healthz') or diag `cat $dir/ticketd.log`;

for (["GET /healthz\0 HTTP/1.0\r\n\r\n", 400, 'a NUL in the request line'],
     ["\0" x 64 . "\r\n\r\n", 400, 'NULs alone'],
     ['GET /' . 'a' x 3000 . " HTTP/1.0\r\n\r\n", 431, 'a 3 KB request'],
     ["GET /metrics HTTP/1.0\r\n" . "X: y\r\n" x 400 . "\r\n", 431,
      '400 header lines'],
     ["POST /healthz HTTP/1.0\r\nContent-Length: 2\r\n\r\nab", 405, 'POST'],
     ["GET /nothing HTTP/1.0\r\n\r\n", 404, 'an unknown path'])
{
    my ($req, $status, $what) = @$_;
    like(probe($req), qr{^HTTP/1\.0 $status }, "$what: $status");
}

# 16 connections that never end their request: every slot
my @slow;
for (1 .. 16) {
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "connect: $!";
    print $c "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    $c->blocking(0);
    push @slow, $c;
}

# the slow clients the server closed: an EOF reads as ''
sub closed {
    return scalar grep {
        my $b;
        my $n = sysread($_, $b, 100);
        defined $n && !$n;
    } @slow;
}

sleep 0.2;
is(closed(), 0, '16 slow clients hold every slot');

# before, each probe waited for the slow clients' 2 s to run out, when
# all of them were dropped together
for my $i (1 .. 3) {
    like(probe(), qr{^HTTP/1\.0 200 },
         "probe $i with every slot held: answered");
}
is(closed(), 1, '  the first took the oldest slow client\'s slot, the next '
   . 'ones the slot it gave back; 15 still hold theirs');

# the slow ones still run out of time
ok(wait_for(10, sub { closed() == 16 }),
   'the slow clients are dropped at their deadline');

is(waitpid($pid, WNOHANG), 0, 'cast-ticketd still runs');

done_testing();
