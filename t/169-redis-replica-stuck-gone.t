# cast_redis_replica_reads: a replica that takes the reads and then hangs
# (it answers ROLE, never an FCALL) is dropped as stuck; of the reads in
# flight on it, only those a client still waits for go to the primary.
# Reads whose clients hung up, or whose request timed out (its call is
# cancelled), are not sent again: before, every carrier on the replica
# was, and the primary ran reads nobody waited for.
#
# cast_redis_replica_fallbacks_total counts the batches sent again; each
# one sent now carries a client that waits, which gets its answer from
# the primary: there are never more of them than reads answered.  With
# every client gone but one, the old code sent several.
#
# A private primary; a fake replica and a fake Sentinel; a private nginx.

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

# a linked replica until the first read, which it never answers
my $replica = fake_redis(sub {
    my $cmd = uc($_[0] // '');
    return replica_role($pport) if $cmd eq 'ROLE';
    return "+OK\r\n" unless $cmd =~ /^FCALL/;
    sleep 3600;
    return '';
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
    cast_redis_master_name cast169;
    cast_redis_replica_reads on;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 1s;
HTTP

my $base = 'http://127.0.0.1:' . server_port();
ok(wait_for(10, sub { (HTTP::Tiny->new->get("$base/readyz")->{content}
                       // '') =~ / reads 127\.0\.0\.1:$rport$/ }),
   'the reads go to the replica');

sub metric {
    my ($name) = @_;
    my $m = HTTP::Tiny->new->get("$base/metrics")->{content} // '';
    return $m =~ /^$name (\d+)$/m ? $1 : undef;
}

# clients that send reads of every kind and hang up at once
my @socks;
for my $i (1 .. 8) {
    my $body = qq({"query":"{query(username:\\"g169-$i\\") )
             . q(cas{ticket} top(limit:2){username votes}}"});
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
                                  . server_port()) or die "$!\n";
    print {$s} "POST /graphql HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    push @socks, $s;
    sleep 0.02;
}
sleep 0.1;
close $_ for @socks;

# one that waits: answered by the primary, or timed out (then cancelled)
my (undef, $json) = graphql('{query(username:"live-169")}', undef,
                            url => "$base/graphql", timeout => 5);
my $answered = ($json && $json->{data} && !$json->{errors}) ? 1 : 0;

ok(wait_for(10, sub { error_log_text()
                      =~ /did not answer within 1000 ms/ }),
   'the stuck replica is dropped');
sleep 0.5;

my $fallbacks = metric('cast_redis_replica_fallbacks_total');
ok(defined $fallbacks && $fallbacks <= $answered,
   'no read of a client gone or timed out is sent again to the primary')
    or diag "fallbacks $fallbacks, answered $answered";
cmp_ok(metric('cast_redis_replica_reads_total') // 0, '>=', 2,
       'reads were on the replica');

($json) = (graphql('{query(username:"after-169")}', undef,
                   url => "$base/graphql", timeout => 5))[1];
ok($json && $json->{data} && !$json->{errors},
   'the next read answers, from the primary') or diag explain $json;

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
