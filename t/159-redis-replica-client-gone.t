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
use Cast::PrivateRedis qw(start_redis cmd_ok);
use Cast::FakeRedis qw(fake_redis replica_role fake_sentinel);
use HTTP::Tiny;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = free_port();
start_redis(port => $pport);
cmd_ok('SET', '{cast}:ready', 1);

my $replica = fake_redis(sub {
    my $cmd = uc($_[0] // '');
    return replica_role($pport) if $cmd eq 'ROLE';
    return "+OK\r\n" unless $cmd =~ /^FCALL/;
    sleep 0.3;
    return "-LOADING cast 159\r\n";
});
my $rport = $replica->{port};

my $sentinel = fake_sentinel($pport, $rport);
my $sport = $sentinel->{port};

start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
location = /metrics { cast_metrics; }
CONF
    cast_redis_sentinel 127.0.0.1:$sport;
    cast_redis_master_name cast159;
    cast_redis_replica_reads on;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 10s;
HTTP

my $base = 'http://127.0.0.1:' . server_port();
ok(wait_for(10, sub { (HTTP::Tiny->new->get("$base/readyz")->{content}
                       // '') =~ / reads 127\.0\.0\.1:$rport$/ }),
   'the reads go to the replica');

# clients that send a read and hang up at once
for my $round (1 .. 4) {
    my @socks;
    for my $i (1 .. 8) {
        my $body = qq({"query":"{query(username:\\"g$round-$i\\") )
                 . q(cas{ticket} top(limit:2){username votes}}"});
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
                                      . server_port()) or die "$!\n";
        print {$s} "POST /graphql HTTP/1.1\r\nHost: x\r\n"
            . "Content-Type: application/json\r\n"
            . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
        push @socks, $s;
    }
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
