# A hostile client against the front, stateful: rounds of connections,
# each a few pipelined requests (votes with and without an
# idempotencyKey, a spent ticket's votes, queries, cas, top, a GET,
# subscriptions by GET and POST, some with a large Last-Event-ID),
# written at once, a few bytes at a time, or as a chunked body in tiny
# chunks, some with Expect: 100-continue; some connections closed
# before their answers, in the middle of a body or of a stream, with a
# reset, or half-closed; meanwhile Redis now and then holds its writes
# (CLIENT PAUSE, at times past cast_redis_timeout) or drops nginx's
# connections (CLIENT KILL).  After the rounds every keyed vote whose
# answer was lost or refused is sent again with its key, and Redis's
# counts must be what the clients were told: each keyed name the sum of
# the votes answered success (once each), each unkeyed name between the
# successes told and those plus the votes whose answers were lost.  No
# answer is a 5xx, no spent ticket's vote succeeds, a worker's resident
# size stays flat, the error log holds nothing worse than clients and
# Redis gone, and the sanitized pass finds nothing.  Run twice: without
# client shares, then with cast_client_uses 3 keyed on X-Client (five
# clients, a few requests without the header, a new ticket every 20
# rounds), where no client may take more than 3 uses of a ticket.  Two
# workers, a private Redis; the sequence comes from a seed the file
# prints (CAST_FUZZ_SEED to repeat one, CAST_FUZZ_ROUNDS for more rounds
# than 80).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx qw(nginx_metrics worker_status_kb);
use Cast::Burst qw(vote_body);
use Cast::PrivateRedis qw(cmd cli ticket answering private_nginx);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(sleep time);

# a server that closed its end is what these clients provoke
$SIG{PIPE} = 'IGNORE';

my $seed = $ENV{CAST_FUZZ_SEED} // (time ^ $$) & 0xffffff;
my $rounds = $ENV{CAST_FUZZ_ROUNDS} // 80;
srand $seed;
diag "seed $seed, $rounds rounds";

$Cast::Nginx::Workers = 2;

my ($port, $url, $run, @keyed, @plain, $seq, $spent, $t, $share, $nkey);
my (%vote, @plain_ok, @plain_lost, @fail);
my $j = JSON::PP->new;

campaign(0);
campaign(3);

done_testing();


# the rounds against an nginx without client shares, or with $uses uses
# of a ticket per client (cast_client_key: X-Client, five clients)
sub campaign {
    my ($uses) = @_;

    $share = $uses;
    private_nginx(<<'CONF', $share ? <<"HTTP" : undef);
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF
    cast_client_uses $share;
    cast_client_key \$http_x_client;
HTTP

    $port = server_port();
    $url = "http://127.0.0.1:$port/graphql";
    $run = sprintf '%d%04d%d', time, $$ % 10000, $share;
    @keyed = map { "fk$run-$_" } 1 .. 4;
    @plain = map { "fp$run-$_" } 1 .. 3;
    (%vote, @plain_ok, @plain_lost, @fail) = ();
    $nkey = 0;

    cli('SET', '{cast}:ready', 1);
    is(answering($url, $keyed[0], 10), 10,
       "the workers answer (client shares: $share)");

    # a spent ticket the workers learn, then the current one
    $seq = 5000 + int rand 1000;
    $spent = ticket($seq, max => 1);
    my @learn = one(post(vote_body($spent, [$plain[0]]), client => 'c0'));
    my $spent_ok = grep { ($_->{body} // '') =~ /"success":true/ } @learn;
    $t = ticket(++$seq, max => 1000000);

    run_rounds();
    check($spent_ok);

    stop_nginx();
    check_error_log("the fuzzed front (client shares: $share)");
}


# --- requests ----------------------------------------------------------------

sub post {
    my ($body, %o) = @_;
    my $head = "POST /graphql HTTP/1.1\r\nHost: x\r\n"
             . "Content-Type: application/json\r\n";
    $head .= "Expect: 100-continue\r\n" if $o{expect};
    $head .= "X-Client: $o{client}\r\n" if defined $o{client};
    $head .= "Accept: application/graphql-response+json\r\n" if $o{gql};
    return "${head}Content-Length: " . length($body) . "\r\n\r\n$body"
        unless $o{chunked};
    my $out = "${head}Transfer-Encoding: chunked\r\n\r\n";
    my $rest = $body;
    while (length $rest) {
        my $piece = substr $rest, 0, 1 + int rand 5, '';
        $out .= sprintf "%x\r\n%s\r\n", length $piece, $piece;
    }
    return "${out}0\r\n\r\n";
}

# a random request: its bytes and what it is
sub request {
    my %o = (expect => rand() < 0.15, gql => rand() < 0.3,
             chunked => rand() < 0.25);
    # five clients, and now and then one without a key
    $o{client} = rand() < 0.05 ? '' : 'c' . int rand 5 if $share;
    my $r = rand;

    if ($r < 0.45) {
        my @n = map { $keyed[rand @keyed] } 0 .. int rand 3;
        my @c = map { 1 + int rand 3 } @n;
        my $key = "fz$run-" . $nkey++;
        my $body = vote_body($t, \@n, \@c, key => $key);
        my $bytes = post($body, %o);
        $vote{$key} = { bytes => $bytes, names => \@n, counts => \@c,
                        told => 'lost' };
        return { bytes => $bytes, kind => 'keyed', key => $key };
    }
    if ($r < 0.6) {
        my $n = $plain[rand @plain];
        return { bytes => post(vote_body($t, [$n]), %o), kind => 'plain',
                 name => $n };
    }
    if ($r < 0.75) {
        my $n = $plain[rand @plain];
        return { bytes => post(vote_body($spent, [$n]), %o),
                 kind => 'spent' };
    }
    if ($r < 0.9) {
        return { bytes => post('{"query":"{cas{ticket remainingUsage} '
                               . 'top(limit:3){username votes} '
                               . "query(username:\\\"$keyed[0]\\\")}\"}",
                               %o),
                 kind => 'read' };
    }
    if ($r < 0.95) {
        return { bytes => "GET /graphql?query=%7BtotalVotes%7D HTTP/1.1\r\n"
                          . "Host: x\r\n\r\n",
                 kind => 'read' };
    }
    # a subscription, by GET or POST: its stream ends the connection
    my $q = (qw(top(limit:3){username%20votes} totalVotes ticket{ticket}),
             "votes(usernames:[%22$keyed[0]%22]){votes}")[rand 4];
    return { bytes => "GET /graphql?query=subscription%7B$q%7D HTTP/1.1\r\n"
                      . "Host: x\r\nAccept: text/event-stream\r\n"
                      . "Last-Event-ID: " . ('9' x rand 3000) . "\r\n\r\n",
             kind => 'sub' } if rand() < 0.5;
    (my $text = $q) =~ s/%20/ /g;
    $text =~ s/%22/\\"/g;
    return { bytes => post("{\"query\":\"subscription{$text}\"}", %o)
                      =~ s/\r\n\r\n/\r\nAccept: text\/event-stream\r\n\r\n/r,
             kind => 'sub' };
}

# --- one round of connections ------------------------------------------------

sub round {
    my @conns;
    my $sel = IO::Select->new;

    for (1 .. 1 + int rand 6) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Blocking => 0) or next;
        my @reqs = map { request() } 1 .. 1 + int rand 3;
        my $c = { s => $s, reqs => \@reqs, in => '', got => [],
                  out => join('', map { $_->{bytes} } @reqs),
                  step => rand() < 0.3 ? 1 + int rand 7 : 1 << 20,
                  end => (qw(read read read read close half rst shut))[
                      rand 8] };
        $c->{cut} = int(length($c->{out}) / 2) if $c->{end} eq 'half';
        push @conns, $c;
        $sel->add($s);
    }

    my $deadline = time + 10;

    while (grep { !$_->{done} } @conns) {
        last if time > $deadline;
        for my $c (grep { !$_->{done} } @conns) {
            my $s = $c->{s};
            if (length $c->{out}) {
                my $n = $c->{step};
                $n = $c->{cut} if defined $c->{cut} && $c->{cut} < $n;
                my $w = syswrite($s, $c->{out}, $n);
                if ($w) {
                    substr($c->{out}, 0, $w) = '';
                    $c->{cut} -= $w if defined $c->{cut};
                }
                if (defined $c->{cut} && $c->{cut} <= 0) {
                    finish($c, $sel);
                    next;
                }
                next if length $c->{out};
                $c->{sent} = time;
                if ($c->{end} eq 'shut') {
                    shutdown($s, 1);
                }
            }
            if (($c->{end} eq 'close' || $c->{end} eq 'rst')
                && time - $c->{sent} > rand 0.01)
            {
                setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
                    if $c->{end} eq 'rst';
                finish($c, $sel);
                next;
            }
            my $n = sysread($s, $c->{in}, 65536, length $c->{in});
            if (defined $n && $n == 0) {
                finish($c, $sel);
                next;
            }
            parse($c) unless $c->{stream};
            if ($c->{stream} ? time - $c->{stream} > rand 0.3
                             : @{ $c->{got} } == @{ $c->{reqs} })
            {
                setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
                    if rand() < 0.3;
                finish($c, $sel);
            }
        }
        $sel->can_read(0.002);
    }

    for my $c (grep { !$_->{done} } @conns) {
        diag "stuck: end $c->{end} step $c->{step} out " . length($c->{out})
            . " got " . @{ $c->{got} } . "/" . @{ $c->{reqs} } . " in: "
            . substr($c->{in}, 0, 300) . " reqs: "
            . join('|', map { substr($_->{bytes}, 0, 200) } @{ $c->{reqs} })
            if $ENV{CAST_FUZZ_DEBUG};
        finish($c, $sel);
    }

    for my $c (@conns) {
        for my $i (0 .. $#{ $c->{reqs} }) {
            account($c->{reqs}[$i], $c->{got}[$i]);
        }
    }
}

sub finish {
    my ($c, $sel) = @_;
    $sel->remove($c->{s});
    close $c->{s};
    $c->{done} = 1;
}

# the answers read so far, each { status, body }; 100 Continue skipped
sub parse {
    my ($c) = @_;
    while ($c->{in} =~ m{\A(HTTP/1\.1[ ](\d+)[^\r\n]*\r\n
                            ((?:[^\r\n]+\r\n)*)\r\n)}x)
    {
        my ($head, $status, $h) = ($1, $2, $3);
        if ($status == 100) {
            substr($c->{in}, 0, length $head) = '';
            next;
        }
        if ($h =~ m{^Content-Type: text/event-stream}mi) {
            # a stream: its first bytes are enough, it ends here
            push @{ $c->{got} }, { status => $status, body => '' };
            $c->{stream} = time;
            $c->{in} = '';
            last;
        }
        my ($len) = $h =~ /^Content-Length: (\d+)/mi;
        last unless defined $len && length($c->{in}) >= length($head) + $len;
        push @{ $c->{got} }, { status => $status,
                               body => substr($c->{in}, length $head, $len) };
        substr($c->{in}, 0, length($head) + $len) = '';
    }
}

sub account {
    my ($req, $ans) = @_;
    my $vote;

    if ($ans) {
        push @fail, "$ans->{status}: $ans->{body}" if $ans->{status} >= 500;
        $vote = eval { $j->decode($ans->{body})->{data}{vote} };
    }
    if ($req->{kind} eq 'keyed') {
        $vote{ $req->{key} }{told} = $vote->{success} ? 'yes' : 'no'
            if $vote;
    } elsif ($req->{kind} eq 'plain') {
        push @plain_ok, $req->{name} if $vote && $vote->{success};
        push @plain_lost, $req->{name} unless $vote;
    } elsif ($req->{kind} eq 'spent') {
        push @fail, "a spent ticket's vote succeeded: $ans->{body}"
            if $vote && $vote->{success};
    }
}

# --- the run and its checks -------------------------------------------------

my ($rss0, $rss1);

sub run_rounds {
    undef $rss0;
    for my $i (1 .. $rounds) {
        # Redis holding its writes for a while: votes wait in their
        # batches (now and then past cast_redis_timeout) while their
        # clients go
        cmd('CLIENT', 'PAUSE', rand() < 0.9 ? 20 + int rand 300 : 1100,
            'WRITE') if rand() < 0.25;
        # or its connections from nginx dropped, replies and all
        cmd('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
            if rand() < 0.04;
        # with shares, a new ticket now and then: five clients' shares
        # are soon used up
        $t = ticket(++$seq, max => 1000000) if $share && $i % 20 == 0;
        round();
        # after a quarter of the rounds (the first, with fewer than 4)
        $rss0 //= worker_status_kb('VmRSS')
            if $i == (int($rounds / 4) || 1);
    }
    $rss1 = worker_status_kb('VmRSS');
}

sub check {
    my ($spent_ok) = @_;

    # a pause the last round began would answer the votes sent again
    # UNAVAILABLE while Redis still runs them once it ends
    cmd('CLIENT', 'UNPAUSE');

    # every keyed vote whose answer was lost, or that failed, sent again:
    # applied at most once, now or before.  Until it has an answer of its
    # own: UNAVAILABLE leaves it unknown, maybe applied (a batch Redis ran
    # before CLIENT KILL dropped its replies), and while the worker's link
    # is back to Redis (its backoff) a vote sent again is UNAVAILABLE
    # without reaching Redis, so it is sent again, as a client would.
    my %told;
    for my $key (sort keys %vote) {
        my $v = $vote{$key};
        for my $try (1 .. 25) {
            last if $v->{told} eq 'yes';
            my ($a) = one($v->{bytes});
            my $doc = eval { $j->decode($a->{body}) } // {};
            my $again = $doc->{data} && $doc->{data}{vote};
            if ($again) {
                $v->{told} = $again->{success} ? 'yes' : 'no';
                last;
            }
            # refused before Redis (no client key, say): never applied
            my @codes = map { $_->{extensions}{code} // '' }
                        @{ $doc->{errors} // [] };
            if (@codes && !grep { $_ eq 'UNAVAILABLE' } @codes) {
                $v->{told} = 'no';
                last;
            }
            $v->{told} = 'unknown';
            sleep 0.2;
        }
        $told{ $v->{told} }++;
    }
    diag sprintf 'client shares %d: keyed votes: %d told success, %d not, '
        . '%d unknown; unkeyed: %d success, %d lost', $share,
        $told{yes} // 0, $told{no} // 0, $told{unknown} // 0,
        scalar @plain_ok, scalar @plain_lost;
    is($told{unknown} // 0, 0, 'every keyed vote sent again has an answer');

    is($spent_ok, 1, 'the spent ticket had its one use');
    is_deeply(\@fail, [], 'no 5xx, no spent ticket accepted')
        or diag explain \@fail;

    my %want;
    for my $v (grep { $_->{told} eq 'yes' } values %vote) {
        $want{ $v->{names}[$_] } += $v->{counts}[$_]
            for 0 .. $#{ $v->{names} };
    }
    for my $n (@keyed) {
        is(cmd('HGET', '{cast}:count', $n) // 0, $want{$n} // 0,
           "$n: Redis holds the keyed votes told success");
    }
    my (%lo, %hi);
    $lo{$_}++ for @plain_ok;
    $hi{$_}++ for @plain_ok, @plain_lost;
    $lo{ $plain[0] }++;         # the spent ticket's one use
    $hi{ $plain[0] }++;
    for my $n (@plain) {
        my $got = cmd('HGET', '{cast}:count', $n) // 0;
        ok($got >= ($lo{$n} // 0) && $got <= ($hi{$n} // 0),
           "$n: Redis holds $got, between the votes told success ("
           . ($lo{$n} // 0) . ') and those plus the lost ('
           . ($hi{$n} // 0) . ')');
    }

    if ($share) {
        my @over = grep { $_ > $share }
                   map { my $h = cmd('HGETALL', "{cast}:share:$_");
                         @$h[grep { $_ % 2 } 0 .. $#$h] } 5000 .. $seq;
        is_deeply(\@over, [], "no client took more than $share uses of a "
                  . 'ticket');
    }

    SKIP: {
        skip 'a sanitized worker', 1 if $ENV{TEST_NGINX_LD_PRELOAD};
        cmp_ok($rss1 - $rss0, '<', 4096,
               "a worker's resident size grew by " . ($rss1 - $rss0)
               . " kB over the last rounds");
    }
}


# one request on its own connection, read to its answer
sub one {    my ($bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "connect: $!\n";
    my $c = { in => '', got => [] };
    print {$s} $bytes;
    while (!@{ $c->{got} }) {
        last unless IO::Select->new($s)->can_read(10);
        last unless sysread($s, $c->{in}, 65536, length $c->{in});
        parse($c);
    }
    close $s;
    return @{ $c->{got} };
}
