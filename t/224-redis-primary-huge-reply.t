# A Sentinel names the primary, and the workers read whatever that
# address answers: an array header is refused past what a reply can hold
# (t/222), but nothing bounded the bytes.  hiredis keeps a bulk string's
# bytes until its last has come, so a primary that answered a command
# with "$2000000000" and then streamed grew the worker by what it sent
# until the command timed out (some 250 MB a second over loopback); and
# arrays of arrays of small replies, each held as some 100 bytes, grew it
# the same way.  A link's reply may now hold 1 MB and 64 bytes a byte of
# the commands in flight, as hiredis holds it: past that the worker logs
# the address and the bound, drops the link as lost and connects again.
#
# A private Redis; in front of it a fake primary that passes every
# command through but the queries of two names, which it answers so; a
# fake Sentinel naming the fake primary; a private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx);
use Cast::FakeRedis qw(fake_proxy fake_sentinel);
use Test::More;

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pa = start_primary();

# at most 512 MB a query, or until the worker closes
my $primary = fake_proxy($pa, sub {
    my ($c, @cmd) = @_;

    return 0 unless uc($cmd[0]) eq 'FCALL_RO'
                    && ($cmd[1] // '') eq 'cast_query_batch';

    if (grep { $_ eq 'bulk224' } @cmd) {
        syswrite($c, "\$2000000000\r\n") or return 1;
        my $chunk = 'x' x 65536;
        for (1 .. 8192) {
            defined syswrite($c, $chunk) or last;
        }
        return 1;
    }

    if (grep { $_ eq 'arrays224' } @cmd) {
        syswrite($c, "*4096\r\n") or return 1;
        my $inner = "*4096\r\n" . ("+\r\n" x 4096);
        for (1 .. 4096) {
            defined syswrite($c, $inner) or last;
        }
        return 1;
    }

    return 0;
});
my $sentinel = fake_sentinel($primary->{port}, $primary->{port});

my $base = sentinel_nginx($sentinel->{port}, 'cast224', '1s');

sub query {
    my ($name) = @_;
    my (undef, $json) = graphql("{query(username:\"$name\")}", undef,
                                url => "$base/graphql", timeout => 10);
    return $json && $json->{data} && !$json->{errors};
}

ok(wait_for(30, sub { query('n224') }),
   'the worker reads through the primary the Sentinel names')
    or diag error_log_text();
my $hwm0 = worker_status_kb('VmHWM');

my $pp = $primary->{port};
my $refused = qr/redis 127\.0\.0\.1:$pp sent a reply of more than \d+ bytes/;

for my $name (qw(bulk224 arrays224 bulk224 arrays224)) {
    ok(!query($name), "a query of $name is not answered with data");
    ok(wait_for(10, sub { query('n224') }),
       'other queries are answered again')
        or diag error_log_text();
}

my $cut = () = error_log_text() =~ /$refused/g;
cmp_ok($cut, '>=', 4, 'each reply is cut at its bound, the address and the '
       . 'bound in the log')
    or diag error_log_text();
my $lost = () = error_log_text()
    =~ /redis connection lost: a reply larger than its bound/g;
cmp_ok($lost, '>=', 4, 'the connection lost for a reply past its bound')
    or diag error_log_text();
unlike(error_log_text(), qr/redis connection lost: Out of memory/,
       'not for want of memory');

check_worker_growth($hwm0, 32);

check_worker_peak();

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
