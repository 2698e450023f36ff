# Request bodies in every shape HTTP allows reach the GraphQL layer
# whole: chunked (many chunks, a chunk per byte, an empty body), sent
# slowly in pieces, after "Expect: 100-continue", and several requests
# pipelined on one connection.  Each gets its answer and the worker
# stays up.  (A chunked body ends in an empty buffer without memory,
# which joining the body once copied from a null pointer: undefined
# behaviour the sanitized build stops the worker on.)  A compressed
# body is refused: the service reads only plain JSON.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use IO::Compress::Gzip ();
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep);

start_nginx('location = /graphql { cast_graphql; }', http_config => <<"EOF");
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
EOF

my $BODY = '{"query":"{__typename}"}';
my $ANSWER = '{"data":{"__typename":"Query"}}';

# sends the pieces, a pause between them; all the connection answered
sub exchange {
    my (@pieces) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Timeout => 5)
        or die "connect: $!\n";

    for my $i (0 .. $#pieces) {
        sleep 0.2 if $i;
        print {$s} $pieces[$i];
    }

    my ($out, $buf) = ('');
    $out .= $buf while sysread($s, $buf, 65536);
    close $s;
    return $out;
}

sub head {
    my ($extra) = @_;
    return "POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Type: application/json\r\n$extra\r\n";
}

sub chunked {
    my (@chunks) = @_;
    return join '', (map { sprintf("%x\r\n", length) . "$_\r\n" } @chunks),
                    "0\r\n\r\n";
}

sub answers { return scalar(() = $_[0] =~ /\Q$ANSWER\E/g) }

my $close = "Connection: close\r\n";

my $out = exchange(head("Transfer-Encoding: chunked\r\n$close")
                   . chunked($BODY));
is(answers($out), 1, 'chunked, one chunk') or diag $out;

$out = exchange(head("Transfer-Encoding: chunked\r\n$close")
                . chunked(substr($BODY, 0, 5), substr($BODY, 5)));
is(answers($out), 1, 'chunked, two chunks') or diag $out;

$out = exchange(head("Transfer-Encoding: chunked\r\n$close")
                . chunked(split //, $BODY));
is(answers($out), 1, 'chunked, a chunk per byte') or diag $out;

$out = exchange(head("Transfer-Encoding: chunked\r\n$close"),
                sprintf("%x\r\n", 7) . substr($BODY, 0, 7) . "\r\n",
                chunked(substr($BODY, 7)));
is(answers($out), 1, 'chunked, the chunks arriving apart') or diag $out;

$out = exchange(head("Transfer-Encoding: chunked\r\n$close") . "0\r\n\r\n");
like($out, qr{\AHTTP/1\.1 400 .*The request body is empty}s,
     'chunked, empty: 400') or diag $out;

$out = exchange(head('Content-Length: ' . length($BODY) . "\r\n$close"),
                substr($BODY, 0, 3), substr($BODY, 3, 10),
                substr($BODY, 13));
is(answers($out), 1, 'a body arriving in three pieces') or diag $out;

$out = exchange(head('Content-Length: ' . length($BODY)
                     . "\r\nExpect: 100-continue\r\n$close"), $BODY);
like($out, qr{\AHTTP/1\.1 100 Continue\r\n\r\nHTTP/1\.1 200 }s,
     'Expect: 100-continue') or diag $out;
is(answers($out), 1, 'then the answer') or diag $out;

my $one = head('Content-Length: ' . length($BODY) . "\r\n") . $BODY;
my $last = head('Content-Length: ' . length($BODY) . "\r\n$close") . $BODY;
my $chunk = head("Transfer-Encoding: chunked\r\n") . chunked($BODY);
$out = exchange($one . $chunk . $one . $chunk . $last);
is(answers($out), 5, 'five requests pipelined, chunked and not')
    or diag $out;

# a compressed body is refused (415 with a GraphQL error), never read
# as JSON; identity is no compression
IO::Compress::Gzip::gzip(\$BODY => \my $zipped)
    or die "gzip failed\n";
$out = exchange(head('Content-Length: ' . length($zipped)
                     . "\r\nContent-Encoding: gzip\r\n$close") . $zipped);
like($out, qr{\AHTTP/1\.1 415 }, 'Content-Encoding: gzip: 415')
    or diag $out;
my $refusal = '{"errors":[{"message":"The request body must not be '
              . 'compressed; send it without a Content-Encoding.",'
              . '"extensions":{"code":"BAD_REQUEST"}}]}';
like($out, qr{\Q$refusal\E\z}, 'with a GraphQL error') or diag $out;

$out = exchange(head('Content-Length: ' . length($BODY)
                     . "\r\nContent-Encoding: identity\r\n"
                     . "Content-Encoding: br\r\n$close") . $BODY);
like($out, qr{\AHTTP/1\.1 415 }, 'identity, then br: 415') or diag $out;

$out = exchange(head('Content-Length: ' . length($BODY)
                     . "\r\nContent-Encoding: Identity\r\n$close") . $BODY);
is(answers($out), 1, 'Content-Encoding: identity: answered') or diag $out;

check_error_log('bodies');
stop_nginx();
done_testing();
