# A daemon's Redis connection, the one it writes and reads through: the
# Sentinels' answers are bounded (t/198), but the primary a Sentinel
# names is read with hiredis's own reader, which allocates an array's
# slots as it reads the header, so a primary that answered
# "*2000000000" (13 bytes: a hostile Sentinel had only to name one of
# its own) took 16 GB of cast-ticketd's address space, then seconds of
# its one loop to free them once the command timed out, at every
# reconnect.  The links' reader now refuses an array whose slots alone
# pass a reply's bound (16 MB as hiredis holds it: t/225) as its header
# is read, says so, and the link is dropped as after any read error.
#
# A fake Redis answering every command with the header alone; a private
# cast-ticketd writing to it.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::FakeRedis qw(fake_redis);
use Cast::Daemon qw(private_ticketd);
use File::Temp qw(tempdir);
use Test::More;

my $dir = tempdir('cast-223-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub asked {
    open my $c, '<', "$dir/asked" or return 0;
    return scalar(() = <$c>);
}

my $redis = fake_redis(sub {
    open my $f, '>>', "$dir/asked" or die "$dir/asked: $!";
    print $f "x\n";
    close $f;
    return "*2000000000\r\n";
});

my $log = "$dir/ticketd.log";
my $pid = private_ticketd($log,
                          CAST_REDIS_URL => "redis://127.0.0.1:$redis->{port}",
                          CAST_HTTP_PORT => free_port());

sub text {
    open my $f, '<', $log or return '';
    local $/;
    return <$f> // '';
}

ok(wait_for(20, sub { asked() >= 2 }),
   'cast-ticketd asks the fake Redis, and again')
    or diag text();

ok(wait_for(10, sub { text() =~ /sent a reply of more than \d+ bytes/ }),
   'the array is refused as its header is read, and said so')
    or diag text();

my $kb = -1;
if (open my $s, '<', "/proc/$pid/status") {
    for (<$s>) { $kb = $1 if /^VmPeak:\s+(\d+)/ }
}
ok($kb > 0 && $kb < 4 * 1024 * 1024,
   "cast-ticketd's address space peaks under 4 GB")
    or diag "VmPeak $kb kB";

ok(kill(0, $pid), 'cast-ticketd runs on');

done_testing();
