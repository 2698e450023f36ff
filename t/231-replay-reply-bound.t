# A link's reply may hold 1 MB and 64 bytes a byte of the commands in
# flight (ngx_http_cast_redis.c), but a vote with an idempotencyKey is
# answered the reply recorded for its key, whatever names it carries: the
# first vote's cast_max_usernames names of 64 bytes, some 18 KB as
# hiredis holds it, for a retry of one name, some 150 bytes of
# arguments (9.6 KB of bound).  A few hundred such retries in one batch
# (as many requests at once: a request's votes go one after the other)
# passed the bound: the worker dropped its Redis link, every call in
# flight on it with it (others' votes, applied but answered
# UNAVAILABLE), as often as the client asked, the defaults as they are.
# cast_votes now answers a retry no more names than it carries, which is
# all nginx ever read of the record.  A private Redis, a ticket written
# into it by the test.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok ticket answering private_nginx);
use IO::Socket::INET;
use JSON::PP;
use Test::More;

$Cast::Nginx::WorkerConnections = 1024;

private_nginx(<<'CONF');
location = /graphql { cast_graphql; }
CONF

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my $run = sprintf '%d%04d', time, $$ % 10000;
my @names = map { sprintf '%03d-%s-%s', $_, $run, 'r' x (59 - length $run) }
            1 .. 100;
my $key = "k$run";

cmd_ok('SET', '{cast}:ready', 1);
is(answering($url, 'nobody', 5), 5, 'nginx answers from the private Redis');

my $t = ticket(1, max => 5);

my (undef, $json) = graphql(
    'mutation($u: [String!]!, $t: String!, $k: String) { vote('
    . 'usernames: $u, ticket: $t, idempotencyKey: $k) { success } }',
    { u => \@names, t => $t, k => $key }, url => $url);
ok($json->{data} && $json->{data}{vote}{success},
   'a vote of 100 names of 64 bytes, with a key')
    or diag explain $json;

# its retries of one short name, each its own request (a request's
# votes are decided one after the other), sent while Redis is paused:
# the first waits in Redis, the others gather into the next batch
my $n = 300;
my $body = JSON::PP->new->canonical->encode({
    query => 'mutation($u:[String!]!,$t:String!,$k:String)'
             . '{vote(usernames:$u,ticket:$t,idempotencyKey:$k){success}}',
    variables => { u => ['a'], t => $t, k => $key } });
my $req = "POST /graphql HTTP/1.1\r\nHost: localhost\r\n"
          . "Content-Type: application/json\r\nConnection: close\r\n"
          . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

for my $round (1 .. 2) {
    my @s = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => server_port())
            or die "connect: $!\n"
    } 1 .. $n;

    cmd_ok('CLIENT', 'PAUSE', 300, 'ALL');
    syswrite($_, $req) for @s;

    my ($ok, $bad) = (0);
    for my $s (@s) {
        local $/;
        my $res = <$s> // '';
        $res =~ /"success":true/ ? $ok++ : ($bad //= $res);
    }
    is($ok, $n, "round $round: $n retries of one name at once, each "
       . "answered its recorded success") or diag $bad;
}

# the library itself: cast_votes answers a retry the recorded reply cut
# to the names it carries (nginx reads no more); cast_vote_batch, which
# an older nginx calls, the whole record as before
my @retry = ($t, '', $key, '1', '', '0', '1', 'a', '1');
my $short = cmd_ok('FCALL', 'cast_votes', 0, @retry);
my $whole = cmd_ok('FCALL', 'cast_vote_batch', 0, @retry);
is(scalar @{ $short->[0] }, 5, 'cast_votes: a retry of one name gets one');
is_deeply([ @{ $short->[0] }[0, 3, 4] ], ['OK', $names[0], 1],
          '  the first recorded name and its total');
is(scalar @{ $whole->[0] }, 203, 'cast_vote_batch: the 100 recorded names');
is_deeply([ @{ $whole->[0] }[0 .. 4] ], $short->[0], '  the same head');

my @two = ($t, '', $key, '1', '', '0', '2', 'a', '1', 'b', '1');
is(scalar @{ cmd_ok('FCALL', 'cast_votes', 0, @two, @retry)->[0] }, 7,
   'cast_votes: a retry of two names gets two');

unlike(error_log_text(), qr/sent a reply of more than/,
       'no reply passed its bound: the link was never dropped');

stop_nginx();
check_error_log('retries of a key within the bound');

done_testing();
