# A client's share of a ticket through nginx (cast_client_key from a
# header, cast_client_uses 3): a greedy client at high concurrency gets
# exactly 3 uses of a ticket, the other clients the rest, and the ticket's
# own limit stays exact under a 1,000-way race; a refusal for the share is
# "Client share of this ticket used up", consumes nothing, is counted in
# /metrics, and never makes a worker refuse the ticket for the others
# (the spent-ticket memory of ngx_http_cast_vote.c).  Idempotent
# retries count once; a request without a key is refused; a long key is
# its SHA-256 in Redis; cas tells clientRemaining.  A private nginx with
# two workers and a private Redis; the tickets are written by the test.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body messages);
use Cast::PrivateRedis qw(cmd_ok ticket answering private_nginx);
use Digest::SHA qw(sha256);
use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

my $SHARE = 3;

$Cast::Nginx::Workers = 2;
$Cast::Nginx::LogLevel = 'info';
$Cast::Nginx::WorkerConnections = 4096;
private_nginx(<<'CONF', <<"HTTP");
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF
    cast_client_key \$http_x_client;
    cast_client_uses $SHARE;
    large_client_header_buffers 4 16k;
HTTP

my $base = 'http://127.0.0.1:' . server_port();
my $url = "$base/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "share-$run";

sub vote {
    my ($ticket, $client, %o) = @_;
    my ($status, $json) = graphql(
        'mutation($u:[String!]!,$t:String!,$k:String){vote(usernames:$u,'
        . 'ticket:$t,idempotencyKey:$k){success message}}',
        { u => [$name], t => $ticket, defined $o{key} ? (k => $o{key}) : () },
        url => $url,
        headers => { defined $client ? ('x-client' => $client) : () });
    return $json;
}

sub cas {
    my ($client) = @_;
    my (undef, $json) = graphql(
        '{cas{remainingUsage clientRemaining}}', undef, url => $url,
        headers => { defined $client ? ('x-client' => $client) : () });
    return $json->{data}{cas} // $json;
}

sub metric {
    my ($outcome) = @_;
    my $res = HTTP::Tiny->new->get("$base/metrics");
    return $res->{content} =~ /^cast_votes_total\{outcome="$outcome"\} (\d+)/m
           ? $1 : -1;
}

sub burst_as {
    my ($ticket, @clients) = @_;
    return burst($url, [map { vote_body($ticket, [$name]) } @clients],
                 headers => [map { { 'X-Client' => $_ } } @clients],
                 timeout => 60);
}

cmd_ok('SET', '{cast}:ready', 1);

my $up = answering($url, $name, 20);
is($up, 20, 'the workers answer from the private Redis');

# --- a greedy client at high concurrency: exactly its share -----------------

my $seq = 5000 + int rand 1000;
my $t1 = ticket($seq, max => 100);
my $s0 = metric('client_share');
my $msg = messages(burst_as($t1, ('greedy') x 300));
is_deeply($msg, { 'Votes recorded successfully' => $SHARE,
                  'Client share of this ticket used up' => 300 - $SHARE },
          "300 votes of one client at once: exactly $SHARE accepted")
    or diag explain $msg;
is(metric('client_share') - $s0, 300 - $SHARE,
   'each refusal counted as outcome "client_share"');
is(cmd_ok('HGET', '{cast}:ticket', 'used'), $SHARE,
   'the refusals took no use');
is(cmd_ok('HGET', '{cast}:count', $name), $SHARE, 'and counted no vote');
is_deeply(cas('greedy'), { remainingUsage => 100 - $SHARE,
                           clientRemaining => 0 },
          'cas: the ticket has uses left, the greedy client none');
is_deeply(cas('newcomer'), { remainingUsage => 100 - $SHARE,
                             clientRemaining => $SHARE },
          'a newcomer has its whole share');

# --- the others get the rest: the workers did not take it as spent -----------

my @others = map { "other-$run-$_" } 1 .. 100 - $SHARE;
$msg = messages(burst_as($t1, @others));
is_deeply($msg, { 'Votes recorded successfully' => 100 - $SHARE },
          (100 - $SHARE) . ' other clients at once: every one accepted')
    or diag explain $msg;
is(cmd_ok('HGET', '{cast}:ticket', 'used'), 100,
   'the ticket is spent exactly');
is(vote($t1, 'late')->{data}{vote}{message}, 'Ticket usage limit exceeded',
   'one more client: the ticket is spent');
is(cas('late')->{clientRemaining}, 0, 'cas: nothing left to anyone');

# --- a 1,000-way race with shares: the ticket's limit stays exact -----------

for my $round (1 .. 2) {
    my $t = ticket($seq + $round, max => 100);
    my $c0 = cmd_ok('HGET', '{cast}:count', $name) // 0;
    # 10 greedy clients sending 40 each, 300 clients sending 2 each
    my @clients = ((map { ("greedy-$round-$_") x 40 } 1 .. 10),
                   (map { ("crowd-$round-$_") x 2 } 1 .. 300));
    @clients = @clients[map { $_->[1] }
                        sort { $a->[0] <=> $b->[0] }
                        map { [rand, $_] } 0 .. $#clients];
    my @answers = burst_as($t, @clients);
    my (%ok, $ok);
    for my $i (0 .. $#answers) {
        my $v = $answers[$i]{json} && $answers[$i]{json}{data}{vote};
        next unless $v && $v->{success};
        $ok++;
        $ok{$clients[$i]}++;
    }
    $msg = messages(@answers);
    is($ok, 100, "round $round: 1000 votes of 310 clients, exactly 100 "
                 . "accepted") or diag explain $msg;
    is(scalar(grep { $_ > $SHARE } values %ok), 0,
       "round $round: no client above its share of $SHARE")
        or diag explain \%ok;
    is(($msg->{'Ticket usage limit exceeded'} // 0)
       + ($msg->{'Client share of this ticket used up'} // 0), 900,
       "round $round: the other 900 refused, spent or past the share")
        or diag explain $msg;
    is(cmd_ok('HGET', '{cast}:ticket', 'used'), 100,
       "round $round: the ticket's uses");
    is(cmd_ok('HGET', '{cast}:count', $name) - $c0, 100,
       "round $round: the count grew by 100");
    my $sum = 0;
    $sum += $_ for @{ cmd_ok('HVALS', "{cast}:share:" . ($seq + $round)) };
    is($sum, 100, "round $round: the share records add up to 100");
}

# --- idempotent retries count once -------------------------------------------

my $t2 = ticket($seq + 10, max => 100);
my $first = vote($t2, 'retrier', key => "k1-$run");
is($first->{data}{vote}{success}, JSON::PP::true, 'a vote with a key');
$msg = messages(burst($url,
                      [map { vote_body($t2, [$name], undef,
                                       key => "k1-$run") } 1 .. 20],
                      headers => [({ 'X-Client' => 'retrier' }) x 20]));
is_deeply($msg, { 'Votes recorded successfully' => 20 },
          'twenty retries at once: the stored success') or diag explain $msg;
is(cmd_ok('HGET', "{cast}:share:" . ($seq + 10), 'retrier'), 1,
   'one use of the share');
is(cas('retrier')->{clientRemaining}, $SHARE - 1, 'cas agrees');
is(vote($t2, 'retrier')->{data}{vote}{success}, JSON::PP::true, 'second use');
is(vote($t2, 'retrier')->{data}{vote}{success}, JSON::PP::true, 'third use');
is(vote($t2, 'retrier')->{data}{vote}{message},
   'Client share of this ticket used up', 'the fourth: past the share');

# --- no key: refused, nothing consumed ---------------------------------------

my $t3 = ticket($seq + 11, max => 100);
my $b0 = metric('bad_input');
my $none = vote($t3, undef);
is($none->{data}{vote}, undef, 'a vote without the header: no result')
    or diag explain $none;
is($none->{errors}[0]{extensions}{code}, 'BAD_REQUEST', 'BAD_REQUEST');
like($none->{errors}[0]{message}, qr/no client key \(cast_client_key/,
     'naming cast_client_key');
is_deeply(vote($t3, '')->{errors}[0]{extensions}{code}, 'BAD_REQUEST',
          'an empty header: the same');
is(metric('bad_input') - $b0, 2, 'counted as bad input');
is(cmd_ok('HGET', '{cast}:ticket', 'used'), 0, 'no use taken');
is_deeply(cas(undef), { remainingUsage => 100, clientRemaining => undef },
          'cas without a key: clientRemaining null');

# --- keys as they are up to 31 bytes, their SHA-256 beyond -------------------

my $k31 = 'k' x 31;
is(vote($t3, $k31)->{data}{vote}{success}, JSON::PP::true, '31-byte key');
is(cmd_ok('HGET', "{cast}:share:" . ($seq + 11), $k31), 1, 'stored as it is');

my $long = 'L' x 4000;
for my $i (1 .. $SHARE) {
    is(vote($t3, $long)->{data}{vote}{success}, JSON::PP::true,
       "a 4000-byte key: use $i");
}
is(vote($t3, $long)->{data}{vote}{message},
   'Client share of this ticket used up', 'then past its share');
is(cmd_ok('HGET', "{cast}:share:" . ($seq + 11), sha256($long)), $SHARE,
   'its record is under its SHA-256');
is(vote($t3, $long . 'x')->{data}{vote}{success}, JSON::PP::true,
   'another long key is another client');
is(vote($t3, 'k' x 32)->{data}{vote}{success}, JSON::PP::true,
   'a 32-byte key: hashed too');
is(cmd_ok('HGET', "{cast}:share:" . ($seq + 11), sha256('k' x 32)), 1,
   'under its SHA-256');
my $longest = 0;
for (@{ cmd_ok('HKEYS', "{cast}:share:" . ($seq + 11)) }) {
    $longest = length if length > $longest;
}
is($longest, 32, 'no field longer than 32 bytes');

stop_nginx();
check_error_log('client shares');

done_testing();
