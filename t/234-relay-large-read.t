# cast-relay reads each XREAD whole within redis_timeout_ms (2 s) and
# within batch_max outbox entries of 768 KB as hiredis holds them
# (daemons/common/cast_redis.c, relay.c).  The largest outbox nginx
# makes: batch_max (500) entries, packed ones of 999 votes each and
# batch ones of 430, voter and name of 64 bytes, counts and versions of
# 16 digits, some 100 MB in one reply.  A private relay on a private
# Redis holding them and the stack's Kafka (topics of the file's): it
# reads them, no reply refused nor cut for time, and Kafka confirms
# every event.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Daemon qw(private_relay stop_daemon);
use Cast::PrivateRedis qw(start_redis cmd_ok);
use File::Temp qw(tempdir);
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_KAFKA_BOOTSTRAP};

my $sock = start_redis();
my ($n, $packed, $batch) = (500, 999, 430);

# the packed half: 999 votes an entry (an entry holds 6000 strings)
my $value = join "\n", '1765000000000', '1234567890', '1',
    map { ('64', 'v' x 64, '64', sprintf('%064d', $_ % 7),
           '9007199254740991', '9007199254740991') } 1 .. $packed;
cmd_ok('XADD', '{cast}:outbox', '*', 'p', $value) for 1 .. $n / 2;

# the batch half, as written while no relay runs (the backlog of an
# outage): the votes of one call, 430 at most in nginx's 64 KB of
# arguments, 8 strings each
my @fields = ('b', '1765000000000', map {
    ('1234567890', $_, 'v' x 64, '1', sprintf('%064d', $_ % 7), '1',
     '9007199254740991', '9007199254740991')
} 1 .. $batch);
cmd_ok('XADD', '{cast}:outbox', '*', @fields) for 1 .. $n / 2;
my $events = $n / 2 * ($packed + $batch);

my $dir = tempdir(CLEANUP => 1);
my ($pid, $metric) = private_relay("$dir/relay.log",
                                   CAST_REDIS_URL => "unix://$sock");

ok(wait_for(120,
            sub { $metric->('cast_relay_delivered_total') >= $events }),
   "every event of $n entries delivered ($events)")
    or diag 'read ' . $metric->('cast_relay_read_total') . ', delivered '
            . $metric->('cast_relay_delivered_total');
is($metric->('cast_relay_redis_errors_total'), 0, 'no Redis error');

stop_daemon($pid);
my $log = do { open my $fh, '<', "$dir/relay.log"; local $/; <$fh> // '' };
unlike($log, qr/refused|no whole reply in time/,
       'no reply refused or cut for time');

done_testing();
