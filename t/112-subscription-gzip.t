# A stream that nginx's gzip filter encodes (gzip on with text/event-stream
# among gzip_types, Content-Encoding: gzip): every event goes through the
# filter.  An event written straight to the socket, past the filters, put
# plain text into the gzip stream and the client could decode nothing
# after the first comment.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Compress::Zlib;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $port = server_port();

start_nginx(<<"CONF", http_config => <<"HTTP");
        location = /graphql {
            gzip on;
            gzip_types text/event-stream;
            gzip_min_length 1;
            cast_graphql;
        }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
HTTP

my $body = encode_json({ query => 'subscription { totalVotes }' });
my $s = IO::Socket::INET->new("127.0.0.1:$port") or die "connect: $!\n";
print {$s} "POST /graphql HTTP/1.1\r\nHost: x\r\n"
    . "Accept: text/event-stream\r\nAccept-Encoding: gzip\r\n"
    . "Content-Type: application/json\r\n"
    . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

my ($raw, $gz, $text, $bad, $head_done) = ('', '', '', 0, 0);
my ($inf) = inflateInit(-WindowBits => WANT_GZIP);
my $sel = IO::Select->new($s);
my $deadline = time + 10;

# the chunks, inflated as they come, until an event's data is decoded
until ($text =~ /event: next\ndata: \{/ || $bad || time > $deadline) {
    next unless $sel->can_read(0.2);
    sysread($s, $raw, 65536, length $raw) or last;
    unless ($head_done) {
        next unless $raw =~ s/^.*?\r\n\r\n//s;
        $head_done = 1;
    }
    while ($raw =~ /^([0-9a-fA-F]+)\r\n/) {
        my $n = hex $1;
        my $head = length($1) + 2;
        last if length($raw) < $head + $n + 2;
        $gz = substr($raw, $head, $n);
        substr($raw, 0, $head + $n + 2) = '';
        my ($out, $st) = $inf->inflate($gz);
        $bad = 1 unless $st == Z_OK || $st == Z_STREAM_END;
        $text .= $out // '';
    }
}

ok(!$bad, 'the gzip stream decodes');
like($text, qr/event: next\ndata: \{"data":\{"totalVotes":\d+\}\}\n\n/,
     '  into an event');
close $s;

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
