package Cast::Burst;

# Many GraphQL POSTs at once: every request on its own connection, all
# written before any answer is read, so they reach nginx together.
#
#   my @answers = burst($url, \@bodies, timeout => 10);
#
# Each answer is { status => 200, json => {...} } or { error => "..." },
# in the order of the bodies.  A refused connection dies, unless
# keep_going => 1: then it is that body's { error => "no answer" }.
# headers => [\%h0, \%h1, ...] adds headers to the body of the same index.
#
#   my $msg = messages(@answers);   # vote answers: { message => count }

use strict;
use warnings;

use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);

our @EXPORT = qw(burst vote_body);
our @EXPORT_OK = qw(messages);


# vote_body($ticket, \@names, \@counts, %extra): a vote mutation as JSON
sub vote_body {
    my ($ticket, $names, $counts, %extra) = @_;
    my %vars = (t => $ticket, u => $names);

    $vars{c} = $counts if $counts;
    $vars{v} = $extra{voter} if defined $extra{voter};
    $vars{k} = $extra{key} if defined $extra{key};

    return JSON::PP->new->canonical->encode({
        query => 'mutation($u:[String!]!,$c:[Int!],$t:String!,'
               . '$v:String,$k:String){vote(usernames:$u,voteCount:$c,'
               . 'ticket:$t,voterUsername:$v,idempotencyKey:$k)'
               . '{success message usernames votes}}',
        variables => \%vars,
    });
}


sub burst {
    my ($url, $bodies, %opt) = @_;
    my ($host, $port, $path) = $url =~ m{^http://([^:/]+):(\d+)(/.*)$}
        or die "burst: bad url $url\n";
    my $deadline = time + ($opt{timeout} // 10);
    my (@socks, @bufs, @answers);
    my $sel = IO::Select->new;

    for my $i (0 .. $#$bodies) {
        my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                      Proto => 'tcp');
        die "burst: connect: $!\n" unless $s || $opt{keep_going};
        $socks[$i] = $s;
        $bufs[$i] = '';
    }

    for my $i (0 .. $#$bodies) {
        my $b = $bodies->[$i];
        my $h = $opt{headers} && $opt{headers}[$i] || {};
        next unless $socks[$i];
        $socks[$i]->syswrite("POST $path HTTP/1.1\r\nHost: $host\r\n"
            . "Content-Type: application/json\r\nConnection: close\r\n"
            . join('', map { "$_: $h->{$_}\r\n" } sort keys %$h)
            . "Content-Length: " . length($b) . "\r\n\r\n$b");
        $sel->add([$socks[$i], $i]);
    }

    while ($sel->count && time < $deadline) {
        for my $h ($sel->can_read($deadline - time)) {
            my ($s, $i) = @$h;
            my $n = $s->sysread($bufs[$i], 65536, length $bufs[$i]);
            next if $n;
            $sel->remove($h);
            close $s;
        }
    }

    for my $i (0 .. $#$bodies) {
        my ($head, $body) = split /\r\n\r\n/, $bufs[$i], 2;
        if (!defined $body || $head !~ m{^HTTP/1\.\d (\d+)}) {
            $answers[$i] = { error => 'no answer' };
            next;
        }
        my $status = $1;
        my $json = eval { JSON::PP->new->decode($body) };
        $answers[$i] = { status => $status, json => $json, body => $body };
    }

    close $_ for grep { defined } @socks;

    return @answers;
}


# the messages of vote answers, counted (an error or no answer by itself)
sub messages {
    my %msg;

    for (@_) {
        my $m = $_->{json} ? $_->{json}{data}{vote}{message}
              : $_->{error} // "HTTP $_->{status}: $_->{body}";
        $msg{$m // 'no message'}++;
    }
    return \%msg;
}

1;
