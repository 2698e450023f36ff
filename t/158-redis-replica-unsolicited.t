# cast_redis_replica_reads with a replica that sends replies nothing
# asked for: after ROLE, and after a read.  hiredis asserts that only a
# subscribed context gets one; the adapter refuses it and drops the
# connection (t/117), and the reads in flight there are sent again to the
# primary: the worker lives, every query answers, the reads go back to
# the primary.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx reads_go_to);
use Cast::FakeRedis qw(fake_redis replica_role fake_sentinel);
use Test::More;

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

my $role = replica_role($pport);
my $roles = 0;
my $replica = fake_redis(sub {
    my $cmd = uc($_[0] // '');
    # every other connection: one reply too many after its second ROLE
    return $role . (++$roles % 4 == 2 ? "+EXTRA\r\n" : '')
        if $cmd eq 'ROLE';
    return $cmd =~ /^FCALL/ ? "*0\r\n:1\r\n" : "+OK\r\n";
});
my $rport = $replica->{port};
my $sport = fake_sentinel($pport, $rport)->{port};

my $base = sentinel_nginx($sport, 'cast158', '1s', replica_reads => 1);
ok(reads_go_to($base, $rport), 'the reads go to the replica');

my %seen;
for (1 .. 40) {
    my ($status, $json) = graphql('{query(username:"u158")}', undef,
                                  url => "$base/graphql", timeout => 5);
    $seen{ ($status // 0) == 200 && $json ? 'ok' : 'bad' }++;
}
is_deeply(\%seen, { ok => 40 }, 'every read answers 200 with a body')
    or diag explain \%seen;

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');
like(error_log_text(), qr/redis connection lost|unsolicited|no command/i,
     'the connection with the extra reply was dropped');

done_testing();
