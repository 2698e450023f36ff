# The herd's answers given again (ngx_http_cast_replay.c) against the
# variants a hostile client can pick: for a spent ticket's vote sent
# with each Content-Type, Accept, Content-Encoding, X-Client, HTTP
# version, Expect, a chunked body, and bodies with an operationName,
# aliases, __typename, a fragment, a second operation, @skip, the same
# bytes sent twice more (the second given again when it may be) get
# exactly what the engine answers to those bytes with spaces added to the
# body (bytes never sent before, so never given again: the same request,
# parsed): the same status, Content-Type and body.  The check fails when
# the key leaves out a header the engine reads (Accept taken out of it:
# 42 of 408 differ).  One worker, a private Redis, tickets written by the
# test.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx qw(nginx_metrics);
use Cast::PrivateRedis qw(cli ticket answering private_nginx);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

$SIG{PIPE} = 'IGNORE';

private_nginx(<<'CONF');
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF

my $port = server_port();
my $url = "http://127.0.0.1:$port/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "rv-$run";

cli('SET', '{cast}:ready', 1);
is(answering($url, $name, 5), 5, 'the worker answers');

# one request on its own connection: (status, Content-Type, body)
sub once {
    my ($bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "connect: $!\n";
    print {$s} $bytes;
    my $in = '';
    while (IO::Select->new($s)->can_read(10)) {
        last unless sysread $s, $in, 65536, length $in;
        $in =~ s/\AHTTP\/1\.1 100 [^\r\n]*\r\n\r\n//;
        next unless $in =~ /\A(HTTP\/1\.[01] (\d+)[^\r\n]*\r\n(.*?)\r\n\r\n)/s;
        my ($hlen, $status, $h) = (length $1, $2, $3);
        my ($len) = $h =~ /^Content-Length: (\d+)/mi;
        next unless defined $len && length($in) >= $hlen + $len;
        my ($type) = $h =~ /^Content-Type: ([^\r\n]*)/mi;
        close $s;
        return "$status $type " . substr $in, $hlen, $len;
    }
    close $s;
    return "no answer: $in";
}

sub request {
    my ($body, %o) = @_;
    my $v = $o{version} // '1.1';
    my $out = "POST /graphql HTTP/$v\r\nHost: x\r\n";
    $out .= "$_\r\n" for @{ $o{headers} // [] };
    return "$out\r\n$body" if $o{raw};
    if ($o{chunked}) {
        return "${out}Transfer-Encoding: chunked\r\n\r\n"
            . join('', map { sprintf "1\r\n%s\r\n", $_ } split //, $body)
            . "0\r\n\r\n";
    }
    return "${out}Content-Length: " . length($body) . "\r\n\r\n$body";
}

sub replays { nginx_metrics()->{cast_replayed_answers_total} // 0 }

my $t = ticket(13000 + int rand 1000, max => 1);
my $vote = 'vote(usernames:$u,ticket:$t){success message usernames votes}';
my $vars = { u => [$name], t => $t };
my $j = JSON::PP->new->canonical;
my $plain = $j->encode({ query => "mutation(\$u:[String!]!,\$t:String!)"
                                  . "{$vote}", variables => $vars });

like(once(request($plain, headers => ['Content-Type: application/json'])),
     qr/"success":true/, 'the ticket\'s one use');
like(once(request($plain, headers => ['Content-Type: application/json'])),
     qr/Ticket usage limit exceeded/, 'then spent');

my $ct = 'Content-Type: application/json';
my @bodies = (
    $plain,
    $j->encode({ query => "mutation M(\$u:[String!]!,\$t:String!){$vote}",
                 operationName => 'M', variables => $vars }),
    $j->encode({ query => "mutation(\$u:[String!]!,\$t:String!)"
                          . "{a: vote(usernames:\$u,ticket:\$t)"
                          . "{m: message success __typename}}",
                 variables => $vars }),
    $j->encode({ query => "mutation(\$u:[String!]!,\$t:String!)"
                          . "{__typename $vote}", variables => $vars }),
    $j->encode({ query => "mutation(\$u:[String!]!,\$t:String!)"
                          . "{vote(usernames:\$u,ticket:\$t){...F}} "
                          . 'fragment F on VoteResult{message}',
                 variables => $vars }),
    $j->encode({ query => "query Q{totalVotes} mutation M(\$u:[String!]!,"
                          . "\$t:String!){$vote}",
                 operationName => 'M', variables => $vars }),
    $j->encode({ query => "query Q{totalVotes} mutation M(\$u:[String!]!,"
                          . "\$t:String!){$vote}",
                 operationName => 'Q', variables => $vars }),
    $j->encode({ query => "mutation(\$u:[String!]!,\$t:String!,"
                          . "\$s:Boolean!){vote(usernames:\$u,ticket:\$t)"
                          . '{message success @skip(if:$s)}}',
                 variables => { %$vars, s => JSON::PP::true } }),
);
my @variants = (
    [],
    ['Content-Type: application/json; charset=utf-8'],
    ['Content-Type: APPLICATION/JSON'],
    ['Content-Type: application/graphql-response+json'],
    ['Content-Type: text/plain'],
    [],
    [$ct, 'Accept: application/graphql-response+json'],
    [$ct, 'Accept: application/json;q=0, */*'],
    [$ct, 'Accept: text/event-stream'],
    [$ct, 'Accept: text/event-stream, application/json'],
    [$ct, 'Accept: application/graphql-response+json;q=0.1, '
          . 'application/json'],
    [$ct, 'Content-Encoding: identity'],
    [$ct, 'Content-Encoding: gzip'],
    [$ct, 'Content-Encoding: identity', 'Content-Encoding: br'],
    [$ct, 'X-Client: someone'],
    [$ct, 'Expect: 100-continue'],
    [$ct, 'Accept: application/json', 'Accept: text/event-stream'],
);

my ($n, $same, $r0) = (0, 0, replays());
for my $b (@bodies) {
    for my $i (0 .. $#variants) {
        my $h = $variants[$i];
        my @h = (@$h ? @$h : $i ? () : ($ct));
        for my $o ({}, { chunked => 1 }, { version => '1.0' }) {
            # bytes sent once only: never given again, the engine's
            my $engine = once(request($b . ' ' x ($n + 1), headers => \@h,
                                      %$o));
            once(request($b, headers => \@h, %$o));
            my $again = once(request($b, headers => \@h, %$o));
            $n++;
            if ($again eq $engine) {
                $same++;
            } else {
                diag "headers @h, body $b:\n  engine $engine\n"
                     . "  again  $again";
            }
        }
    }
}
is($same, $n, "each of $n variants answered again as the engine answers");
cmp_ok(replays() - $r0, '>', 0,
       'some of them given again (' . (replays() - $r0) . ')');

stop_nginx();
check_error_log('replay variants');

done_testing();
