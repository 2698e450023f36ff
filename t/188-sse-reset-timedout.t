# reset_timedout_connection on (conf/cast.conf sets it, README "Clients
# that do not read") resets a subscription stream that send_timeout
# closes, as nginx resets a request's connection: an RST, and the unsent
# bytes in the socket freed at once.  A stream that had let its request
# go (ngx_http_cast_sse_detach: any HTTP/1.1 stream once its first bytes
# are out) was closed with a FIN queued behind its unsent bytes, which
# the kernel then held until the client read them or went.  Off, the
# stream still ends with a FIN.  On a private nginx (one worker, a 4 kB
# send buffer, send_timeout 1s) on the stack's Redis, a stream of events
# of about 40 kB (400 long names) whose client reads the first one and
# then stops reading.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::Pipeline;
use Cast::SSE;
use Errno qw(ECONNRESET);
use HTTP::Tiny;
use IO::Select;
use Test::More;
use Time::HiRes qw(time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $port = server_port();
my $reset = free_port();
my $fin = free_port();

start_nginx(<<"CONF", http_config => <<"HTTP");
        location = /graphql { cast_graphql; }
        location = /metrics { cast_metrics; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_max_usernames 1000;

    server {
        listen 127.0.0.1:$reset sndbuf=4k;
        client_body_buffer_size 64k;
        reset_timedout_connection on;
        location = /graphql { cast_graphql; send_timeout 1s; }
    }

    server {
        listen 127.0.0.1:$fin sndbuf=4k;
        client_body_buffer_size 64k;
        location = /graphql { cast_graphql; send_timeout 1s; }
    }
HTTP

sub dropped {
    my $res = HTTP::Tiny->new->get("http://127.0.0.1:$port/metrics");
    my ($n) = ($res->{content} // '') =~
        /^cast_subscriptions_dropped_total (\d+)$/m;
    return $n // 0;
}

# reads to the end: 'eof', 'reset', or 'open' if it did not end in time
sub drain {
    my ($c, $seconds) = @_;
    my $sel = IO::Select->new($c->{sock});
    my $end = time + $seconds;

    while (time < $end) {
        next unless $sel->can_read($end - time);
        my $n = sysread($c->{sock}, my $buf, 65536);
        return 'eof' if defined $n && $n == 0;
        return $!{ECONNRESET} ? 'reset' : "error $!" unless defined $n;
    }
    return 'open';
}

my @names = pipeline_names('s188', 400);
my @long = map { $_ . ('-' x (60 - length $_)) } @names;
my $WATCH = 'subscription($u: [String!]!) { votes(usernames: $u) '
          . '{ username votes } }';
my $VOTE = 'mutation($u:[String!]!,$t:String!){vote(usernames:$u,'
         . 'ticket:$t){success}}';

for my $case ([$reset, 'reset_timedout_connection on', 'reset'],
              [$fin, 'reset_timedout_connection off', 'eof'])
{
    my ($p, $what, $want) = @$case;
    my $d0 = dropped();
    my $c = sse_open($WATCH, { u => \@long },
                     url => "http://127.0.0.1:$p/graphql", rcvbuf => 4096);
    is($c->{status}, 200, "$what: a stream of large events");

    my $first = sse_next($c, 30);
    is(scalar @{ $first && $first->{data}{data}{votes} || [] }, 400,
       '  its first event read, all 400 names');

    # the next event, on the stream without its request, is not read
    my ($ticket) = cas_ticket();
    my (undef, $res) = graphql($VOTE, { u => [$long[0]], t => $ticket });
    ok($res->{data}{vote}{success}, '  a vote, and the client stops reading');
    ok(wait_for(15, sub { dropped() > $d0 }),
       '  it took nothing for send_timeout: dropped');

    is(drain($c, 10), $want, $want eq 'reset'
       ? '  with a reset: the unsent bytes freed at once'
       : '  with a FIN behind the unsent bytes, as before');
    close $c->{sock};
}

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
