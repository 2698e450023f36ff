# cast_redis_replica_reads: clients that go away while their reads are
# on the replica, which answers LOADING, late.  The requests are gone
# before the reply; the batch's carrier lives until it; nothing is
# touched after free (the sanitized pass), the worker answers the next
# reads.  A read nobody waits for any more is not sent again to the
# primary: only a client's that waits is (before, every one was).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx reads_go_to);
use Cast::FakeRedis qw(fake_replica fake_sentinel);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

my $rport = fake_replica($pport, sub {
    sleep 0.3;
    return "-LOADING cast 159\r\n";
})->{port};
my $sport = fake_sentinel($pport, $rport)->{port};

my $base = sentinel_nginx($sport, 'cast159', '10s', replica_reads => 1,
                          metrics => 1);
ok(reads_go_to($base, $rport), 'the reads go to the replica');

# clients that send a read and hang up at once
for my $round (1 .. 4) {
    my @socks = map { send_read("g$round-$_") } 1 .. 8;
    sleep 0.05;
    close $_ for @socks;
    sleep 0.1;
}

# behind the gone ones on the replica: LOADING, then the primary
my (undef, $json) = graphql('{query(username:"after-159")}', undef,
                            url => "$base/graphql", timeout => 15);
ok($json && $json->{data} && !$json->{errors}, 'the next read answers')
    or diag explain $json;

my $m = HTTP::Tiny->new->get("$base/metrics")->{content} // '';
my ($fallbacks) = $m =~ /^cast_redis_replica_fallbacks_total (\d+)$/m;
ok(defined $fallbacks && $fallbacks <= 1,
   'only the read a client waits for is sent again to the primary')
    or diag "fallbacks: ", $fallbacks // 'none';

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
