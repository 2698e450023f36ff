package Cast::SSE;

# A small Server-Sent Events client for the subscription tests: one
# subscription per connection (GraphQL over SSE, distinct connections
# mode), read as it comes, without blocking the test for longer than it
# asks.
#
#   my $s = sse_open('subscription { totalVotes }');   # POST, HTTP/1.1
#   my $ev = sse_next($s, 5);     # { event => 'next', data => {...} }
#   my $ev = sse_until($s, 5, sub { $_[0]{data}{data}{totalVotes} > 3 });
#
# sse_open() returns the connection with {status} and {headers}; a refusal
# (not 200) has {body} and {json} too.  HTTP/1.1 answers are chunked: the
# chunks are taken apart here.  Comments (keep-alive) are counted in
# {comments}.

use strict;
use warnings;

use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_RCVBUF SO_LINGER pack_sockaddr_in inet_aton);
use Time::HiRes qw(time);

our @EXPORT = qw(sse_open sse_next sse_until sse_read_all sse_abort
                 sse_refusal);

my $JSON = JSON::PP->new->canonical;


# sse_open($query, $vars, url => ..., method => 'GET', rcvbuf => bytes,
# accept => ..., raw => body, connect_only => 1,
# headers => { 'X-Client' => 'a' })
sub sse_open {
    my ($query, $vars, %opt) = @_;
    my $url = $opt{url} // $ENV{CAST_GRAPHQL_URL};
    my ($host, $port, $path) = $url =~ m{^http://([^:/]+):(\d+)(/\S*)$}
        or die "sse_open: bad url $url\n";
    # a receive buffer is set before connecting, so the window is small
    # from the start
    my $s = IO::Socket::INET->new(Proto => 'tcp')
        or die "sse_open: socket: $!\n";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, $opt{rcvbuf}) if $opt{rcvbuf};
    $s->connect(pack_sockaddr_in($port, inet_aton($host)))
        or die "sse_open: connect: $!\n";
    my $method = $opt{method} // 'POST';
    my $accept = $opt{accept} // 'text/event-stream';
    my %req = (query => $query);
    my $more = join '', map { "$_: $opt{headers}{$_}\r\n" }
                        sort keys %{ $opt{headers} // {} };
    my $head;

    $req{variables} = $vars if $vars;

    if ($method eq 'GET') {
        my $q = join '&', map {
            my $v = ref $req{$_} ? $JSON->encode($req{$_}) : $req{$_};
            $v =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
            "$_=$v";
        } sort keys %req;
        $head = "GET $path?$q HTTP/1.1\r\nHost: $host\r\n"
              . "Accept: $accept\r\n$more\r\n";
    } else {
        my $body = $opt{raw} // $JSON->encode(\%req);
        $head = "POST $path HTTP/1.1\r\nHost: $host\r\nAccept: $accept\r\n"
              . $more . "Content-Type: application/json\r\n"
              . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    }

    print {$s} $head or die "sse_open: write: $!\n";
    $s->blocking(0);

    my $c = { sock => $s, raw => '', data => '', events => [],
              comments => 0, eof => 0 };
    return $c if $opt{connect_only};

    sse_headers($c, $opt{timeout} // 10);
    return $c;
}


sub fill {
    my ($c, $deadline) = @_;
    my $sel = IO::Select->new($c->{sock});
    my $left = $deadline - time;

    return 0 if $c->{eof} || $left <= 0;
    return 0 unless $sel->can_read($left);
    my $n = sysread($c->{sock}, my $buf, 65536);
    if (!$n) {
        $c->{eof} = 1 unless defined $n && $n < 0;
        return 0;
    }
    $c->{raw} .= $buf;
    return 1;
}


sub sse_headers {
    my ($c, $timeout) = @_;
    my $deadline = time + $timeout;

    until ($c->{raw} =~ /\r\n\r\n/) {
        fill($c, $deadline) or die "sse_open: no answer in $timeout s\n";
    }
    $c->{raw} =~ s/^(.*?)\r\n\r\n//s;
    my ($status, @lines) = split /\r\n/, $1;
    ($c->{status}) = $status =~ m{^HTTP/1\.\d (\d+)};
    $c->{headers} = { map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () }
                      @lines };
    $c->{chunked} = ($c->{headers}{'transfer-encoding'} // '') =~ /chunked/i;

    return if $c->{status} == 200;

    # a refusal: its whole body
    my $len = $c->{headers}{'content-length'} // 0;
    while (length($c->{raw}) < $len) {
        fill($c, $deadline) or last;
    }
    $c->{body} = substr($c->{raw}, 0, $len);
    $c->{json} = eval { $JSON->decode($c->{body}) };
}


# the chunks received so far, into the event stream's text
sub dechunk {
    my ($c) = @_;

    if (!$c->{chunked}) {
        $c->{data} .= $c->{raw};
        $c->{raw} = '';
        return;
    }
    while ($c->{raw} =~ /^([0-9a-fA-F]+)\r\n/) {
        my $n = hex $1;
        my $head = length($1) + 2;
        last if length($c->{raw}) < $head + $n + 2;
        $c->{data} .= substr($c->{raw}, $head, $n);
        substr($c->{raw}, 0, $head + $n + 2) = '';
        $c->{last_chunk} = 1 if $n == 0;
    }
}


# the complete events in the text, in order
sub parse {
    my ($c) = @_;

    while ($c->{data} =~ s/^(.*?)\n\n//s) {
        my $block = $1;
        my (%ev, @data);

        for my $line (split /\n/, $block) {
            if ($line =~ /^:/) { $c->{comments}++; next }
            my ($k, $v) = $line =~ /^([^:]+):?\s?(.*)$/ or next;
            push @data, $v if $k eq 'data';
            $ev{event} = $v if $k eq 'event';
        }
        next unless %ev || @data;
        $ev{text} = join "\n", @data;
        $ev{data} = length $ev{text} ? eval { $JSON->decode($ev{text}) }
                                     : undef;
        push @{ $c->{events} }, \%ev;
    }
}


# the next event within $timeout seconds, or undef
sub sse_next {
    my ($c, $timeout) = @_;
    my $deadline = time + $timeout;

    while (1) {
        dechunk($c);
        parse($c);
        return shift @{ $c->{events} } if @{ $c->{events} };
        return undef if $c->{eof};
        fill($c, $deadline) or return undef if time >= $deadline;
        fill($c, $deadline);
    }
}


# events until one for which $cond is true (that one returned), or undef
sub sse_until {
    my ($c, $timeout, $cond) = @_;
    my $deadline = time + $timeout;

    while (time < $deadline) {
        my $ev = sse_next($c, $deadline - time) // return undef;
        return $ev if $cond->($ev);
    }
    return undef;
}


# every event that comes within $timeout seconds (or until the end)
sub sse_read_all {
    my ($c, $timeout) = @_;
    my $deadline = time + $timeout;
    my @all;

    while (my $ev = sse_next($c, $deadline - time)) {
        push @all, $ev;
        last if time >= $deadline;
    }
    return @all;
}


# a refused stream's first GraphQL error, "CODE: message", or 'none'
sub sse_refusal {
    my ($c) = @_;
    my $e = $c->{json} && $c->{json}{errors} && $c->{json}{errors}[0];
    return $e ? "$e->{extensions}{code}: $e->{message}" : 'none';
}


# closes with a reset, as a client that vanishes does
sub sse_abort {
    my ($c) = @_;

    setsockopt($c->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $c->{sock};
}

1;
