# cast_redis_sentinel: when the Sentinels name another primary, the
# worker's connection to the old one is left (its commands in flight get
# their replies) and one to the new one is made at once: the calls made
# meanwhile wait for it.  Before, the connection being left still counted
# as usable, so a call made while it closed failed, and after it closed
# every call was refused until the backoff had passed and the new one was
# made: each move failed the reads of some 50 ms or more.
#
# Two private Redis (the old primary, the new one), a fake Sentinel that
# names the one a file says, a private nginx; reads sent one after the
# other across the move must all answer.  Then the new primary hangs and
# the first is named again: its closing connection is freed once it has
# kept a read cast_redis_timeout.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx);
use Cast::FakeRedis qw(moving_sentinel);
use File::Temp qw(tempdir);
use POSIX ();
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pa = start_primary();

# the new primary
my $dir = tempdir('cast-170-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $pb = free_port();
system('redis-server', '--port', $pb, '--bind', '127.0.0.1', '--dir', $dir,
       '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
       '--pidfile', "$dir/b.pid", '--logfile', "$dir/b.log") == 0
    or die "redis-server: $?\n";
for (1 .. 100) {
    last if `redis-cli -p $pb SET {cast}:ready 1 2>&1` =~ /OK/;
    sleep 0.05;
}
END {
    if ($dir && open my $fh, '<', "$dir/b.pid") {
        my $pid = <$fh>;
        kill 'TERM', $pid if $pid && $pid =~ /^\d+$/;
    }
}

my ($sentinel, $name) = moving_sentinel($dir, $pa);
sub named { $name->(@_) }
my $sport = $sentinel->{port};

my $base = sentinel_nginx($sport, 'cast170', '2s');
my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

sub readyz { return $http->get("$base/readyz")->{content} // '' }

ok(wait_for(10, sub { readyz() =~ /127\.0\.0\.1:$pa/ }),
   'the worker writes to the first primary');

# reads one after the other; the Sentinel names the new primary meanwhile
my ($sent, $failed, $seen, %why) = (0, 0, 0);
my $start = time;
while (time - $start < 15 && (!$seen || $sent < $seen + 200)) {
    named($pb) if $sent == 50;
    my (undef, $json) = graphql('{query(username:"n170")}', undef,
                                url => "$base/graphql", timeout => 5);
    $sent++;
    if (!$json || !$json->{data} || $json->{errors}) {
        $failed++;
        $why{$json && $json->{errors} ? $json->{errors}[0]{message}
                                      : 'no answer'}++;
    }
    $seen = $sent if !$seen && $sent % 10 == 0
                     && error_log_text() =~ /redis primary moved/;
}

like(error_log_text(),
     qr/redis primary moved from 127\.0\.0\.1:$pa to 127\.0\.0\.1:$pb/,
     'the worker saw the move');
ok(wait_for(5, sub { readyz() =~ /127\.0\.0\.1:$pb/ }),
   'it writes to the new primary');
is($failed, 0, "no read failed across the move ($sent sent)")
    or diag explain \%why;

# the new primary hangs with a read in flight, and the Sentinel names the
# first one again: the reads go there, and the hung connection, closing,
# is freed once it has kept its read cast_redis_timeout
my $bpid = do { open my $fh, '<', "$dir/b.pid" or die "$!\n"; <$fh> };
chomp $bpid;
kill 'STOP', $bpid;
my $child = fork // die "fork: $!\n";
if ($child == 0) {
    graphql('{query(username:"hung-170")}', undef, url => "$base/graphql",
            timeout => 10);
    POSIX::_exit(0);
}
sleep 0.3;
named($pa);

ok(wait_for(10, sub { error_log_text() =~ /redis primary moved from (?#
                          )127\.0\.0\.1:$pb to 127\.0\.0\.1:$pa/ }),
   'the worker saw the move back');
my (undef, $json) = graphql('{query(username:"back-170")}', undef,
                            url => "$base/graphql", timeout => 5);
ok($json && $json->{data} && !$json->{errors},
   'a read answers from the first primary') or diag explain $json;
ok(wait_for(10, sub { error_log_text() =~ /the redis primary that moved (?#
                                          )did not answer within 2000 ms/ }),
   'the hung connection to the old primary is freed');
kill 'CONT', $bpid;
waitpid $child, 0;

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
