# cast_redis_replica_reads: a replica being left (the primary moved, a
# failover) whose ROLE, asked before, comes back "slave connected" while
# a read is still in flight behind it.  The connection is closing (it
# waits for that read's reply), so no new read may go there: the reads
# after go to the new primary and answer.  Before, that ROLE reply marked
# the closing connection ready again, and every read sent until its last
# reply came was refused by hiredis and answered with an error.
#
# Two private primaries (the Sentinel names the first, then the second);
# a fake replica whose second ROLE and the read behind it answer only when
# the test says; a fake Sentinel; a private nginx.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_redis cmd_ok sentinel_nginx reads_go_to);
use Cast::FakeRedis qw(fake_redis bulk arr);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $dir = tempdir('cast-153-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my ($p1, $p2) = (free_port(), free_port());
start_redis(port => $p1);
cmd_ok('SET', '{cast}:ready', 1);

system('redis-server', '--port', $p2, '--bind', '127.0.0.1',
       '--dir', $dir, '--save', '', '--appendonly', 'no',
       '--daemonize', 'yes', '--pidfile', "$dir/redis.pid",
       '--logfile', "$dir/redis.log") == 0
    or die "redis-server: $?\n";
for (1 .. 100) {
    last if `redis-cli -p $p2 SET '{cast}:ready' 1 2>/dev/null` =~ /OK/;
    sleep 0.05;
}

END {
    if (open my $fh, '<', "$dir/redis.pid") {
        my $pid = <$fh>;
        kill 'TERM', $pid if $pid && $pid =~ /^\d+$/;
    }
}

sub touch { open my $fh, '>', "$dir/$_[0]" or die "$_[0]: $!\n" }
sub until_file {
    my ($name) = @_;
    for (1 .. 200) { return if -e "$dir/$name"; sleep 0.05 }
}

my $linked = arr(bulk('slave'), bulk('127.0.0.1'), ":$p1\r\n",
                 bulk('connected'), ":0\r\n");

# the replica: its first ROLE at once, the next when told (role2 says it
# came), the read behind it when told again; reads after: LOADING
my ($roles, $reads) = (0, 0);
my $replica = fake_redis(sub {
    my $cmd = uc($_[0] // '');
    if ($cmd eq 'ROLE') {
        return $linked if $roles++ == 0;
        touch('role2');
        until_file('go');
        touch('role2-answered');
        return $linked;
    }
    return "+OK\r\n" unless $cmd =~ /^FCALL/;
    until_file('done') if $roles >= 2 && $reads++ == 0;
    return "-LOADING cast 153\r\n";
});
my $rport = $replica->{port};

# the Sentinel: the first primary until told, then the second
my $sentinel = fake_redis(sub {
    my ($cmd, $sub) = (uc($_[0] // ''), uc($_[1] // ''));
    return "+OK\r\n" unless $cmd eq 'SENTINEL';
    return arr(bulk('127.0.0.1'), bulk(-e "$dir/moved" ? $p2 : $p1))
        if $sub eq 'GET-MASTER-ADDR-BY-NAME';
    return "-ERR unknown\r\n" unless $sub eq 'REPLICAS';
    return arr(arr(map { bulk($_) } 'name', "127.0.0.1:$rport",
                   'ip', '127.0.0.1', 'port', $rport, 'flags', 'slave',
                   'master-link-status', 'ok'));
});
my $sport = $sentinel->{port};

my $base = sentinel_nginx($sport, 'cast153', '10s', replica_reads => 1,
                          metrics => 1);
my $readyz = sub { HTTP::Tiny->new->get("$base/readyz")->{content} // '' };

ok(reads_go_to($base, $rport), 'the reads go to the replica');

# its second ROLE is in flight: a read goes there behind it
until_file('role2');
my $pid = fork // die "fork: $!\n";
if ($pid == 0) {
    my ($status, $json) = graphql('{query(username:"first-153")}', undef,
                                  url => "$base/graphql", timeout => 20);
    _exit($json && $json->{data} && !$json->{errors} ? 0 : 1);
}
ok(wait_for(10, sub { (HTTP::Tiny->new->get("$base/metrics")->{content}
                       // '') =~ /^cast_redis_replica_reads_total 1$/m }),
   'a read is in flight on the replica');

# the failover: the replica is left, the worker writes to the second
touch('moved');
ok(wait_for(10, sub { $readyz->() =~ / redis 127\.0\.0\.1:$p2 reads 127\.0\.0\.1:$p2$/ }),
   'the primary moved, the replica is being left');

# the ROLE asked before comes back "linked"; the read behind it is held
touch('go');
until_file('role2-answered');
sleep 0.5;

my %answers;
for (1 .. 5) {
    my (undef, $json) = graphql('{query(username:"nobody-153")}', undef,
                                url => "$base/graphql", timeout => 5);
    $answers{ $json && $json->{data} && !$json->{errors}
              ? 'answered' : 'failed' }++;
}
is_deeply(\%answers, { answered => 5 },
          'the reads meanwhile answer from the new primary')
    or diag explain \%answers;
unlike($readyz->(), qr/ reads 127\.0\.0\.1:$rport$/,
       '/readyz does not name the replica being left');

touch('done');
waitpid $pid, 0;
is($?, 0, 'the read held on the replica answers, from the primary');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
