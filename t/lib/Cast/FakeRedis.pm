package Cast::FakeRedis;

# A fake Redis (or Sentinel) on a private loopback port, for a test that
# needs replies a real one never gives: a forked server that reads RESP
# commands and writes whatever the test's function answers, until
# stopped.
#
#   my $srv = fake_redis(sub { my @cmd = @_; ... return $reply });
#   $srv->{port};                  # where it listens
#   stop_fake($srv);               # kills it and waits (also at the end)
#   fake_server(sub { my ($socket) = @_; ... })  # any other protocol
#   read_command($socket)          # one command's words, () at the end
#   bulk('x'), arr(@items)         # RESP bulk string and array
#   replica_role($pport)           # ROLE's answer of a linked replica
#   fake_replica($pport, sub { my @cmd = @_; ... return $reply })
#                                  # a replica linked to that primary as
#                                  # ROLE goes, whose FCALLs the test's
#                                  # function answers, the rest +OK
#   fake_sentinel($pport, $rport)  # a Sentinel naming that primary and
#                                  # that replica, up and linked
#   my ($srv, $asks) = sentinel_then($pport, sub { my ($c, $n) = @_ })
#                                  # a Sentinel naming that primary at the
#                                  # first ask, the later ones (the n-th,
#                                  # its socket) the test's; $asks->()
#                                  # counts them
#   fake_proxy($rport, sub { my ($c, @cmd) = @_; ... })
#                                  # a Redis in front of the real one on
#                                  # that port: each command the test's
#                                  # function did not answer itself on
#                                  # $c (it returns false) goes through
#   my ($tally, $count) = shared_count();
#                                  # a count the forked servers share:
#                                  # $tally->() adds one and returns it,
#                                  # $count->() reads it

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(_exit);

our @EXPORT_OK = qw(fake_redis fake_server stop_fake bulk arr replica_role
                    fake_replica fake_sentinel moving_sentinel shared_count
                    sentinel_then fake_proxy read_command read_reply);

my %running;
my $owner = $$;          # a forked child's end stops nothing


sub bulk { my ($s) = @_; return '$' . length($s) . "\r\n$s\r\n" }

sub arr { return '*' . scalar(@_) . "\r\n" . join '', @_ }


sub replica_role {
    my ($pport) = @_;

    return arr(bulk('slave'), bulk('127.0.0.1'), ":$pport\r\n",
               bulk('connected'), ":0\r\n");
}


sub fake_replica {
    my ($pport, $read) = @_;

    return fake_redis(sub {
        my $cmd = uc($_[0] // '');
        return replica_role($pport) if $cmd eq 'ROLE';
        return $cmd =~ /^FCALL/ ? $read->(@_) : "+OK\r\n";
    });
}


sub fake_sentinel {
    my ($pport, $rport) = @_;

    return fake_redis(sub {
        my ($cmd, $sub) = (uc($_[0] // ''), uc($_[1] // ''));
        return "+OK\r\n" unless $cmd eq 'SENTINEL';
        return arr(bulk('127.0.0.1'), bulk($pport))
            if $sub eq 'GET-MASTER-ADDR-BY-NAME';
        return arr(arr(map { bulk($_) } 'name', "127.0.0.1:$rport",
                       'ip', '127.0.0.1', 'port', $rport, 'flags', 'slave',
                       'master-link-status', 'ok'));
    });
}


# A Sentinel that names 127.0.0.1 and the port last given to the sub it
# returns as the primary (the port kept in a file under $dir: the fake
# answers from a process of its own); ($sentinel, $name).
sub moving_sentinel {
    my ($dir, $port) = @_;
    my $file = "$dir/named";

    my $name = sub {
        my ($p) = @_;
        open my $fh, '>', "$file.tmp" or die "$!\n";
        print {$fh} $p;
        close $fh;
        rename "$file.tmp", $file or die "$!\n";
    };
    $name->($port);

    my $sentinel = fake_redis(sub {
        my ($cmd, $sub) = (uc($_[0] // ''), uc($_[1] // ''));
        return "+OK\r\n" unless $cmd eq 'SENTINEL';
        return "-ERR unknown\r\n" unless $sub eq 'GET-MASTER-ADDR-BY-NAME';
        open my $fh, '<', $file or return "-ERR none\r\n";
        my $p = <$fh>;
        return arr(bulk('127.0.0.1'), bulk($p));
    });

    return ($sentinel, $name);
}

# one command from $c: its words (RESP or inline), or () at the end
sub read_command {
    my ($c) = @_;
    my $line = <$c> // return ();

    return split ' ', $line unless $line =~ /^\*(\d+)\r\n$/;
    my @words;
    for (1 .. $1) {
        my $len = <$c> // return ();
        $len =~ /^\$(\d+)\r\n$/ or return ();
        my $word = '';
        read($c, $word, $1 + 2) == $1 + 2 or return ();
        push @words, substr($word, 0, $1);
    }
    return @words;
}


# one reply from $r, whole, as it came; undef at the end
sub read_reply {
    my ($r) = @_;
    my $line = <$r> // return undef;
    my $out = $line;

    if ($line =~ /^\$(\d+)\r\n$/) {
        my $body = '';
        read($r, $body, $1 + 2) == $1 + 2 or return undef;
        $out .= $body;
    } elsif ($line =~ /^\*(\d+)\r\n$/) {
        for (1 .. $1) {
            my $item = read_reply($r) // return undef;
            $out .= $item;
        }
    }
    return $out;
}


sub fake_proxy {
    my ($rport, $hook) = @_;

    return fake_server(sub {
        my ($c) = @_;
        my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $rport) or return;

        local $SIG{PIPE} = 'IGNORE';
        $c->autoflush(1);
        while (my @cmd = read_command($c)) {
            next if $hook->($c, @cmd);
            print $r arr(map { bulk($_) } @cmd);
            my $reply = read_reply($r) // return;
            print $c $reply or return;
        }
    });
}


sub shared_count {
    my $dir = tempdir('cast-count-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $file = "$dir/n";
    my $count = sub {
        open my $c, '<', $file or return 0;
        return scalar(() = <$c>);
    };
    my $tally = sub {
        open my $f, '>>', $file or die "$file: $!";
        print $f "x\n";
        close $f;
        return $count->();
    };

    return ($tally, $count);
}


sub sentinel_then {
    my ($pport, $later) = @_;
    my ($tally, $count) = shared_count();
    my $srv = fake_server(sub {
        my ($c) = @_;
        my $b;

        local $SIG{PIPE} = 'IGNORE';
        sysread($c, $b, 4096) or return;

        my $n = $tally->();
        if ($n == 1) {
            syswrite($c, arr(bulk('127.0.0.1'), bulk($pport)));
        } else {
            $later->($c, $n);
        }
        1 while sysread($c, $b, 4096);
    });

    return ($srv, $count);
}


sub fake_redis {
    my ($answer) = @_;

    return fake_server(sub {
        my ($c) = @_;
        while (my @cmd = read_command($c)) {
            print $c $answer->(@cmd);
        }
    });
}


# fake_server(sub { my ($socket) = @_; ... }): a forked server that hands
# each connection it accepts to the function, then closes it; the same
# {pid, port} as fake_redis, stopped the same way
sub fake_server {
    my ($serve) = @_;
    my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "listen: $!\n";
    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        while (my $c = $l->accept) {
            $serve->($c);
            close $c;
        }
        _exit(0);
    }

    my $port = $l->sockport;
    close $l;
    $running{$pid} = 1;

    return { pid => $pid, port => $port };
}


sub stop_fake {
    my ($srv) = @_;

    return unless delete $running{$srv->{pid}};
    kill 'TERM', $srv->{pid};
    waitpid $srv->{pid}, 0;
}


END { kill 'TERM', keys %running if %running && $$ == $owner; }

1;
