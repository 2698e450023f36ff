# cast_redis_sentinel: a primary the Sentinels name, then leave again
# before it answered the connection's set-up (it accepts, and hangs): the
# connection to it, set apart to drain, is freed once it has been apart
# cast_redis_timeout, like one that keeps a read that long.  Before, only
# a read kept past the timeout freed it: one with only its set-up
# pending (ROLE, FUNCTION LOAD) stayed until the next move or the exit.
#
# A private Redis (the primary), a fake Redis that accepts and never
# answers, a fake Sentinel that names the one a file says, a private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx cli);
use Cast::FakeRedis qw(fake_redis moving_sentinel);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pa = start_primary();

my $dir = tempdir('cast-190-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my ($sentinel, $name) = moving_sentinel($dir, $pa);
sub named { $name->(@_) }
my $sport = $sentinel->{port};

my $base = sentinel_nginx($sport, 'cast190', '1s');
my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

sub readyz { return $http->get("$base/readyz")->{content} // '' }

ok(wait_for(10, sub { readyz() =~ /127\.0\.0\.1:$pa/ }),
   'the worker writes to the primary');

# a Redis that accepts and never answers
my $hung = fake_redis(sub { sleep 3600; return '' });
my $ph = $hung->{port};

named($ph);
ok(wait_for(10, sub { error_log_text() =~ /redis primary moved from (?#
                          )127\.0\.0\.1:$pa to 127\.0\.0\.1:$ph/ }),
   'the worker saw the move to the Redis that hangs');
ok(wait_for(10, sub { my $n = () = error_log_text() =~ /redis connected/g;
                      $n >= 2 }),
   'it connected there');
sleep 0.5;

named($pa);
ok(wait_for(10, sub { error_log_text() =~ /redis primary moved from (?#
                          )127\.0\.0\.1:$ph to 127\.0\.0\.1:$pa/ }),
   'the worker saw the move back, the set-up there unanswered');
ok(wait_for(10, sub { error_log_text() =~ /the redis primary that moved (?#
                                          )did not answer within 1000 ms/ }),
   'the connection set apart is freed after cast_redis_timeout');

my (undef, $json) = graphql('{query(username:"n190")}', undef,
                            url => "$base/graphql", timeout => 5);
ok($json && $json->{data} && !$json->{errors}, 'a read answers')
    or diag explain $json;

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
