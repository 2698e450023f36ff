# A daemon's Redis connection, the one it writes and reads through: an
# array header is refused past what a reply can hold (t/223), but the
# replies were read with hiredis's blocking read, whose timeout bounds
# each read() only, and which keeps a bulk string's bytes until its last
# has come.  A primary that sent a reply a byte at a time held the
# daemon's one loop for as long as it went on (cast-ticketd minted
# nothing, /healthz was not answered); one that announced "$2000000000"
# and streamed it grew the daemon by what it sent.  Now a reply is read
# whole within the link's timeout (cast-ticketd's: half a period, at most
# 1 s) and within 16 MB as hiredis holds it: past either the link is
# dropped as lost (the reply too large logged as an error, with the
# address and the bound), and made again after the backoff.
#
# Fake primaries, the daemon's redis_url, answering every FCALL so; a
# private cast-ticketd for each.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::FakeRedis qw(fake_server read_command bulk);
use Cast::Daemon qw(private_ticketd healthz peak_kb stop_daemon);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep);

my $dir = tempdir('cast-225-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub count {
    my ($file) = @_;
    open my $c, '<', $file or return 0;
    return scalar(() = <$c>);
}

sub text {
    my ($file) = @_;
    open my $f, '<', $file or return '';
    local $/;
    return <$f> // '';
}

# a primary whose connections are counted in $file (one function load
# each), every FCALL answered by $hostile->($socket)
sub primary {
    my ($file, $hostile) = @_;
    return fake_server(sub {
        my ($c) = @_;
        local $SIG{PIPE} = 'IGNORE';
        while (my @cmd = read_command($c)) {
            my $w = uc($cmd[0]);
            if ($w eq 'FCALL') {
                $hostile->($c);
                return;
            }
            if ($w eq 'FUNCTION') {
                open my $m, '>>', $file or die "$file: $!";
                print $m "x\n";
                close $m;
                print $c bulk('cast');
                next;
            }
            print $c "+OK\r\n";
        }
    })->{port};
}


my $too_large = 'sent a reply of more than 16777216 bytes: refused';

my %hostile = (
    # a bulk's header, then a byte every 0.2 s, within each read's 1 s
    'trickles its reply' => [ sub {
        my ($c) = @_;
        syswrite($c, "\$100000\r\n") or return;
        for (1 .. 100000) {
            sleep 0.2;
            syswrite($c, 'x') or return;
        }
    }, qr/event=redis_down msg="[^"]*no whole reply in time/ ],
    # a 2 GB bulk, as fast as it is read (at most 512 MB a reply)
    'streams a 2 GB bulk' => [ sub {
        my ($c) = @_;
        syswrite($c, "\$2000000000\r\n") or return;
        my $chunk = 'x' x 65536;
        for (1 .. 8192) { syswrite($c, $chunk) or return }
    }, qr/level=err .*msg="redis 127\.0\.0\.1:\d+ \Q$too_large\E"/ ],
);

for my $what (sort keys %hostile) {
    my ($serve, $said) = @{ $hostile{$what} };
    (my $name = $what) =~ s/\W+/-/g;
    my $pport = primary("$dir/$name.primary", $serve);
    my $hport = free_port();
    my $log = "$dir/$name.log";
    my $pid = private_ticketd($log,
                              CAST_REDIS_URL => "redis://127.0.0.1:$pport",
                              CAST_HTTP_PORT => $hport);

    ok(wait_for(30, sub { count("$dir/$name.primary") >= 3 }),
       "a primary that $what: the link is dropped, and made again")
        or diag `tail -5 $log`;
    like(text($log), $said, '  why is logged');
    like(healthz($hport), qr{^HTTP/1\.0 \d{3} }, '  /healthz is answered');
    cmp_ok(peak_kb($pid, 'VmHWM'), '<', 64 * 1024,
           '  its memory peak stays under 64 MB');
    is(waitpid($pid, WNOHANG), 0, '  cast-ticketd still runs');
    stop_daemon($pid);
}

done_testing();
