# cast-admin check against a Redis whose SCAN never ends: HSCAN or ZSCAN
# that never answers cursor 0 (the same cursor again and again, or a new
# one each time with new names).  cast-admin followed such a cursor
# forever, storing every name it was given; now a scan is bounded by the
# size its key had when it began (HLEN, ZCARD: 64 + n / 64 pages, 1000 +
# 2n entries) and a cursor that comes back as it was sent ends it: the
# error names the scan, cast-admin exits 2 (could not compare).  A fake
# Redis on a private port; PostgreSQL is the test stack's.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::FakeRedis qw(fake_redis stop_fake bulk arr);
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $ADMIN = repo_root() . '/build/bin/cast-admin';

# cast-admin check against a Redis answering $scan->($name, @args) to
# HSCAN and ZSCAN, $size to HLEN and ZCARD: (exit status, signal, output)
sub check_against {
    my ($scan, $size) = @_;
    my $srv = fake_redis(sub {
        my $name = uc $_[0];
        return $name eq 'HSCAN' || $name eq 'ZSCAN' ? $scan->(@_)
               : $name eq 'HLEN' || $name eq 'ZCARD' ? ":$size\r\n"
               : $name eq 'EXISTS' ? ":1\r\n"
               : $name eq 'GET' ? "\$-1\r\n"
               : "+OK\r\n";
    });

    local $ENV{CAST_REDIS_URL} = "redis://127.0.0.1:$srv->{port}";
    local $ENV{CAST_REDIS_SENTINELS} = '';
    my $out = `timeout -s KILL 20 $ADMIN check 2>&1`;
    my $st = $?;

    stop_fake($srv);
    return ($st >> 8, $st & 127, $out);
}

my $page = 0;

my @CASES = (
    [ 'HSCAN answering cursor 1, always', 0,
      sub { arr(bulk('1'), arr()) },
      qr/HSCAN \{cast\}:count: the scan does not end \(cursor 1 after 2 pages/ ],
    [ 'HSCAN answering the cursor it was sent, with a name', 5,
      sub { arr(bulk($_[2] eq '0' ? '7' : $_[2]), arr(bulk('alice'), bulk('1'))) },
      qr/HSCAN \{cast\}:count: the scan does not end \(cursor 7 after 2 pages/ ],
    [ 'HSCAN answering a new cursor and new names each time', 10,
      sub { $page++; arr(bulk($page), arr(map { (bulk("n$page-$_"), bulk('1')) } 1 .. 50)) },
      qr/HSCAN \{cast\}:count: the scan does not end \(cursor \d+ after \d+ pages and 1\d\d\d entries, of 10 at its start\)/ ],
    [ 'HSCAN answering new cursors, empty pages, forever', 6400,
      sub { $page++; arr(bulk($page), arr()) },
      qr/HSCAN \{cast\}:count: the scan does not end \(cursor \d+ after 164 pages and 0 entries, of 6400 at its start\)/ ],
    [ 'ZSCAN never ending, HSCAN as Redis would', 0,
      sub { uc $_[0] eq 'ZSCAN' ? arr(bulk('3'), arr()) : arr(bulk('0'), arr()) },
      qr/ZSCAN \{cast\}:top: the scan does not end \(cursor 3 after 2 pages/ ],
);

for my $case (@CASES) {
    my ($what, $size, $scan, $says) = @$case;
    $page = 0;
    my ($rc, $sig, $out) = check_against($scan, $size);

    is($sig, 0, "$what: stops by itself, no signal") or diag $out;
    is($rc, 2, "$what: exit 2, could not compare") or diag $out;
    like($out, $says, "$what: says why") or diag $out;
}

# a size that is not a count: bad reply, exit 2
my ($rc, $sig, $out) = check_against(sub { arr(bulk('0'), arr()) }, '-1');
is($rc, 2, 'HLEN answering -1: exit 2') or diag $out;
like($out, qr/HLEN \{cast\}:count: bad reply/, '  says so') or diag $out;

# an honest Redis's replies: a few pages, then 0: cast-admin compares
($rc, $sig, $out) = check_against(sub {
    my $c = $_[2];
    return arr(bulk($c eq '0' ? '4' : $c eq '4' ? '2' : '0'), arr());
}, 0);
is($sig, 0, 'a scan of three pages ending at 0: no signal') or diag $out;
like($out, qr/^check: redis 0 names/m, '  and it compares') or diag $out;

done_testing();
