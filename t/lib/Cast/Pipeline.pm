package Cast::Pipeline;

# Vote traffic with a client-side ledger, and the checks of the durable
# pipeline (t/05*-pipeline*.t): Redis, PostgreSQL and the ledger agree.
#
#   my $run = vote_traffic(seconds => 6, names => \@names);   # in a child
#   my $ledger = traffic_ledger($run);                        # waits for it
#   my ($ok, $why) = wait_agree($ledger, 5);
#
# The traffic itself is Cast::Ledger's: every vote carries an idempotency
# key, and the unsure ones are sent again with it until they get an answer.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);

use Cast::Ledger;
use Cast::Test;

our @EXPORT = qw(
    pipeline_names vote_traffic traffic_stop traffic_ledger wait_agree counts_pg
    counts_redis metric cas_ticket partitions
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


# The child: rounds of concurrent votes, one ticket's uses per round,
# until the time is up or the stop file appears.
sub traffic {
    my (%opt) = @_;
    my $end = time + $opt{seconds};

    return ledger_traffic(
        %opt,
        url => $ENV{CAST_GRAPHQL_URL},
        cas_ticket => \&cas_ticket,
        more => sub {
            time < $end && !($opt{stop_file} && -e $opt{stop_file})
        },
    );
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


# the partitions the persister behind $port has, by its metric
sub partitions { return metric($_[0], 'cast_persister_partitions') // 0 }

1;
