# cast_redis_replica_reads with a Sentinel that first names, as a replica
# up and linked, a Redis that accepts the connection and never answers
# (hung, or a black hole behind a proxy): the worker's replica connection
# waits for ROLE no longer than cast_redis_timeout, is dropped, and the
# Sentinels are asked again.  The next replica they name, one that
# answers ROLE as a linked replica, gets the reads.  Before, a replica
# that never answered its set-up kept the connection for the worker's
# life, and the reads stayed on the primary even with a good replica up.
#
# A private primary; two fake replicas (the silent one, the good one); a
# fake Sentinel naming the silent one first, the good one after; a
# private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx);
use Cast::FakeRedis qw(fake_redis bulk arr);
use HTTP::Tiny;
use Test::More;

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

# reads every command, answers none
my $silent = fake_redis(sub { return '' });

# a replica linked to its primary, as far as ROLE goes
my $good = fake_redis(sub {
    return uc($_[0] // '') eq 'ROLE'
           ? arr(bulk('slave'), bulk('127.0.0.1'), ":$pport\r\n",
                 bulk('connected'), ":0\r\n")
           : "-LOADING cast 152\r\n";
});

# the Sentinel: the primary; as the replica the silent one, then the good
my $asked = 0;
my $sentinel = fake_redis(sub {
    my ($cmd, $sub) = (uc($_[0] // ''), uc($_[1] // ''));
    return "+OK\r\n" unless $cmd eq 'SENTINEL';
    return arr(bulk('127.0.0.1'), bulk($pport))
        if $sub eq 'GET-MASTER-ADDR-BY-NAME';
    return "-ERR unknown\r\n" unless $sub eq 'REPLICAS';
    my $port = $asked++ ? $good->{port} : $silent->{port};
    return arr(arr(map { bulk($_) } 'name', "127.0.0.1:$port",
                   'ip', '127.0.0.1', 'port', $port, 'flags', 'slave',
                   'master-link-status', 'ok'));
});
my $sport = $sentinel->{port};

my $base = sentinel_nginx($sport, 'cast152', '500ms', replica_reads => 1);
my ($sp, $gp) = ($silent->{port}, $good->{port});

ok(wait_for(10, sub { error_log_text()
                      =~ /redis replica 127\.0\.0\.1:$sp did not answer/ }),
   'the silent replica is dropped');

my $readyz;
ok(wait_for(10, sub {
       $readyz = HTTP::Tiny->new->get("$base/readyz")->{content} // '';
       $readyz =~ / reads 127\.0\.0\.1:$gp$/ }),
   'the reads go to the good replica named after it')
    or diag $readyz;

# a read there answers LOADING: sent again to the primary, answered
my (undef, $json) = graphql('{query(username:"nobody-152")}', undef,
                            url => "$base/graphql", timeout => 3);
ok($json && $json->{data} && !$json->{errors}, 'a query answers')
    or diag explain $json;

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
