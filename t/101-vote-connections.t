# cast_redis_min_replicas: the vote batches and their WAITs go on
# connections of their own, two per worker, so that while one batch's WAIT
# blocks its connection another batch runs and waits on the other, and the
# reads (query, cas, /readyz) on the worker's first connection never wait
# behind a WAIT.  A private Redis without replicas (every WAIT waits its
# whole quarter of cast_redis_timeout, 5 s here, and its votes answer
# UNAVAILABLE) and one nginx worker; what blocks is read from Redis's
# CLIENT LIST, never from a clock.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(vote_body);
use Cast::PrivateRedis qw(cmd cmd_ok calls ticket answering private_nginx);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);


$Cast::Nginx::Workers = 1;
private_nginx(<<'CONF', <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
CONF
    cast_redis_timeout 20s;
    cast_redis_min_replicas 1;
HTTP

my $port = server_port();
my $url = "http://127.0.0.1:$port/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "links-$run";

my $ticket = ticket(9, max => 1000000);
cmd_ok('SET', '{cast}:ready', 1);

is(answering($url, $name, 5), 5, 'the worker answers from the private Redis');

# the clients of Redis other than this test's own connection
sub clients {
    return grep { !/ cmd=client/ } split /\n/, cmd('CLIENT', 'LIST');
}

# the clients blocked in a WAIT
sub blocked {
    return grep { / cmd=wait / && / flags=\S*b/ } clients();
}

sub waiting { return scalar blocked() }

# polls until f() is true or the time is up; returns its last value
sub until_true {
    my ($f, $seconds) = @_;
    my $deadline = time + $seconds;
    my $v;

    until (($v = $f->()) || time > $deadline) {
        sleep 0.02;
    }
    return $v;
}

is(scalar(clients()), 3, 'the worker has three connections: one for '
   . 'every command, two for the vote batches');

# a vote sent on its own connection, answered later
sub vote_open {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp') or die "connect: $!\n";
    my $vb = vote_body($ticket, [$name]);

    $s->syswrite("POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
                 . "Content-Type: application/json\r\nConnection: close\r\n"
                 . 'Content-Length: ' . length($vb) . "\r\n\r\n$vb");
    return $s;
}

sub answered_yet {
    return scalar IO::Select->new(@_)->can_read(0);
}

sub vote_answer {
    my ($s) = @_;
    my $buf = '';

    IO::Select->new($s)->can_read(30) or return 'no answer';
    1 while $s->sysread($buf, 65536, length $buf);
    my (undef, $body) = split /\r\n\r\n/, $buf, 2;
    my $json = eval { JSON::PP->new->decode($body // '') } or return $buf;
    return $json->{errors} ? $json->{errors}[0]{extensions}{code}
                           : JSON::PP->new->canonical->encode($json);
}

cmd_ok('CONFIG', 'RESETSTAT');

my $va = vote_open();
ok(until_true(sub { waiting() >= 1 }, 4), "a vote batch's WAIT blocks "
   . 'its connection');

my $vb = vote_open();
is(until_true(sub { waiting() >= 2 && waiting() }, 4), 2,
   'a second vote batch runs and waits on the other vote connection '
   . 'meanwhile: two batches in flight');

# the reads, while both WAITs block
my (undef, $q) = graphql("{query(username:\"$name\")}", undef, url => $url);
my (undef, $c) = graphql('{cas{remainingUsage}}', undef, url => $url);
my ($ready) = `curl -s http://127.0.0.1:$port/readyz`;

ok(!answered_yet($va, $vb), 'the reads below were answered before '
   . 'either vote');
is(waiting(), 2, 'both WAITs still block');
ok($q && defined $q->{data}{query} && !$q->{errors}, 'query answered')
    or diag explain $q;
ok($c && defined $c->{data}{cas} && !$c->{errors}, 'cas answered')
    or diag explain $c;
like($ready // '', qr/^ready redis /, '/readyz answers ready');

is(vote_answer($va), 'UNAVAILABLE', 'the first vote, which no replica '
   . 'acknowledged, answers UNAVAILABLE');
is(vote_answer($vb), 'UNAVAILABLE', 'so does the second');

my ($fcalls, $waits) = (calls('fcall'), calls('wait'));
is($waits, $fcalls, "one WAIT per vote batch ($fcalls batches)");
ok(cmd('HGET', '{cast}:count', $name) >= 2,
   'the votes ran on the primary (UNAVAILABLE: applied, not acknowledged)');

# a vote connection dropped while its WAIT blocks: its vote answers
# UNAVAILABLE and the connection is made again
$va = vote_open();
ok(until_true(sub { waiting() >= 1 }, 4), 'a vote waits again');
my ($id) = map { /^id=(\d+) / } blocked();
cmd_ok('CLIENT', 'KILL', 'ID', $id);
is(vote_answer($va), 'UNAVAILABLE', 'its connection killed, the vote '
   . 'answers UNAVAILABLE');
is(until_true(sub { scalar(clients()) == 3 && 3 }, 10), 3,
   'the worker connects again: three connections');

done_testing();
