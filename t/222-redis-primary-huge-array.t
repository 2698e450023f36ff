# A Sentinel names the primary, and the workers then read whatever that
# address answers with the transport's reader: the Sentinel's own reader
# refuses an array longer than an answer can be (t/199), but a hostile
# Sentinel only had to name a primary of its own that answered ROLE with
# "*2000000000" (13 bytes): hiredis allocated the slots as it read the
# header (16 GB of the worker's address space), and walked them all to
# free them once the link timed out, every client of the worker
# waiting, at every connect.  The transport's reader now refuses an
# array whose slots alone pass a reply's bound (1 MB, and 64 bytes a
# byte of the commands in flight: t/224), says so in the error log and
# drops the link.
#
# A fake Sentinel naming a fake primary, both the test's; a private
# nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(sentinel_nginx);
use Cast::FakeRedis qw(fake_redis fake_sentinel shared_count);
use Test::More;

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my ($role_tally, $roles) = shared_count();

# ROLE gets the header alone; the rest +OK
my $primary = fake_redis(sub {
    my $cmd = uc($_[0] // '');
    return "+OK\r\n" unless $cmd eq 'ROLE';
    $role_tally->();
    return "*2000000000\r\n";
});
my $sentinel = fake_sentinel($primary->{port}, $primary->{port});

sentinel_nginx($sentinel->{port}, 'cast222', '1s');

ok(wait_for(30, sub { $roles->() >= 1 }),
   'the worker connects to the primary the Sentinel names, its ROLE '
   . 'answered with the header alone')
    or diag error_log_text();

my $refused = qr/redis 127\.0\.0\.1:\d+ sent a reply of more than \d+ bytes/;
ok(wait_for(10, sub { error_log_text() =~ $refused }),
   'the array is refused as its header is read, and named')
    or diag error_log_text();

check_worker_peak();

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
