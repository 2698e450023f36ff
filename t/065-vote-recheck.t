# Votes that wait in a worker's next batch while the batches before it
# are in Redis: when a reply teaches the worker that their ticket is
# spent, they are refused as the batch leaves, without Redis, with
# Redis's answer and its metrics outcome.  So the herd costs Redis at most
# the batches already in flight when the first refusal came back (two per
# worker), not one more.  One nginx worker and a private Redis, paused
# (CLIENT PAUSE) while the votes come one by one, so that the first vote
# leaves alone, the second too (two batches in flight at most), and the
# others gather into the third; FCALLs counted exactly with INFO
# commandstats.  A vote with an idempotencyKey in that batch still
# reaches Redis.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(vote_body);
use Cast::PrivateRedis qw(cmd cli fcalls ticket answering private_nginx);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);


$Cast::Nginx::Workers = 1;
private_nginx(<<'CONF', <<"HTTP");
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF
    cast_redis_timeout 3s;
HTTP

my $port = server_port();
my $base = "http://127.0.0.1:$port";
my $url = "$base/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "recheck-$run";

sub exhausted_metric {
    my $res = HTTP::Tiny->new->get("$base/metrics");
    return $res->{content} =~ /^cast_votes_total\{outcome="exhausted"\} (\d+)/m
           ? $1 : -1;
}

# the bodies POSTed one by one, $gap s apart, each on its own connection,
# and only then every answer read: the vote messages in order
sub staggered {
    my ($gap, @bodies) = @_;
    my @socks;

    for my $body (@bodies) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp')
            or die "connect: $!\n";
        print {$s} "POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
                   . "Content-Type: application/json\r\n"
                   . "Content-Length: " . length($body) . "\r\n"
                   . "Connection: close\r\n\r\n$body";
        push @socks, $s;
        sleep $gap;
    }

    my @out;
    for my $s (@socks) {
        my $sel = IO::Select->new($s);
        my $buf = '';
        while ($sel->can_read(10)) {
            my $n = sysread($s, $buf, 65536, length $buf);
            last unless $n;
        }
        my ($json) = $buf =~ /\r\n\r\n(.*)\z/s;
        my $d = eval { decode_json($json // '') };
        push @out, $d && $d->{data} && $d->{data}{vote}
                   ? $d->{data}{vote}{message} : "no answer: $buf";
    }
    return @out;
}

cli('SET', '{cast}:ready', 1);

my $up = answering($url, $name, 20);
is($up, 20, 'the worker answers from the private Redis');

my $SPENT = 'Ticket usage limit exceeded';
my $seq = 1000 + int rand 1000;
my $t1 = ticket($seq, max => 1);

my @first = staggered(0, vote_body($t1, [$name]));
is($first[0], 'Votes recorded successfully', 'the ticket\'s one use');

# --- the herd behind a paused Redis ------------------------------------------

my $n = 8;
my $e0 = exhausted_metric();
cli('CONFIG', 'RESETSTAT');
cli('CLIENT', 'PAUSE', 700, 'ALL');

my @msg = staggered(0.05, map { vote_body($t1, [$name]) } 1 .. $n);
is_deeply(\@msg, [($SPENT) x $n], "$n votes that came one by one: refused")
    or diag explain \@msg;

my $calls = fcalls();
is($calls, 2, "Redis saw $calls calls: the two batches in flight, not the"
              . " one that waited");
is(exhausted_metric() - $e0, $n, 'each counted with the outcome "exhausted"');

# --- an idempotency key in the waiting batch still reaches Redis -------------

my $t2 = ticket($seq + 1, max => 1);
@first = staggered(0, vote_body($t2, [$name]));
is($first[0], 'Votes recorded successfully', 'a new ticket\'s one use');

cli('CONFIG', 'RESETSTAT');
cli('CLIENT', 'PAUSE', 700, 'ALL');

@msg = staggered(0.05, (map { vote_body($t2, [$name]) } 1 .. 3),
                 vote_body($t2, [$name], undef, key => "k-$run"),
                 vote_body($t2, [$name]));
is_deeply(\@msg, [($SPENT) x 5], 'with a key among them: all refused')
    or diag explain \@msg;
is(fcalls(), 3, 'the waiting batch left with the keyed vote alone');
is(cmd('HGET', '{cast}:count', $name), 2, 'two votes counted in all');

stop_nginx();
check_error_log('votes rechecked as their batch leaves');

done_testing();
