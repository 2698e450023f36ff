# cast-admin check against a Redis that answers HSCAN with what a real
# one never gives (a faulty proxy, a hostile server): a cursor or a field
# that is not a string, a count that is not an integer, an odd number of
# elements.  cast-admin says "bad reply" and exits 2 (could not compare),
# never crashes, loops or counts garbage as 0.  A fake Redis on a private
# port; PostgreSQL is the test stack's.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::FakeRedis qw(fake_redis stop_fake bulk arr);
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $ADMIN = repo_root() . '/build/bin/cast-admin';

# a Redis answering every HSCAN and ZSCAN with $hscan, until stopped
sub fake_for {
    my ($hscan) = @_;

    return fake_redis(sub {
        my $name = uc $_[0];
        return $name eq 'HSCAN' || $name eq 'ZSCAN' ? $hscan
               : $name eq 'HLEN' || $name eq 'ZCARD' ? ":0\r\n"
               : $name eq 'EXISTS' ? ":1\r\n"
               : $name eq 'GET' ? "\$-1\r\n"
               : "+OK\r\n";
    });
}

# cast-admin check against $hscan: (exit status, signal, output)
sub check_against {
    my ($hscan) = @_;
    my $srv = fake_for($hscan);

    local $ENV{CAST_REDIS_URL} = "redis://127.0.0.1:$srv->{port}";
    local $ENV{CAST_REDIS_SENTINELS} = '';
    my $out = `timeout -s KILL 10 $ADMIN check 2>&1`;
    my $st = $?;

    stop_fake($srv);
    return ($st >> 8, $st & 127, $out);
}

my @CASES = (
    [ 'a count that is an integer reply',
      arr(bulk('0'), arr(bulk('alice'), ":5\r\n")) ],
    [ 'a field that is nil',
      arr(bulk('0'), arr("\$-1\r\n", bulk('5'))) ],
    [ 'a cursor that is an integer reply',
      arr(":7\r\n", arr()) ],
    [ 'a cursor too long for a cursor',
      arr(bulk('9' x 40), arr()) ],
    [ 'a count that is not a number',
      arr(bulk('0'), arr(bulk('alice'), bulk('many'))) ],
    [ 'an odd number of elements',
      arr(bulk('0'), arr(bulk('alice'), bulk('5'), bulk('bob'))) ],
    [ 'the pairs not in an array',
      arr(bulk('0'), bulk('alice')) ],
    [ 'a pair nested one array deeper',
      arr(bulk('0'), arr(arr(bulk('alice'), bulk('5')))) ],
);

for my $case (@CASES) {
    my ($what, $reply) = @$case;
    my ($rc, $sig, $out) = check_against($reply);

    is($sig, 0, "$what: no signal") or diag $out;
    is($rc, 2, "$what: exit 2, could not compare") or diag $out;
    like($out, qr/HSCAN \{cast\}:count: bad reply/, "$what: says so")
        or diag $out;
}

# the same fake Redis, answering as a real one would: cast-admin compares
my ($rc, $sig, $out) = check_against(arr(bulk('0'), arr()));
is($sig, 0, 'a well-formed empty scan: no signal') or diag $out;
like($out, qr/^check: redis 0 names/m, '  and it compares') or diag $out;

done_testing();
