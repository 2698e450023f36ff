# A body within cast_max_body_size is answered wherever nginx kept it.
# nginx keeps a chunked body's framing in client_body_buffer_size, so a
# body sent in small chunks fills conf/cast.conf's 64k long before its
# own 64 KB (an 11 KB body a byte a chunk does) and goes to nginx's
# temporary file, as any body does past a smaller client_body_buffer_size;
# the module reads it back.  Before, such a body was refused 413 "larger
# than the limit of 65536 bytes".  One past cast_max_body_size is still
# refused, in a file or not.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use IO::Socket::INET;
use Test::More;

start_nginx(<<'SERVER', http_config => <<"HTTP");
        location = /graphql { cast_graphql; }
        location = /small {
            client_body_buffer_size 1k;
            cast_graphql;
        }
        location = /large {
            client_body_buffer_size 1k;
            client_max_body_size 1m;
            cast_graphql;
        }
SERVER
    client_body_buffer_size 64k;
    client_max_body_size 64k;
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
HTTP

my $ANSWER = '{"data":{"__typename":"Query"}}';

# a query of $n bytes: spaces before its last brace
sub body {
    my ($n) = @_;
    my $q = '{"query":"{__typename}"';
    return $q . (' ' x ($n - length($q) - 1)) . '}';
}

sub chunked {
    my ($body, $size) = @_;
    my $out = '';

    for (my $i = 0; $i < length $body; $i += $size) {
        my $c = substr($body, $i, $size);
        $out .= sprintf("%x\r\n", length $c) . "$c\r\n";
    }
    return $out . "0\r\n\r\n";
}

# the whole exchange of one request on its own connection
sub exchange {
    my ($uri, $head, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Timeout => 10)
        or die "connect: $!\n";

    print {$s} "POST $uri HTTP/1.1\r\nHost: localhost\r\n"
               . "Content-Type: application/json\r\n$head"
               . "Connection: close\r\n\r\n$body";

    my ($out, $buf) = ('');
    $out .= $buf while sysread($s, $buf, 65536);
    close $s;
    return $out;
}

my $te = "Transfer-Encoding: chunked\r\n";

for my $case ([11 * 1024, 1], [40 * 1024, 8], [65536, 64]) {
    my ($n, $size) = @$case;
    my $out = exchange('/graphql', $te, chunked(body($n), $size));
    like($out, qr{\AHTTP/1\.1 200 .*\Q$ANSWER\E\z}s,
         "$n bytes in chunks of $size (past client_body_buffer_size): "
         . 'answered') or diag substr($out, 0, 300);
}

my $out = exchange('/small', 'Content-Length: 4096' . "\r\n", body(4096));
like($out, qr{\AHTTP/1\.1 200 .*\Q$ANSWER\E\z}s,
     '4 KB with client_body_buffer_size 1k: answered')
    or diag substr($out, 0, 300);

$out = exchange('/small', $te, chunked(body(20000), 3));
like($out, qr{\AHTTP/1\.1 200 .*\Q$ANSWER\E\z}s,
     '20000 bytes chunked with client_body_buffer_size 1k: answered')
    or diag substr($out, 0, 300);

# past cast_max_body_size: refused in a file as in memory
my $refusal = 'The request body is larger than the limit of 65536 bytes '
              . '(cast_max_body_size).';

$out = exchange('/large', $te, chunked(body(65537), 4096));
like($out, qr{\AHTTP/1\.1 413 .*\Q$refusal\E}s,
     '65537 bytes in a file (client_max_body_size 1m): 413')
    or diag substr($out, 0, 300);

$out = exchange('/large', $te, chunked(body(65536), 4096));
like($out, qr{\AHTTP/1\.1 200 .*\Q$ANSWER\E\z}s,
     '65536 bytes in a file (client_max_body_size 1m): answered')
    or diag substr($out, 0, 300);

$out = exchange('/graphql', $te, chunked(body(65537), 16384));
like($out, qr{\AHTTP/1\.1 413 }, '65537 bytes chunked: 413')
    or diag substr($out, 0, 300);

check_error_log('bodies in a file');
stop_nginx();
done_testing();
