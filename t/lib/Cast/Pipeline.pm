package Cast::Pipeline;

# Vote traffic with a client-side ledger, and the checks of the durable
# pipeline (t/05*-pipeline*.t): Redis, PostgreSQL and the ledger agree.
#
#   my $run = vote_traffic(seconds => 6, names => \@names);   # in a child
#   my $ledger = traffic_ledger($run);                        # waits for it
#   my ($ok, $why) = wait_agree($ledger, 5);
#
# Every vote carries an idempotency key.  A vote without a definite answer
# (connection lost, UNAVAILABLE) is sent again with the same key after the
# traffic until it gets one: Redis returns the stored reply of a vote it
# took, so the ledger holds exactly the votes Redis accepted.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);

use Cast::Burst;
use Cast::Test;

our @EXPORT = qw(
    pipeline_names vote_traffic traffic_stop traffic_ledger wait_agree counts_pg
    counts_redis metric cas_ticket
);

my $JSON = JSON::PP->new->canonical;


# pipeline_names($tag, $n): names unique to this run of this test
sub pipeline_names {
    my ($tag, $n) = @_;

    return map { sprintf '%s_%d_%d_%03d', $tag, $$, int(time), $_ } 1 .. $n;
}


sub cas_ticket {
    my ($status, $json) = graphql('{cas{ticket remainingUsage}}', undef,
                                  timeout => 2);
    my $cas = $json && $json->{data} && $json->{data}{cas};

    return $cas ? ($cas->{ticket}, $cas->{remainingUsage}) : ();
}


# One vote body and the ballot it stands for.
sub ballot {
    my ($names, $key, $width) = @_;
    my (%seen, @u, @c);

    while (@u < $width) {
        my $n = $names->[int rand @$names];
        next if $seen{$n}++;
        push @u, $n;
        push @c, 1 + int rand 3;
    }
    return { key => $key, u => \@u, c => \@c };
}


# ok | rejected | unsure
sub outcome {
    my ($answer) = @_;
    my $vote = $answer->{json} && $answer->{json}{data}
               && $answer->{json}{data}{vote};

    return 'unsure' unless $vote;
    return $vote->{success} ? 'ok' : 'rejected';
}


sub send_ballots {
    my ($ballots, $ticket) = @_;
    my @bodies = map {
        vote_body($ticket, $_->{u}, $_->{c}, key => $_->{key})
    } @$ballots;

    return map { outcome($_) } burst($ENV{CAST_GRAPHQL_URL}, \@bodies,
                                     timeout => 10);
}


sub add_ballot {
    my ($ledger, $b) = @_;

    $ledger->{ $b->{u}[$_] } += $b->{c}[$_] for 0 .. $#{ $b->{u} };
}


# The child: rounds of concurrent votes, one ticket's uses per round.
sub traffic {
    my (%opt) = @_;
    my $end = time + $opt{seconds};
    my (%ledger, @unsure);
    my %stat = (ok => 0, rejected => 0, unsure => 0, resent => 0);
    my $seq = 0;
    my $last = '';

    while (time < $end && !($opt{stop_file} && -e $opt{stop_file})) {
        my ($ticket, $left) = cas_ticket();
        if (!$ticket || $ticket eq $last || !$left) {
            sleep 0.05;
            next;
        }
        $last = $ticket;
        my $n = $left < $opt{per_round} ? $left : $opt{per_round};
        my @ballots = map {
            ballot($opt{names}, "$opt{tag}-$$-" . $seq++, $opt{width})
        } 1 .. $n;
        my @out = send_ballots(\@ballots, $ticket);
        for my $i (0 .. $#ballots) {
            $stat{ $out[$i] }++;
            add_ballot(\%ledger, $ballots[$i]) if $out[$i] eq 'ok';
            push @unsure, $ballots[$i] if $out[$i] eq 'unsure';
        }
    }

    # settle the unsure ones with their keys: a stored reply means taken
    my $deadline = time + 60;
    while (@unsure && time < $deadline) {
        my ($ticket) = cas_ticket();
        if (!$ticket) {
            sleep 0.2;
            next;
        }
        my @out = send_ballots(\@unsure, $ticket);
        my @again;
        for my $i (0 .. $#unsure) {
            $stat{resent}++;
            add_ballot(\%ledger, $unsure[$i]) if $out[$i] eq 'ok';
            push @again, $unsure[$i] if $out[$i] eq 'unsure';
        }
        @unsure = @again;
        sleep 0.2 if @unsure;
    }
    $stat{unsettled} = scalar @unsure;

    return { ledger => \%ledger, stat => \%stat };
}


# vote_traffic(seconds => S, names => \@n, per_round => 100, width => 5,
# tag => 'p'): starts the traffic in a child; returns a handle.  The
# traffic stops after S seconds, or earlier at traffic_stop($handle).
sub vote_traffic {
    my (%opt) = @_;
    my $file = "$ENV{CAST_VAR}/traffic.$$." . int(rand 1e9) . '.json';

    $opt{per_round} //= 100;
    $opt{width} //= 5;
    $opt{tag} //= 'p';

    $opt{stop_file} = "$file.stop";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $res = eval { traffic(%opt) } // { error => "$@" };
        open my $fh, '>', $file or _exit(1);
        print {$fh} $JSON->encode($res);
        close $fh;
        _exit(0);
    }
    return { pid => $pid, file => $file, started => time };
}


sub traffic_stop {
    my ($run) = @_;

    open my $fh, '>', "$run->{file}.stop" or die "traffic_stop: $!\n";
    close $fh;
}


# Waits for the traffic; its { ledger => {name => votes}, stat => {...} }.
sub traffic_ledger {
    my ($run) = @_;

    waitpid $run->{pid}, 0;
    open my $fh, '<', $run->{file} or die "traffic: no result: $!\n";
    local $/;
    my $res = $JSON->decode(<$fh>);
    close $fh;
    unlink $run->{file}, "$run->{file}.stop";
    die "traffic: $res->{error}" if $res->{error};
    return $res;
}


sub counts_pg {
    my ($names) = @_;
    my $list = join ',', map { "'$_'" } @$names;
    my %c;

    for my $row (psql_query("SELECT username, count FROM votes "
                            . "WHERE username IN ($list)")) {
        $c{ $row->[0] } = $row->[1];
    }
    return \%c;
}


sub counts_redis {
    my ($names) = @_;
    my $vals = redis_cmd('HMGET', '{cast}:count', @$names);
    my %c;

    for my $i (0 .. $#$names) {
        $c{ $names->[$i] } = $vals->[$i] if defined $vals->[$i];
    }
    return \%c;
}


sub first_difference {
    my ($ledger, $pg, $redis) = @_;

    for my $n (sort keys %$ledger) {
        my ($l, $p, $r) = ($ledger->{$n}, $pg->{$n} // 0, $redis->{$n} // 0);
        return "$n: ledger $l, postgresql $p, redis $r"
            if $l != $p || $l != $r;
    }
    return undef;
}


# wait_agree($ledger, $seconds): (1, undef) once PostgreSQL == Redis ==
# ledger for every name of the ledger, else (0, the first difference).
sub wait_agree {
    my ($ledger, $seconds) = @_;
    my @names = keys %$ledger;
    my $end = time + $seconds;
    my $why = 'empty ledger';

    return (0, $why) unless @names;
    while (1) {
        my ($pg, $redis) = eval { (counts_pg(\@names), counts_redis(\@names)) };
        $why = $pg ? first_difference($ledger, $pg, $redis) : "read: $@";
        return (1, undef) unless defined $why;
        return (0, $why) if time >= $end;
        sleep 0.1;
    }
}


# metric($port, $name): a sample of a daemon's /metrics, undef when absent
sub metric {
    my ($port, $name) = @_;
    my $res = HTTP::Tiny->new(timeout => 2)
        ->get("http://127.0.0.1:$port/metrics");

    return undef unless $res->{success};
    return $res->{content} =~ /^\Q$name\E (\S+)$/m ? $1 : undef;
}

1;
