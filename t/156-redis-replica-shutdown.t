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
use Cast::PrivateRedis qw(start_primary sentinel_nginx reads_go_to);
use Cast::FakeRedis qw(fake_replica fake_sentinel);
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

# answers ROLE, never a read
my $rport = fake_replica($pport, sub { '' })->{port};
my $sport = fake_sentinel($pport, $rport)->{port};

local $Cast::Nginx::Workers = 2;
my $base = sentinel_nginx($sport, 'cast156', '1500ms', replica_reads => 1);
my $pid = nginx_pid();
ok(reads_go_to($base, $rport), 'the reads go to the replica');
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
ok(reads_go_to($base, $rport), 'the new workers read from the replica');
sleep 0.5;
@kids = reads();
sleep 0.3;
kill 'TERM', $pid;
waitpid $_, 0 for @kids;
ok(wait_for(10, sub { !Cast::Nginx::running($pid) }), 'nginx stopped');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
