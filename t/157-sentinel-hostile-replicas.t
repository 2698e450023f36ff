# cast_redis_replica_reads with a hostile Sentinel: its SENTINEL REPLICAS
# answers name the primary itself, absurd ports and addresses, entries of
# the wrong types, a long list with one replica up, and no array at all,
# in turn.  The worker never reads from any of them (none is a linked
# replica), every query answers from the primary, the Sentinel is asked
# with the backoff (not in a loop), and nothing is read out of bounds
# (the sanitized pass).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary sentinel_nginx);
use Cast::FakeRedis qw(fake_redis bulk arr);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();

my $dir = tempdir('cast-157-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $nobody = free_port();

sub entry { arr(map { /^[:*\$+-]/ ? $_ : bulk($_) } @_) }
sub up { entry('name', 'x', 'ip', $_[0], 'port', $_[1], 'flags', 'slave',
               'master-link-status', 'ok') }

my @answers = (
    arr(up('127.0.0.1', $pport)),                  # the primary itself
    arr(up('127.0.0.1', 0)), arr(up('127.0.0.1', 70000)),
    arr(up('127.0.0.1', -1)), arr(up('127.0.0.1', 'abc')),
    arr(up('127.0.0.1', '99999999999999999999999')),
    arr(up('', $nobody)), arr(up('1' x 300, $nobody)),
    arr(up("127.0.0.1\0junk", $nobody)),
    arr(entry('ip', ':1', 'port', ":$nobody", 'flags', ':0',
              'master-link-status', ':1')),
    arr(entry('ip'), entry(), ":5\r\n", "\$-1\r\n", "*-1\r\n",
        entry('ip', '127.0.0.1', 'port')),
    arr(entry('flags', 'slave', 'master-link-status', 'ok')),
    arr(entry(('flags', 'slave') x 3, 'master-link-status', 'ok',
              'port', $nobody)),
    arr((entry('ip', '127.0.0.1', 'port', $nobody, 'flags', 's_down,slave',
               'master-link-status', 'ok')) x 20000,
        up('127.0.0.1', $nobody)),
    "*0\r\n", ":1\r\n", "-ERR no\r\n", "\$-1\r\n", bulk('x' x 1000),
);

my $sentinel = fake_redis(sub {
    my ($cmd, $sub) = (uc($_[0] // ''), uc($_[1] // ''));
    return "+OK\r\n" unless $cmd eq 'SENTINEL';
    return arr(bulk('127.0.0.1'), bulk($pport))
        if $sub eq 'GET-MASTER-ADDR-BY-NAME';
    return "-ERR unknown\r\n" unless $sub eq 'REPLICAS';
    open my $fh, '>>', "$dir/asks" or die;
    print $fh "x\n";
    close $fh;
    my $n = -s "$dir/asks";
    return $answers[($n / 2 - 1) % @answers];
});
my $sport = $sentinel->{port};

my $base = sentinel_nginx($sport, 'cast157', '500ms', replica_reads => 1);
sub asks { return int((-s "$dir/asks" // 0) / 2) }

ok(wait_for(20, sub { asks() >= 2 * @answers }),
   'the Sentinel was asked through every answer, twice')
    or diag asks();

my %answers;
for (1 .. 10) {
    my (undef, $json) = graphql('{query(username:"nobody-157")}', undef,
                                url => "$base/graphql", timeout => 3);
    $answers{ $json && $json->{data} && !$json->{errors}
              ? 'answered' : 'failed' }++;
}
is_deeply(\%answers, { answered => 10 }, 'every query answers')
    or diag explain \%answers;
like(HTTP::Tiny->new->get("$base/readyz")->{content} // '',
     qr/ redis 127\.0\.0\.1:$pport reads 127\.0\.0\.1:$pport$/,
     '/readyz says the reads go to the primary');

my $from = asks();
sleep 3;
my $asked = asks() - $from;
cmp_ok($asked, '<=', 12, "the Sentinel asked with the backoff ($asked in 3 s)");

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');
unlike(error_log_text(), qr/reads go there/, 'no replica was read from');

done_testing();
