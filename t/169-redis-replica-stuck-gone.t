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
use Cast::PrivateRedis qw(start_primary sentinel_nginx reads_go_to);
use Cast::FakeRedis qw(fake_replica fake_sentinel);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

# a linked replica until the first read, which it never answers
my $rport = fake_replica($pport, sub { sleep 3600; return '' })->{port};
my $sport = fake_sentinel($pport, $rport)->{port};

my $base = sentinel_nginx($sport, 'cast169', '1s', replica_reads => 1,
                          metrics => 1);
ok(reads_go_to($base, $rport), 'the reads go to the replica');

sub metric {
    my ($name) = @_;
    my $m = HTTP::Tiny->new->get("$base/metrics")->{content} // '';
    return $m =~ /^$name (\d+)$/m ? $1 : undef;
}

# clients that send reads of every kind and hang up at once
my @socks;
for my $i (1 .. 8) {
    push @socks, send_read("g169-$i");
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
