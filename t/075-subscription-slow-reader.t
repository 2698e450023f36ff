# send_timeout on a stream: a client is dropped when it stops taking
# data, never merely because it is slow.  On a private nginx (one worker,
# a 4 kB send buffer, send_timeout 1s) on the stack's Redis, a
# subscription whose events are about 40 kB (400 long names) is read by a
# client with a small receive buffer, 1 kB every 100 ms: each event takes
# seconds to drain, the socket taking a little at a time.  It gets its
# first event whole (sent while the stream has its request) and then the
# next one (sent once the stream has let its request go), and is not
# dropped; the same client that then stops reading is dropped within a
# few send_timeouts.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::Pipeline;
use Cast::SSE;
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $slow = free_port();

start_nginx(<<"CONF", http_config => <<"HTTP");
        location = /graphql { cast_graphql; }
        location = /metrics { cast_metrics; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_max_usernames 1000;

    server {
        listen 127.0.0.1:$slow sndbuf=4k;
        client_body_buffer_size 64k;
        location = /graphql { cast_graphql; send_timeout 1s; }
    }
HTTP

sub dropped { nginx_metrics()->{cast_subscriptions_dropped_total} // 0 }

# $bytes every $pause seconds for $seconds, or until $done says so
sub trickle {
    my ($c, $seconds, $bytes, $pause, $done) = @_;
    my $end = time + $seconds;

    while (time < $end) {
        my $n = sysread($c->{sock}, my $buf, $bytes);
        if (defined $n && $n == 0) {
            $c->{eof} = 1;
            return 0;
        }
        if ($n) {
            $c->{raw} .= $buf;
            Cast::SSE::dechunk($c);
            Cast::SSE::parse($c);
            return 1 if $done->();
        }
        sleep $pause;
    }
    return 0;
}

my @names = pipeline_names('s075', 400);
# names of 60 bytes or so: an event of about 40 kB
my @long = map { $_ . ('-' x (60 - length $_)) } @names;
my $WATCH = 'subscription($u: [String!]!) { votes(usernames: $u) '
          . '{ username votes } }';
my $VOTE = 'mutation($u:[String!]!,$t:String!){vote(usernames:$u,'
         . 'ticket:$t){success}}';

my $d0 = dropped();
my $c = sse_open($WATCH, { u => \@long }, url => "http://127.0.0.1:$slow/graphql",
                 rcvbuf => 4096);
is($c->{status}, 200, 'a stream of large events');

my $t0 = time;
ok(trickle($c, 30, 1024, 0.1, sub { @{ $c->{events} } >= 1 }),
   'a slow reader gets its first event whole');
my $first = shift @{ $c->{events} };
is(scalar @{ $first->{data}{data}{votes} // [] }, 400, '  all 400 names');
my $took = time - $t0;
cmp_ok($took, '>', 2, sprintf('  it took %.1f s, more than send_timeout '
                              . '(1s) twice', $took));
is(dropped(), $d0, '  and the stream was not dropped meanwhile');

# one vote: the next event, now on the stream without its request
my ($ticket) = cas_ticket();
my (undef, $res) = graphql($VOTE, { u => [$long[399]], t => $ticket });
ok($res->{data}{vote}{success}, 'a vote for the last name');

$t0 = time;
ok(trickle($c, 30, 1024, 0.1, sub {
       grep { ($_->{data}{data}{votes}[399]{votes} // 0) > 0 }
            @{ $c->{events} }
   }), 'the slow reader gets the next event whole');
$took = time - $t0;
cmp_ok($took, '>', 2, sprintf('  it took %.1f s', $took));
is(dropped(), $d0, '  not dropped');
ok(!$c->{eof}, '  the stream is open');

# the same client stops reading: a vote fills its buffers, then nothing
($ticket) = cas_ticket();
(undef, $res) = graphql($VOTE, { u => [$long[0]], t => $ticket });
ok($res->{data}{vote}{success}, 'another vote, and the client stops reading');
ok(wait_for(10, sub { dropped() > $d0 }),
   'a client that takes nothing for send_timeout is dropped');
sse_read_all($c, 10);
ok($c->{eof}, '  its connection closed');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
