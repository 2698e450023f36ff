# cast_redis_replica_reads with a replica that answers every read with a
# reply of the wrong shape: the parsers trust it no more than the
# primary.  Every request answers 200 with a GraphQL body (an error is
# fine), the worker lives, the sanitizers see nothing.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx reads_go_to);
use Cast::FakeRedis qw(fake_replica bulk arr fake_sentinel);
use Test::More;

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

my @shapes = (
    ":42\r\n", "\$-1\r\n", "*-1\r\n", "*0\r\n", "+OK\r\n", bulk(''),
    "-ERR hostile\r\n", arr(":1"), arr(":1\r\n", ":2\r\n", ":3\r\n"),
    arr(arr(arr(arr(bulk('x'))))), arr(("\$-1\r\n") x 50),
    arr(bulk('a'), "*0\r\n", ":-9223372036854775808\r\n", "\$-1\r\n"),
    bulk('9' x 100), bulk('-1'), bulk('x' x 300000),
    arr(map { bulk($_) } ('u') x 1000),
    arr(arr(bulk('name'), ":5\r\n"), arr(":5\r\n", bulk('name'))),
    arr(bulk('123abc'), bulk('1e400'), bulk(' 7'), bulk('')),
);
my $n = 0;
my $rport = fake_replica($pport, sub { $shapes[$n++ % @shapes] })->{port};
my $sport = fake_sentinel($pport, $rport)->{port};

my $base = sentinel_nginx($sport, 'cast154', '2s', replica_reads => 1);
ok(reads_go_to($base, $rport), 'the reads go to the replica');

my %seen;
for my $i (1 .. 3 * @shapes) {
    for my $q ('{query(username:"a154")}',
               '{a:query(username:"a154") b:query(username:"b154")}',
               '{cas{ticket}}', '{top(limit:3){username votes}}',
               '{cas{ticket} top(limit:2){username votes}}') {
        my ($status, $json) = graphql($q, undef, url => "$base/graphql",
                                      timeout => 5);
        $seen{ ($status // 0) == 200 && $json ? 'ok' : "bad $status" }++;
    }
}
is_deeply([keys %seen], ['ok'], 'every read answers 200 with a body')
    or diag explain \%seen;

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
