package Cast::Daemon;

# A private daemon for one test file: build/bin/cast-<name> forked with
# more environment, its output in a log file of the test's, stopped
# (TERM, then waited for) when the file ends.
#
#   my $pid = start_daemon('persister', $log, { CAST_HTTP_PORT => $p },
#                          '-c', repo_root() . '/conf/persister.conf');
#   my $pid = private_ticketd($log, CAST_REDIS_URL => $url,
#                             CAST_HTTP_PORT => $port, ...);
#                                  # cast-ticketd with a ticket secret of
#                                  # its own and the function library
#   my ($pid, $metric) = private_relay($log, CAST_REDIS_URL => $url);
#                                  # cast-relay on the stack's Kafka,
#                                  # topics and an HTTP port of its own;
#                                  # $metric->('cast_relay_read_total')
#                                  # reads one of its counters (0 absent)
#   healthz($port);                # its /healthz's status line, or
#                                  # 'no answer' within 5 s
#   peak_kb($pid, 'VmHWM');        # the peak of its memory (VmHWM) or of
#                                  # its address space (VmPeak), in KB
#   stop_daemon($pid);             # the same as at the end, now

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use POSIX qw(_exit);
use Cast::Stack qw(repo_root free_port);
use HTTP::Tiny;
use IO::Socket::INET;

our @EXPORT_OK = qw(start_daemon private_ticketd private_relay healthz
                    peak_kb stop_daemon);

my %running;
my $owner = $$;          # a forked child's end stops nothing
my $secret;


sub start_daemon {
    my ($name, $log, $env, @args) = @_;
    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        @ENV{keys %$env} = values %$env;
        open STDERR, '>', $log or _exit(127);
        open STDOUT, '>&', \*STDERR or _exit(127);
        exec(repo_root() . "/build/bin/cast-$name", @args) or _exit(127);
    }

    $running{$pid} = 1;

    return $pid;
}


sub private_ticketd {
    my ($log, %env) = @_;

    unless ($secret) {
        my $dir = tempdir('cast-ticketd-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        $secret = "$dir/secret";
        open my $fh, '>', $secret or die "$secret: $!\n";
        print $fh 's' x 48;
        close $fh;
    }

    return start_daemon('ticketd', $log, {
        CAST_TICKET_SECRET_FILE => $secret,
        CAST_FUNCTIONS_FILE => repo_root() . '/lib/redis/cast.lua',
        %env,
    });
}


sub private_relay {
    my ($log, %env) = @_;
    my $port = free_port();
    my $topic = sprintf 'relay-%d-%d', $$, $port;
    my $pid = start_daemon('relay', $log, {
        CAST_KAFKA_BOOTSTRAP => $ENV{CAST_KAFKA_BOOTSTRAP},
        CAST_TOPIC => $topic, CAST_DLQ_TOPIC => "$topic.dlq",
        CAST_PARTITIONS => 1, CAST_HTTP_PORT => $port, %env,
    });
    my $metric = sub {
        my ($name) = @_;
        my $m = HTTP::Tiny->new(timeout => 2)
            ->get("http://127.0.0.1:$port/metrics")->{content} // '';
        return $m =~ /^\Q$name\E (\d+)/m ? $1 : 0;
    };

    return ($pid, $metric);
}


sub healthz {
    my ($port) = @_;
    my $line = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 5) or die "connect\n";
        print $c "GET /healthz HTTP/1.0\r\n\r\n";
        my $l = <$c>;
        alarm 0;
        $l;
    };
    alarm 0;
    return $line // 'no answer';
}


sub peak_kb {
    my ($pid, $what) = @_;
    open my $s, '<', "/proc/$pid/status" or return -1;
    for (<$s>) { return $1 if /^$what:\s+(\d+)/ }
    return -1;
}


sub stop_daemon {
    my ($pid) = @_;

    return unless delete $running{$pid};
    kill 'TERM', $pid;
    waitpid $pid, 0;
}


END {
    local $?;
    if ($$ == $owner) { stop_daemon($_) for keys %running }
}

1;
