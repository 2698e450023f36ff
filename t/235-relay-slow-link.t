# cast-relay reads each XREAD whole within redis_timeout_ms.  Over a
# link slower than batch_max entries a timeout, the relay dropped the
# read, connected again and asked for the same batch_max entries, again
# and again: a backlog of large entries was never read (t/234 reads the
# largest on loopback, in time).  Now after a read that did not come
# whole the next ones ask for half as many entries, down to one, and
# each whole reply doubles that back (relay_read()).  A private relay
# reads a private Redis through a proxy that hands XREAD replies on at
# about 1 MB/s, redis_timeout_ms 1000, batch_max 200: 200 packed entries
# of 200 votes (some 7 MB, 7 s a whole batch) all reach Kafka, and the
# relay says how many entries it reads at a time.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Daemon qw(private_relay stop_daemon);
use Cast::FakeRedis qw(fake_proxy stop_fake arr bulk read_reply);
use Cast::PrivateRedis qw(start_redis cmd_ok);
use Cast::Stack qw(free_port);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no test stack' unless $ENV{CAST_KAFKA_BOOTSTRAP};

my $rport = free_port();
start_redis(port => $rport);
my ($n, $votes) = (200, 200);

my $value = join "\n", '1765000000000', '1234567890', '1',
    map { ('64', 'v' x 64, '64', sprintf('%064d', $_ % 7),
           '9007199254740991', '9007199254740991') } 1 .. $votes;
cmd_ok('XADD', '{cast}:outbox', '*', 'p', $value) for 1 .. $n;
my $events = $n * $votes;

# XREAD's replies at about 1 MB/s, 64 KB every 60 ms; the rest as it is
my $proxy = fake_proxy($rport, sub {
    my ($c, @cmd) = @_;

    return 0 unless uc $cmd[0] eq 'XREAD';

    my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $rport) or return 1;
    print $r arr(map { bulk($_) } @cmd);
    my $reply = read_reply($r) // return 1;
    close $r;

    for (my $at = 0; $at < length $reply; $at += 65536) {
        print $c substr($reply, $at, 65536) or return 1;
        sleep 0.06;
    }
    return 1;
});

my $dir = tempdir(CLEANUP => 1);
my ($pid, $metric) = private_relay("$dir/relay.log",
    CAST_REDIS_URL => "redis://127.0.0.1:$proxy->{port}",
    CAST_REDIS_TIMEOUT_MS => 1000, CAST_BATCH_MAX => $n);

ok(wait_for(120,
            sub { $metric->('cast_relay_delivered_total') >= $events }),
   "every event of $n entries delivered over the slow link ($events)")
    or diag 'read ' . $metric->('cast_relay_read_total') . ', delivered '
            . $metric->('cast_relay_delivered_total');

stop_daemon($pid);
stop_fake($proxy);

my $log = do { open my $fh, '<', "$dir/relay.log"; local $/; <$fh> // '' };
like($log, qr/no whole reply in time/, 'the whole batch did not come in time');
like($log, qr/reading \d+ entries at a time now/,
     'the relay read fewer entries at a time');

done_testing();
