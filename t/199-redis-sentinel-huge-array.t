# cast_redis_sentinel: a Sentinel whose answer starts with an array header
# of two billion elements.  hiredis allocates an array's slots as it
# reads the header, and walks them all to free them: "*2000000000" (13
# bytes) took 16 GB of the worker's address space, then, once the ask
# had timed out, seconds of its CPU, every client of the worker waiting.
# The worker asks once a second while connected: a Sentinel that kept
# answering so kept the worker stalled.  Now the Sentinel's reader
# refuses an array whose slots alone pass an answer's bound (1 MB, as
# hiredis holds it) as it starts, says so in the error log, and passes
# the Sentinel over: the worker stays on the primary it has.
#
# A private Redis (the primary), a fake Sentinel that names it once,
# then answers every ask with the header alone; a private nginx.

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

# the first ask is told the primary, every later one gets the header
my ($sentinel, $asks) = sentinel_then($pa, sub {
    syswrite($_[0], "*2000000000\r\n");
});

my $base = sentinel_nginx($sentinel->{port}, 'cast199', '1s');
my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub readyz { return $http->get("$base/readyz")->{content} // '' }

ok(wait_for(10, sub { readyz() =~ /127\.0\.0\.1:$pa/ }),
   'the worker writes to the primary the Sentinel named');

ok(wait_for(30, sub { $asks->() >= 5 }),
   'it asks the Sentinel again, answered with the header alone')
    or diag error_log_text();

like(error_log_text(),
     qr/sentinel 127\.0\.0\.1:\d+ sent a reply of more than 1048576 bytes/,
     'the array is refused as its header is read, and named');

my $answered = 0;
for my $i (1 .. 10) {
    my (undef, $json) = graphql("{query(username:\"n199$i\")}", undef,
                                url => "$base/graphql", timeout => 10);
    $answered++ if $json && $json->{data} && !$json->{errors};
}
is($answered, 10, 'reads answer meanwhile');
like(readyz(), qr/127\.0\.0\.1:$pa/, 'the worker stays on its primary');

check_worker_peak();

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
