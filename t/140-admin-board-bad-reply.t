# cast-admin check when the counts read well but the leaderboard or the
# total does not: a ZSCAN or GET reply a real Redis never gives (a
# faulty proxy, a hostile server).  The leaderboard could not be
# compared: exit 2 (could not compare), as for a bad HSCAN reply (t/130),
# never 1 (they differ), and a total that is not an integer is never
# counted as 0.  A fake Redis on a private port; PostgreSQL is the test
# stack's.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::FakeRedis qw(fake_redis stop_fake bulk arr);
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $ADMIN = repo_root() . '/build/bin/cast-admin';

# a Redis with empty hashes, answering ZSCAN with $zscan and GET with
# $get, until stopped
sub fake_for {
    my ($zscan, $get) = @_;

    return fake_redis(sub {
        my $name = uc $_[0];
        return $name eq 'HSCAN' ? arr(bulk('0'), arr())
               : $name eq 'ZSCAN' ? $zscan
               : $name eq 'HLEN' || $name eq 'ZCARD' ? ":0\r\n"
               : $name eq 'EXISTS' ? ":1\r\n"
               : $name eq 'GET' ? $get
               : "+OK\r\n";
    });
}

# cast-admin check against them: (exit status, signal, output)
sub check_against {
    my $srv = fake_for(@_);

    local $ENV{CAST_REDIS_URL} = "redis://127.0.0.1:$srv->{port}";
    local $ENV{CAST_REDIS_SENTINELS} = '';
    my $out = `timeout -s KILL 10 $ADMIN check 2>&1`;
    my $st = $?;

    stop_fake($srv);
    return ($st >> 8, $st & 127, $out);
}

# the output but its "differ" lines (PostgreSQL may hold many names)
sub brief { return join "\n", grep { !/^differ\t/ } split /\n/, $_[0] }

my $empty = arr(bulk('0'), arr());
my $nil = "\$-1\r\n";

my @CASES = (
    [ 'a leaderboard score that is not a number',
      arr(bulk('0'), arr(bulk('alice'), bulk('many'))), $nil,
      qr/ZSCAN \{cast\}:top: bad reply/ ],
    [ 'a leaderboard cursor that is an integer reply',
      arr(":7\r\n", arr()), $nil,
      qr/ZSCAN \{cast\}:top: bad reply/ ],
    [ 'a total that is not a number',
      $empty, bulk('many'),
      qr/GET \{cast\}:total: bad reply/ ],
    [ 'a total that is an array',
      $empty, arr(bulk('5')),
      qr/GET \{cast\}:total: bad reply/ ],
);

for my $case (@CASES) {
    my ($what, $zscan, $get, $says) = @$case;
    my ($rc, $sig, $out) = check_against($zscan, $get);

    is($sig, 0, "$what: no signal") or diag brief($out);
    is($rc, 2, "$what: exit 2, could not compare") or diag brief($out);
    like($out, $says, "$what: says so") or diag brief($out);
    like($out, qr/^check: the leaderboard could not be read$/m,
         "$what: the leaderboard not compared") or diag brief($out);
}

# the same fake Redis, answering as a real one would: it compares
my ($rc, $sig, $out) = check_against($empty, bulk('0'));
is($sig, 0, 'a well-formed leaderboard: no signal') or diag brief($out);
like($out, qr/^check: leaderboard and total, 0 differences/m,
     '  and it compares') or diag brief($out);
cmp_ok($rc, '<', 2, '  exit 0 or 1 (PostgreSQL may hold votes)')
    or diag brief($out);

done_testing();
