# cast_redis_replica_reads: a replica whose ROLE says it is linked, but to
# another primary than the one the Sentinels name (another set-up's
# replica, or the other side of a split brain), gets no read: it is left
# at its first ROLE, and the reads stay on the primary.  Before, ROLE's
# "connected" was enough, and the reads went to a Redis that replicates
# other data.  A replica that names the primary by a host name (as
# "replicaof <name>" leaves it) is judged by the port alone.
#
# A private primary; fake replicas and fake Sentinels; private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx reads_go_to);
use Cast::FakeRedis qw(fake_redis stop_fake bulk arr fake_sentinel);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

sub replica {
    my ($host, $port) = @_;
    return fake_redis(sub {
        return uc($_[0] // '') eq 'ROLE'
               ? arr(bulk('slave'), bulk($host), ":$port\r\n",
                     bulk('connected'), ":0\r\n")
               : "-LOADING cast 171\r\n";
    });
}

sub start_with_replica {
    my ($name, $replica) = @_;
    my $sentinel = fake_sentinel($pport, $replica->{port});

    return ($sentinel, sentinel_nginx($sentinel->{port}, $name, '2s',
                                      replica_reads => 1));
}

# linked to a primary on another port
my $other = replica('127.0.0.1', $pport == 65535 ? 1 : $pport + 1);
my ($sentinel, $base) = start_with_replica('cast171a', $other);
my $op = $other->{port};

ok(wait_for(10, sub { error_log_text() =~ /leaving redis 127\.0\.0\.1:$op: (?#
                                          )it replicates another primary/ }),
   'the replica of another primary is left');
sleep 1.5;
my $readyz = HTTP::Tiny->new->get("$base/readyz")->{content} // '';
like($readyz, qr/ reads 127\.0\.0\.1:$pport$/, 'the reads stay on the primary')
    or diag $readyz;
my (undef, $json) = graphql('{query(username:"nobody-171")}', undef,
                            url => "$base/graphql", timeout => 5);
ok($json && $json->{data} && !$json->{errors}, 'a query answers')
    or diag explain $json;
stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');
stop_fake($sentinel);

# linked to a primary at another address, same port
my $away = replica('127.0.0.2', $pport);
($sentinel, $base) = start_with_replica('cast171b', $away);
my $ap = $away->{port};
ok(wait_for(10, sub { error_log_text() =~ /leaving redis 127\.0\.0\.1:$ap: (?#
                                          )it replicates another primary/ }),
   'the replica of a primary at another address is left');
stop_nginx();
stop_fake($sentinel);

# the primary named by a host name, same port: used
my $named = replica('redis-0.example', $pport);
($sentinel, $base) = start_with_replica('cast171c', $named);
my $np = $named->{port};
ok(reads_go_to($base, $np),
   'a replica naming its primary by a host name gets the reads');
stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
