# A real client: the graphql-sse package's own (t/sse/client.mjs, pinned
# in t/sse/package.json, installed by make deps) subscribes to each of
# the subscriptions through the stack's nginx while votes come in bursts.
# Each stream's results come in order (totals and counts never go back,
# a ticket's uses only go down), and after the burst the last result of
# each equals what a query answers: nothing is missed at the end.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use IO::Select;
use IPC::Open2;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $dir = repo_root() . '/t/sse';
ok(-d "$dir/node_modules/graphql-sse",
   'graphql-sse is installed (make deps runs npm ci in t/sse)')
    or BAIL_OUT('no graphql-sse');

my $JSON = JSON::PP->new->canonical;
my @names = pipeline_names('s073', 4);
my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!){vote(usernames:$u,'
         . 'voteCount:$c,ticket:$t){success}}';

my $pid = open2(my $out, my $in, 'node', "$dir/client.mjs",
                $ENV{CAST_GRAPHQL_URL}, $JSON->encode(\@names));
my $sel = IO::Select->new($out);
my (%seen, @problems, $buf);
$buf = '';

# every line the client printed so far, within $wait seconds
sub pump {
    my ($wait) = @_;
    my $deadline = time + $wait;

    while ((my $left = $deadline - time) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread($out, my $chunk, 65536);
        last unless $n;
        $buf .= $chunk;
        while ($buf =~ s/^(.*)\n//) {
            my $line = eval { $JSON->decode($1) };
            if (!$line || $line->{error} || $line->{complete}) {
                push @problems, $1;
                next;
            }
            push @{ $seen{ $line->{sub} } }, $line->{result};
        }
    }
}

sub last_of {
    my ($sub) = @_;
    my $r = $seen{$sub} && $seen{$sub}[-1];
    return $r && $r->{data} && $r->{data}{$sub};
}

sub data_of {
    my ($query, $vars) = @_;
    my (undef, $json) = graphql($query, $vars);
    return $json->{data};
}

sub vote_ok {
    my ($names, $counts) = @_;

    for (1 .. 50) {
        my ($ticket) = cas_ticket();
        my (undef, $json) = graphql($VOTE, { u => $names, c => $counts,
                                             t => $ticket });
        return 1 if $json && $json->{data} && $json->{data}{vote}{success};
        sleep 0.1;
    }
    return 0;
}

# the first result of each subscription
my $end = time + 20;
pump(0.5) until keys(%seen) == 4 || time > $end;
is_deeply([sort keys %seen], [qw(ticket top totalVotes votes)],
          'a first result from each subscription');

# three bursts of votes, the client listening
my $voted = 0;
for my $burst (1 .. 3) {
    for my $i (0 .. 9) {
        my @u = @names[0 .. $i % 4];
        $voted += vote_ok(\@u, [map { 1 + $_ } 0 .. $#u]);
        pump(0.02);
    }
    pump(0.5);
}
is($voted, 30, 'thirty votes in three bursts');

# after the last burst, each stream's last result equals the query
my %want = (
    votes => [map {
        { username => $_,
          votes => data_of('query($u:String!){query(username:$u)}',
                           { u => $_ })->{query} }
    } @names],
    totalVotes => data_of('{totalVotes}')->{totalVotes},
    top => data_of('{top(limit: 100){username votes}}')->{top},
);

for my $sub (sort keys %want) {
    my $want = $JSON->encode($want{$sub});
    $end = time + 10;
    pump(0.2) until ($JSON->encode(last_of($sub) // 0) eq $want)
                    || time > $end;
    is($JSON->encode(last_of($sub) // 0), $want,
       "$sub: the last result equals the query");
}

my $cas = data_of('{cas{ticket validUntil remainingUsage}}')->{cas};
$end = time + 10;
pump(0.2) until ((last_of('ticket') // {})->{ticket} // '') eq $cas->{ticket}
                || time > $end;
is((last_of('ticket') // {})->{ticket}, $cas->{ticket},
   'ticket: the current ticket');

# in order: never back
my @totals = map { $_->{data}{totalVotes} } @{ $seen{totalVotes} };
is_deeply([sort { $a <=> $b } @totals], \@totals, 'totalVotes only grows');
cmp_ok(scalar(@totals), '>=', 3, scalar(@totals) . ' totals seen');

my $back = 0;
for my $i (1 .. $#{ $seen{votes} }) {
    my ($p, $q) = map { $seen{votes}[$_]{data}{votes} } $i - 1, $i;
    $back += grep { $q->[$_]{votes} < $p->[$_]{votes} } 0 .. $#$q;
}
is($back, 0, 'no count goes back in the votes stream ('
   . scalar(@{ $seen{votes} }) . ' results)');

my ($uses_back, $prev) = (0, undef);
for my $r (@{ $seen{ticket} }) {
    my $t = $r->{data}{ticket};
    $uses_back++ if $prev && $prev->{ticket} eq $t->{ticket}
                    && $t->{remainingUsage} > $prev->{remainingUsage};
    $prev = $t;
}
is($uses_back, 0, 'a ticket\'s remaining uses only go down');

is_deeply(\@problems, [], 'no error, no early end');

close $in;
waitpid $pid, 0;
is($? >> 8, 0, 'the client ends cleanly');

done_testing();
