# cast_redis_replica_reads: a worker that goes (a reload, then a fast
# shutdown) while reads are in flight on its replica connection, held
# there by a replica that never answers them.  The reload's old worker
# finishes its requests (dropped as stuck, sent again to the primary,
# answered); the fast shutdown frees the connection with reads in flight
# and sends none again.  Nothing is freed twice or read after free (the
# sanitized pass), no alert in the error log.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_redis cmd_ok);
use Cast::FakeRedis qw(fake_redis replica_role fake_sentinel);
use HTTP::Tiny;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = free_port();
start_redis(port => $pport);
cmd_ok('SET', '{cast}:ready', 1);

# answers ROLE, never a read
my $replica = fake_redis(sub {
    my $cmd = uc($_[0] // '');
    return replica_role($pport) if $cmd eq 'ROLE';
    return $cmd =~ /^FCALL/ ? '' : "+OK\r\n";
});
my $rport = $replica->{port};

my $sentinel = fake_sentinel($pport, $rport);
my $sport = $sentinel->{port};

local $Cast::Nginx::Workers = 2;
my $pid = start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
CONF
    cast_redis_sentinel 127.0.0.1:$sport;
    cast_redis_master_name cast156;
    cast_redis_replica_reads on;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 1500ms;
HTTP

my $base = 'http://127.0.0.1:' . server_port();
ok(wait_for(10, sub { (HTTP::Tiny->new->get("$base/readyz")->{content}
                       // '') =~ / reads 127\.0\.0\.1:$rport$/ }),
   'the reads go to the replica');
sleep 0.5;       # the other worker's too

sub reads {
    my @kids;
    for my $i (1 .. 6) {
        my $kid = fork // die "fork: $!\n";
        if ($kid == 0) {
            graphql("{query(username:\"r$i-156\") cas{ticket}}", undef,
                    url => "$base/graphql", timeout => 10);
            _exit(0);
        }
        push @kids, $kid;
    }
    return @kids;
}

# a reload with reads held on the replica
my @kids = reads();
sleep 0.3;
kill 'HUP', $pid;
waitpid $_, 0 for @kids;
ok(wait_for(10, sub { error_log_text() =~ /gracefully shutting down/ }),
   'the old workers went');

# a fast shutdown with reads held on the replica
ok(wait_for(10, sub { (HTTP::Tiny->new->get("$base/readyz")->{content}
                       // '') =~ / reads 127\.0\.0\.1:$rport$/ }),
   'the new workers read from the replica');
sleep 0.5;
@kids = reads();
sleep 0.3;
kill 'TERM', $pid;
waitpid $_, 0 for @kids;
ok(wait_for(10, sub { !Cast::Nginx::running($pid) }), 'nginx stopped');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
