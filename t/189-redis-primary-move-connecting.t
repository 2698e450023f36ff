# cast_redis_sentinel: the Sentinels name a primary, then another before
# the worker's connection to the first is even made (a flapping
# Sentinel, a primary that does not answer SYNs), and that connection
# then fails.  hiredis gives a context that never connected no
# disconnect callback: the context set apart to drain must be forgotten
# when its connect fails, and that failure must not touch the connection
# made meanwhile to the primary named now: one never connected has
# written nothing, so it is freed at once.  Before, the failure cleared
# the link's new connection (left open, never freed: one more connection
# to Redis for each link) and left the freed context as the one set
# apart, freed a second time when the worker exits or on the next move.
#
# A private Redis (the primary), a listener whose queue is full (a
# connect to it stays in progress until it closes), a fake Sentinel that
# names the one a file says, a private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx cli);
use Cast::FakeRedis qw(moving_sentinel);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Socket qw(PF_INET SOCK_STREAM pack_sockaddr_in unpack_sockaddr_in
              inet_aton);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pa = start_primary();

my $dir = tempdir('cast-189-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my ($sentinel, $name) = moving_sentinel($dir, $pa);
sub named { $name->(@_) }
my $sport = $sentinel->{port};

my $base = sentinel_nginx($sport, 'cast189', '2s');
my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

sub readyz { return $http->get("$base/readyz")->{content} // '' }

# the worker's TCP connections to the primary
sub conns {
    return scalar grep { /addr=127\.0\.0\.1:/ } split /\n/,
                                                   cli('CLIENT LIST');
}

ok(wait_for(10, sub { readyz() =~ /127\.0\.0\.1:$pa/ }),
   'the worker writes to the primary');
sleep 1;
my $before = conns();
ok($before > 0, "the worker has $before connections to it");

# a listener that accepts nothing, its queue filled by one connection: a
# connect to it stays in progress (its SYNs are dropped)
socket(my $hung, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
bind($hung, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!\n";
listen($hung, 0) or die "listen: $!\n";
my ($ph) = unpack_sockaddr_in(getsockname($hung));
my $filler = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ph,
                                   Timeout => 2)
    or die "connect: $!\n";

named($ph);
ok(wait_for(10, sub { error_log_text() =~ /redis primary moved from (?#
                          )127\.0\.0\.1:$pa to 127\.0\.0\.1:$ph/ }),
   'the worker saw the move to the primary that does not answer');
sleep 0.5;

named($pa);
ok(wait_for(10, sub { error_log_text() =~ /redis primary moved from (?#
                          )127\.0\.0\.1:$ph to 127\.0\.0\.1:$pa/ }),
   'the worker saw the move back before it connected');

# a connection still in progress would fail now: refused at its next SYN
# (a second or two later; before, it was kept apart and failed so)
close $filler;
close $hung;
wait_for(8, sub { error_log_text() =~ /redis connect failed/ });

ok(wait_for(10, sub { readyz() =~ /127\.0\.0\.1:$pa/ }),
   'the worker writes to the primary again');
my (undef, $json) = graphql('{query(username:"n189")}', undef,
                            url => "$base/graphql", timeout => 5);
ok($json && $json->{data} && !$json->{errors}, 'a read answers')
    or diag explain $json;

# no connection was lost track of: as many as before
sleep 2;
is(conns(), $before, 'the worker has as many connections as before');

# the next move, and the exit, free what is set apart
named($ph);
ok(wait_for(10, sub { my $n = () = error_log_text() =~ /redis primary (?#
                          )moved from 127\.0\.0\.1:$pa to (?#
                          )127\.0\.0\.1:$ph/g;
                      $n >= 2 }),
   'the worker saw a third move');
sleep 1.5;
named($pa);
ok(wait_for(10, sub { readyz() =~ /127\.0\.0\.1:$pa/ }),
   'and writes to the primary again');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
