package Cast::Ledger;

# Vote traffic with a client-side ledger, whatever the stack: the local
# one (Cast::Pipeline) or a cluster behind a port-forward (k8s/tests).
#
#   my $res = ledger_traffic(url => $url, cas_ticket => \&cas_ticket,
#                            names => \@names, more => sub { ... });
#
# Rounds of concurrent votes, at most one ticket's uses each, while
# more($sent) is true; then the votes without a definite answer
# (connection lost, UNAVAILABLE) are sent again with the same idempotency
# key until each has one: Redis returns the stored reply of a vote it
# took, so the ledger holds exactly the votes Redis accepted.
#
# Options: url, cas_ticket (a sub: (ticket, remaining uses) or ()),
# names, more, per_round (100), width (5), tag ('p'), timeout (10 s per
# burst), settle (60 s for the resends), pause (0.2 s without a ticket
# while settling), round (a sub called with the stat after each round),
# keep_going (passed to burst: a refused connection is an answer-less
# vote).  Returns { ledger => {name => votes}, stat => {...} }.
#
# traffic_stop($run) makes the stop file of a traffic run in a child
# ({ file => ... }: its stop file is "$file.stop").

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(sleep time);

use Cast::Burst;

our @EXPORT = qw(ledger_traffic traffic_stop);


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
    my ($opt, $ballots, $ticket) = @_;
    my @bodies = map {
        vote_body($ticket, $_->{u}, $_->{c}, key => $_->{key})
    } @$ballots;

    return map { outcome($_) }
           burst($opt->{url}, \@bodies, timeout => $opt->{timeout},
                 keep_going => $opt->{keep_going});
}


sub add_ballot {
    my ($ledger, $b) = @_;

    $ledger->{ $b->{u}[$_] } += $b->{c}[$_] for 0 .. $#{ $b->{u} };
}


sub ledger_traffic {
    my (%opt) = @_;
    my (%ledger, @unsure);
    my %stat = (ok => 0, rejected => 0, unsure => 0, resent => 0,
                rounds => 0);
    my ($seq, $last, $sent) = (0, '', 0);

    $opt{per_round} //= 100;
    $opt{width} //= 5;
    $opt{tag} //= 'p';
    $opt{timeout} //= 10;

    while ($opt{more}->($sent)) {
        my ($ticket, $left) = $opt{cas_ticket}->();
        if (!$ticket || $ticket eq $last || !$left) {
            sleep 0.05;
            next;
        }
        $last = $ticket;
        my $n = $left < $opt{per_round} ? $left : $opt{per_round};
        my @ballots = map {
            ballot($opt{names}, "$opt{tag}-$$-" . $seq++, $opt{width})
        } 1 .. $n;
        my @out = send_ballots(\%opt, \@ballots, $ticket);
        $sent += $n;
        for my $i (0 .. $#ballots) {
            $stat{ $out[$i] }++;
            add_ballot(\%ledger, $ballots[$i]) if $out[$i] eq 'ok';
            push @unsure, $ballots[$i] if $out[$i] eq 'unsure';
        }
        $stat{rounds}++;
        $opt{round}->(\%stat) if $opt{round};
    }

    # settle the unsure ones with their keys: a stored reply means taken
    my $deadline = time + ($opt{settle} // 60);
    while (@unsure && time < $deadline) {
        my ($ticket) = $opt{cas_ticket}->();
        if (!$ticket) {
            sleep($opt{pause} // 0.2);
            next;
        }
        my @out = send_ballots(\%opt, \@unsure, $ticket);
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


sub traffic_stop {
    my ($run) = @_;

    open my $fh, '>', "$run->{file}.stop" or die "traffic_stop: $!\n";
    close $fh;
}

1;
