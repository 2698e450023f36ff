package CastK8s;

# Helpers of k8s/tests/e2e.t: commands with their output kept in the log
# folder, kubectl, a port-forward that restarts itself, GraphQL calls over
# it, and vote traffic with a client-side ledger.
#
# The traffic is the local suites' (t/lib/Cast/Ledger.pm), sent through the
# port-forward: a vote without a definite answer (connection lost,
# port-forward restarting, UNAVAILABLE) is sent again with its idempotency
# key until it gets one, so the ledger holds exactly the acknowledged votes.

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(_exit setsid);
use Time::HiRes qw(sleep time);

use Cast::Ledger;

our @EXPORT = qw(
    logs_dir step tail shell_quote kubectl kubectl_ok kubectl_json
    port_forward_start port_forward_stop port_forward_url
    graphql cas_ticket
    traffic_start traffic_stop traffic_result traffic_rounds
    ticket_watch_start ticket_watch_result
    redis_counts pg_counts wait_agree
);

my $JSON = JSON::PP->new->canonical;
my $LOGS;
my ($PF_PID, $PF_PORT);


sub logs_dir {
    $LOGS = $_[0] if @_;
    return $LOGS;
}


# step($name, @cmd): runs @cmd with stdout and stderr appended to
# $LOGS/$name.log; (1, '') on success, else (0, the log's last lines).
sub step {
    my ($name, @cmd) = @_;
    my $log = "$LOGS/$name.log";

    open my $fh, '>>', $log or die "$log: $!";
    printf {$fh} "\n### %s UTC: %s\n", scalar gmtime, join ' ', @cmd;
    close $fh;
    my $rc = system(join(' ', map { shell_quote($_) } @cmd)
                    . ' >>' . shell_quote($log) . ' 2>&1 </dev/null');
    return (1, '') if $rc == 0;
    return (0, tail($log, 40));
}


sub tail {
    my ($file, $n) = @_;

    open my $fh, '<', $file or return '';
    my @l = <$fh>;
    close $fh;
    splice @l, 0, @l - $n if @l > $n;
    return join '', @l;
}


sub shell_quote {
    my ($s) = @_;

    return $s if $s =~ m{^[\w@%+=:,./-]+$};
    $s =~ s/'/'\\''/g;
    return "'$s'";
}


# kubectl(@args): its stdout (stderr goes to $LOGS/kubectl.log); in list
# context (stdout, exit status)
sub kubectl {
    my @args = @_;
    my $cmd = join ' ', map { shell_quote($_) }
              ($ENV{KUBECTL} // 'kubectl', @args);
    my $out = `$cmd 2>>$LOGS/kubectl.log </dev/null`;
    my $rc = $? >> 8;

    return wantarray ? ($out, $rc) : $out;
}


sub kubectl_ok {
    my (undef, $rc) = kubectl(@_);
    return $rc == 0;
}


sub kubectl_json {
    my ($out, $rc) = kubectl(@_, '-o', 'json');

    return undef if $rc != 0;
    return eval { $JSON->decode($out) };
}


# --- the port-forward --------------------------------------------------------

# A child that runs `kubectl port-forward svc/cast-nginx PORT:80` and starts
# it again whenever it ends (its pod was deleted): the client sees refused
# connections for a moment, as it would behind a load balancer failing over.
sub port_forward_start {
    my ($ns) = @_;
    my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Listen => 1)
        or die "no free port: $!";

    $PF_PORT = $probe->sockport;
    close $probe;

    $PF_PID = fork // die "fork: $!";
    if ($PF_PID == 0) {
        setsid();
        open STDOUT, '>>', "$LOGS/port-forward.log";
        open STDERR, '>&', \*STDOUT;
        $| = 1;
        $SIG{TERM} = sub { kill 'TERM', -$$; _exit(0) };
        while (1) {
            print scalar(gmtime), " UTC: port-forward starts\n";
            # without its line per connection
            system(join(' ', map { shell_quote($_) }
                        $ENV{KUBECTL} // 'kubectl', '-n', $ns,
                        'port-forward', '--address', '127.0.0.1',
                        'svc/cast-nginx', "$PF_PORT:80")
                   . " 2>&1 | grep --line-buffered -v '^Handling connection'");
            print scalar(gmtime), " UTC: port-forward ended ($?)\n";
            sleep 0.5;
        }
    }

    for (1 .. 150) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $PF_PORT, Timeout => 1);
        return port_forward_url() if $s;
        sleep 0.2;
    }
    return undef;
}


sub port_forward_url {
    return "http://127.0.0.1:$PF_PORT/graphql";
}


sub port_forward_stop {
    return unless $PF_PID;
    kill 'TERM', $PF_PID;
    waitpid $PF_PID, 0;
    $PF_PID = undef;
}


# --- GraphQL -----------------------------------------------------------------

# graphql($query, \%variables): (HTTP status, decoded JSON or undef);
# status 599 when there was no answer
sub graphql {
    my ($query, $vars) = @_;
    my $res = HTTP::Tiny->new(timeout => 5, keep_alive => 0)->post(
        port_forward_url(), {
            headers => { 'Content-Type' => 'application/json' },
            content => $JSON->encode({ query => $query,
                                       variables => $vars // {} }),
        });

    return ($res->{status}, eval { $JSON->decode($res->{content}) });
}


# (ticket, remaining uses, validUntil) or ()
sub cas_ticket {
    my (undef, $json) = graphql('{cas{ticket remainingUsage validUntil}}');
    my $cas = $json && $json->{data} && $json->{data}{cas};

    return $cas ? ($cas->{ticket}, $cas->{remainingUsage}, $cas->{validUntil})
                : ();
}


# --- vote traffic with a ledger ----------------------------------------------

# The child: Cast::Ledger's traffic through the port-forward, until `calls`
# votes were sent or the stop file appears; a round count in a file for
# traffic_rounds.  Refused connections (the port-forward restarting) are
# unsure votes; the resends take 2 minutes at most.
sub traffic {
    my (%opt) = @_;

    return ledger_traffic(
        %opt,
        url => port_forward_url(),
        cas_ticket => \&cas_ticket,
        timeout => 15,
        settle => 120,
        pause => 0.5,
        keep_going => 1,
        more => sub {
            my ($sent) = @_;
            !-e "$opt{file}.stop" && (!$opt{calls} || $sent < $opt{calls})
        },
        round => sub {
            my ($stat) = @_;
            open my $fh, '>', "$opt{file}.rounds" or return;
            print {$fh} "$stat->{rounds} $stat->{ok} $stat->{unsure}\n";
            close $fh;
        },
    );
}


# traffic_start(names => \@n, calls => N (0: until traffic_stop),
# per_round => 100, width => 3, tag => 't'): the traffic in a child
sub traffic_start {
    my (%opt) = @_;

    $opt{file} = "$LOGS/traffic.$opt{tag}.json";
    $opt{per_round} //= 100;
    $opt{width} //= 3;
    unlink $opt{file}, "$opt{file}.stop", "$opt{file}.rounds";

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $res = eval { traffic(%opt) } // { error => "$@" };
        open my $fh, '>', $opt{file} or _exit(1);
        print {$fh} $JSON->encode($res);
        close $fh;
        _exit(0);
    }
    return { pid => $pid, file => $opt{file} };
}


# (rounds, acknowledged votes, unsure votes) so far
sub traffic_rounds {
    my ($run) = @_;

    open my $fh, '<', "$run->{file}.rounds" or return (0, 0, 0);
    my @v = split ' ', <$fh> // '';
    close $fh;
    return @v;
}


# waits for the traffic: { ledger => {name => votes}, stat => {...} }
sub traffic_result {
    my ($run) = @_;

    waitpid $run->{pid}, 0;
    open my $fh, '<', $run->{file} or return { error => "no result: $!" };
    local $/;
    my $res = eval { $JSON->decode(<$fh>) } // { error => "bad result: $@" };
    close $fh;
    return $res;
}


# --- the current ticket, watched ---------------------------------------------

# A child asking for the current ticket every 100 ms until the stop file:
# counts the answers that held a ticket, the GraphQL errors (no current
# ticket: a gap in the rotation) and the calls without an HTTP answer.
sub ticket_watch_start {
    my $file = "$LOGS/ticket-watch.json";
    unlink $file, "$file.stop";

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my %s = (tickets => 0, errors => 0, no_answer => 0, distinct => 0,
                 first_error => '');
        my $last = '';
        while (!-e "$file.stop") {
            my (undef, $json) = graphql('{cas{ticket validUntil}}');
            my $t = $json && $json->{data} && $json->{data}{cas}
                    && $json->{data}{cas}{ticket};
            if ($t) {
                $s{tickets}++;
                $s{distinct}++ if $t ne $last;
                $last = $t;
            } elsif ($json) {
                $s{errors}++;
                $s{first_error} ||= $JSON->encode($json);
            } else {
                $s{no_answer}++;
            }
            sleep 0.1;
        }
        open my $fh, '>', $file or _exit(1);
        print {$fh} $JSON->encode(\%s);
        close $fh;
        _exit(0);
    }
    return { pid => $pid, file => $file };
}


sub ticket_watch_result {
    my ($w) = @_;

    open my $fh, '>', "$w->{file}.stop" or die $!;
    close $fh;
    waitpid $w->{pid}, 0;
    open $fh, '<', $w->{file} or return { error => "no result: $!" };
    local $/;
    return $JSON->decode(<$fh>);
}


# --- Redis and PostgreSQL, read inside the cluster ---------------------------

sub redis_counts {
    my ($ns, $names) = @_;
    my %c;

    my ($out, $rc) = kubectl('-n', $ns, 'exec', 'redis-0', '-c', 'redis',
                             '--', 'redis-cli', '--no-raw', 'HMGET',
                             '{cast}:count', @$names);
    die "redis-cli failed\n" if $rc != 0;
    my @v = map { /^\s*\d+\) (?:"(\d+)"|\(nil\))$/ ? [$1] : () }
            split /\n/, $out;
    die 'redis-cli: ' . scalar(@v) . ' answers for ' . scalar(@$names)
        . " names\n" if @v != @$names;
    for my $i (0 .. $#$names) {
        $c{ $names->[$i] } = $v[$i][0] if defined $v[$i][0];
    }
    return \%c;
}


sub pg_counts {
    my ($ns, $prefix) = @_;
    my %c;

    my ($out, $rc) = kubectl('-n', $ns, 'exec', 'postgres-0', '-c',
                             'postgres', '--', 'psql', '-U', 'cast', '-d',
                             'cast', '-AtF', ' ', '-c',
                             'SELECT username, count FROM votes WHERE '
                             . "username LIKE '${prefix}%'");
    die "psql failed\n" if $rc != 0;
    for (split /\n/, $out) {
        my ($n, $v) = split ' ';
        $c{$n} = $v;
    }
    return \%c;
}


# wait_agree($ns, $prefix, $ledger, $seconds): '' once PostgreSQL and Redis
# both hold exactly the ledger's count for every name of the ledger, and
# PostgreSQL no other name of the prefix; else the first difference.
sub wait_agree {
    my ($ns, $prefix, $ledger, $seconds) = @_;
    my @names = sort keys %$ledger;
    my $end = time + $seconds;
    my $why;

    return 'empty ledger' unless @names;
    while (1) {
        $why = eval { difference($ns, $prefix, $ledger, \@names) }
               // "read failed: $@";
        return '' if $why eq '';
        return $why if time >= $end;
        sleep 2;
    }
}


sub difference {
    my ($ns, $prefix, $ledger, $names) = @_;
    my $pg = pg_counts($ns, $prefix);
    my $redis = redis_counts($ns, $names);

    for (@$names) {
        my ($l, $p, $r) = ($ledger->{$_}, $pg->{$_} // 0, $redis->{$_} // 0);
        return "$_: acknowledged $l, postgresql $p, redis $r"
            if $l != $p || $l != $r;
    }
    my @extra = grep { !exists $ledger->{$_} } sort keys %$pg;
    return @extra ? "in postgresql, never acknowledged: @extra" : '';
}

1;
