# cast-ticketd asks the Sentinels whenever a write is refused as
# NOREPLICAS (daemons/common/cast_redis.c, cast_redis_demoted), from its
# one loop, which also serves /healthz.  A Sentinel's answer was read with
# a blocking redisCommand(), whose timeout bounds each read, not the
# answer: a Sentinel that sent its answer a byte at a time held ticketd
# for as long as it went on (no ticket, no probe answered), a huge bulk
# was read whole (64 MB here) before it was found too long for a host
# name, and a long array was kept as a million reply objects.  Now the
# whole answer has the timeout and 4 KB as hiredis holds it, and an
# array header whose slots alone pass that is refused as it is read
# (hiredis allocated 16 GB of slots for "*2000000000").  That no
# Sentinel told is a warning when it starts, not at each refused write,
# and its end is logged.  Also: a primary merely short of
# replicas, which the Sentinels still name, is kept (no reconnect), and
# one they no longer name is left.  A fake primary that refuses every
# FCALL as NOREPLICAS, fake Sentinels whose second answer is hostile, and
# a private cast-ticketd for each.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::FakeRedis qw(fake_redis fake_server bulk arr);
use Cast::Daemon qw(private_ticketd healthz peak_kb);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep);

my $dir = tempdir('cast-198-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub count {
    my ($file) = @_;
    open my $c, '<', $file or return 0;
    return scalar(() = <$c>);
}

sub mark {
    my ($file) = @_;
    open my $c, '>>', $file or die "$file: $!";
    print $c "x\n";
    close $c;
}

# a primary that refuses every write for want of replicas; its
# connections (one ROLE each) are counted in $file
sub short_primary {
    my ($file) = @_;
    return fake_redis(sub {
        my $cmd = uc($_[0] // '');
        if ($cmd eq 'ROLE') {
            mark($file);
            return arr(bulk('master'), ":0\r\n", arr());
        }
        return bulk('cast') if $cmd eq 'FUNCTION';
        return "-NOREPLICAS Not enough good replicas to write.\r\n"
            if $cmd eq 'FCALL';
        return "+OK\r\n";
    });
}

# a Sentinel whose answers are counted in $file: the second is
# $hostile->($socket), the others name 127.0.0.1:$port->()
sub sentinel {
    my ($file, $port, $hostile) = @_;
    return fake_server(sub {
        my ($c) = @_;
        my $req = '';
        local $SIG{PIPE} = 'IGNORE';
        sysread($c, $req, 4096);
        mark($file);
        return $hostile->($c) if count($file) == 2;
        syswrite($c, arr(bulk('127.0.0.1'), bulk($port->())));
        sysread($c, $req, 4096);
    })->{port};
}

# a Sentinel that takes every question and never answers; counted
sub silent_sentinel {
    my ($file) = @_;
    return fake_server(sub {
        my ($c) = @_;
        my $b;
        sysread($c, $b, 4096);
        mark($file);
        1 while sysread($c, $b, 4096);
    })->{port};
}

sub ticketd {
    my ($name, $pport, $sport, $hport) = @_;

    return private_ticketd("$dir/$name.log",
                           CAST_REDIS_URL => "redis://127.0.0.1:$pport",
                           CAST_REDIS_SENTINELS => "127.0.0.1:$sport",
                           CAST_REDIS_MASTER_NAME => 'cast',
                           CAST_HTTP_PORT => $hport);
}


my %hostile = (
    # the answer's start, then a byte every 0.2 s, within each read's 1 s
    'trickles its answer' => sub {
        my ($c) = @_;
        syswrite($c, "*2\r\n\$100000\r\n") or return;
        for (1 .. 100000) {
            sleep 0.2;
            syswrite($c, 'x') or return;
        }
    },
    # a 64 MB host name, as fast as it is read
    'answers a 64 MB bulk' => sub {
        my ($c) = @_;
        syswrite($c, "*2\r\n\$67108864\r\n") or return;
        my $chunk = 'h' x 65536;
        for (1 .. 1024) { syswrite($c, $chunk) or return }
        syswrite($c, "\r\n" . bulk('6379'));
    },
    # an array of a million integers, each a reply object in memory
    'answers a million elements' => sub {
        my ($c) = @_;
        syswrite($c, "*1048576\r\n") or return;
        my $chunk = ":1\r\n" x 16384;
        for (1 .. 64) { syswrite($c, $chunk) or return }
    },
    # hiredis allocated the slots as it read the header: 16 GB of address
    # space for these 13 bytes, then seconds of CPU to free them
    'answers a 2000000000-element array header' => sub {
        my ($c) = @_;
        my $b;
        syswrite($c, "*2000000000\r\n") or return;
        sysread($c, $b, 4096);
    },
    # no port: the error named the Sentinel with the answer's (-1)
    'names port 99999' => sub {
        my ($c) = @_;
        my $b;
        syswrite($c, arr(bulk('127.0.0.1'), bulk('99999'))) or return;
        sysread($c, $b, 4096);
    },
    # accepts and never answers
    'never answers' => sub {
        my ($c) = @_;
        my $b;
        sysread($c, $b, 4096);
    },
);

for my $what (sort keys %hostile) {
    (my $name = $what) =~ s/\W+/-/g;
    my $p = short_primary("$dir/$name.primary");
    my $pport = $p->{port};
    my $sport = sentinel("$dir/$name.sentinel", sub { $pport },
                         $hostile{$what});
    my $hport = free_port();
    my $pid = ticketd($name, $pport, $sport, $hport);

    ok(wait_for(30, sub { count("$dir/$name.sentinel") >= 4 }),
       "a Sentinel that $what: ticketd asks again (and again) after it")
        or diag `tail -5 $dir/$name.log`;
    is(count("$dir/$name.primary"), 1,
       '  the primary merely short of replicas, named again, is kept');
    like(healthz($hport), qr{^HTTP/1\.0 \d{3} }, '  /healthz is answered');
    cmp_ok(peak_kb($pid, 'VmHWM'), '<', 32 * 1024,
           '  its memory peak stays under 32 MB');
    cmp_ok(peak_kb($pid, 'VmPeak'), '<', 1024 * 1024,
           '  its address space peak stays under 1 GB');
    is(waitpid($pid, WNOHANG), 0, '  cast-ticketd still runs');
    like(`cat $dir/$name.log`, qr/NOREPLICAS/,
         '  the refused writes are logged');
    like(`cat $dir/$name.log`,
         qr/level=warn .*event=sentinel msg="(redis_)?sentinel/,
         '  so is why the Sentinel did not tell');
    like(`cat $dir/$name.log`,
         qr/event=sentinel msg="sentinel 127\.0\.0\.1:$sport /,
         '  naming the Sentinel');
    like(`cat $dir/$name.log`,
         qr/level=info .*event=sentinel msg="a sentinel names the primary /,
         '  and that it tells again');
}

like(`cat $dir/answers-a-2000000000-element-array-header.log`,
     qr/event=sentinel msg="sentinel .*: a reply of more than 4096 bytes"/,
     'the array header is refused as it is read, and named');

# The first Sentinel never answers, the second names the primary.  At
# each connect both are asked (the first for its 1 s), but at a refused
# write all of them together have the 1 s.  Before, the loop got back to
# its next write (which may succeed) only after each Sentinel had had its
# timeout (its connect's and its answer's): 3 x 2 s, the stack's three
# unreachable.
{
    my $p = short_primary("$dir/shared.primary");
    my $silent = silent_sentinel("$dir/shared.silent");
    my $pport = $p->{port};
    my $good = sentinel("$dir/shared.good", sub { $pport },
                        sub { syswrite($_[0], arr(bulk('127.0.0.1'),
                                                  bulk($pport))) });
    my $hport = free_port();
    my $pid = ticketd('shared', $pport, "$silent 127.0.0.1:$good", $hport);

    ok(wait_for(30, sub { count("$dir/shared.silent") >= 4 }),
       'a silent first Sentinel: ticketd asks it at each refused write')
        or diag `tail -5 $dir/shared.log`;
    is(count("$dir/shared.good"), 1, '  the one after it only at the '
       . 'connect: one timeout for all of them');
    is(count("$dir/shared.primary"), 1, '  the primary is kept');
    my $warned = () = `cat $dir/shared.log` =~ /level=warn .*event=sentinel/g;
    is($warned, 1, '  that none told is a warning once, not one a write');
    like(healthz($hport), qr{^HTTP/1\.0 \d{3} }, '  /healthz is answered');
}

# the Sentinels name another primary: the short one is left for it
{
    my $first = short_primary("$dir/moved.first");
    my $second = short_primary("$dir/moved.second");
    my $named = $first->{port};
    my $sport = sentinel("$dir/moved.sentinel",
                         sub { count("$dir/moved.sentinel") >= 3
                               ? $second->{port} : $first->{port} },
                         sub {
                             syswrite($_[0], arr(bulk('127.0.0.1'),
                                                 bulk($first->{port})));
                         });
    my $pid = ticketd('moved', $first->{port}, $sport, free_port());

    ok(wait_for(30, sub { count("$dir/moved.second") >= 1 }),
       'the Sentinels name another primary: ticketd connects to it')
        or diag `tail -5 $dir/moved.log`;
    is(count("$dir/moved.first"), 1, '  after one connection to the first');
    like(`cat $dir/moved.log`, qr/not the primary any more/,
         '  the reason is logged');
}

done_testing();
