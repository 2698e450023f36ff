# cast_redis_sentinel: a Sentinel whose answer never ends.  The workers
# read a Sentinel's answer on their event loop within cast_redis_timeout
# and refuse an array header longer than an answer can be (t/199), but
# nothing bounded the bytes: a bulk string's header says how long it is,
# and hiredis keeps every byte of it until the last has come, so a
# Sentinel that announced a 2 GB bulk and then streamed it grew the
# worker by what it could send within the timeout, at every ask (once a
# second while connected).  The daemons bound an answer to 4 KB
# (t/198); the worker now to 1 MB as hiredis holds it (an answer of
# SENTINEL REPLICAS is some 3 KB a replica), and passes the Sentinel
# over.
#
# A private Redis (the primary), a fake Sentinel that names it once,
# then answers the asks in turn with a bulk that never ends and with
# arrays of arrays of small replies (each held as some 100 bytes); a
# private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx);
use Cast::FakeRedis qw(sentinel_then);
use HTTP::Tiny;
use Test::More;

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pa = start_primary();

# the first ask is told the primary; the later ones a bulk of 2 GB,
# sent until the worker closes (at most 256 MB an ask), or 4096 arrays
# of 4096 empty status replies (at most 8 MB an ask)
my ($sentinel, $asks) = sentinel_then($pa, sub {
    my ($c, $n) = @_;

    if ($n % 2 == 0) {
        syswrite($c, "\$2000000000\r\n") or return;
        my $chunk = 'x' x 65536;
        for (1 .. 4096) {
            defined syswrite($c, $chunk) or last;
        }
    } else {
        syswrite($c, "*4096\r\n") or return;
        my $inner = "*4096\r\n" . ("+\r\n" x 4096);
        for (1 .. 680) {
            defined syswrite($c, $inner) or last;
        }
    }
});

my $base = sentinel_nginx($sentinel->{port}, 'cast221', '1s');
my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub readyz { return $http->get("$base/readyz")->{content} // '' }

ok(wait_for(10, sub { readyz() =~ /127\.0\.0\.1:$pa/ }),
   'the worker writes to the primary the Sentinel named');
my $hwm0 = worker_status_kb('VmHWM');

ok(wait_for(30, sub { $asks->() >= 5 }),
   'it asks the Sentinel again, answered with more than an answer holds')
    or diag error_log_text();

# the fifth answer may still be on its way when the fifth ask is counted
my $cut = 0;
wait_for(10, sub {
    $cut = () = error_log_text()
        =~ /sentinel 127\.0\.0\.1:\d+ sent a reply of more than 1048576 bytes/g;
    return $cut >= 4;
});
cmp_ok($cut, '>=', 4, 'each answer is cut at its bound, and said so');

my $answered = 0;
for my $i (1 .. 10) {
    my (undef, $json) = graphql("{query(username:\"n221$i\")}", undef,
                                url => "$base/graphql", timeout => 10);
    $answered++ if $json && $json->{data} && !$json->{errors};
}
is($answered, 10, 'reads answer meanwhile');
like(readyz(), qr/127\.0\.0\.1:$pa/, 'the worker stays on its primary');

check_worker_growth($hwm0, 32);

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
