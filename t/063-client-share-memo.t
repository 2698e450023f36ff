# A client whose share of a ticket is used up (cast_client_uses) is
# refused by each nginx worker by itself once Redis has said so, until the
# ticket stops being usable, as a spent ticket is (t/029): a greedy
# client's loop costs Redis a handful of calls per worker per ticket, not
# one per vote.  Other clients still reach Redis and get the rest of the
# ticket; a vote with an idempotencyKey still reaches Redis.  A private
# nginx with two workers, keyed by a header, and a private Redis whose
# FCALLs are counted exactly with INFO commandstats.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body);
use Cast::PrivateRedis qw(cli fcalls ticket answering private_nginx);
use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

my $WORKERS = 2;
my $SHARE = 2;

$Cast::Nginx::Workers = $WORKERS;
$Cast::Nginx::WorkerConnections = 1024;
private_nginx(<<'CONF', <<"HTTP");
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF
    cast_client_key \$http_x_client;
    cast_client_uses $SHARE;
HTTP

my $base = 'http://127.0.0.1:' . server_port();
my $url = "$base/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "memo-$run";

sub vote {
    my ($ticket, $client, %o) = @_;
    my (undef, $json) = graphql(
        'mutation($u:[String!]!,$t:String!,$k:String){vote(usernames:$u,'
        . 'ticket:$t,idempotencyKey:$k){success message}}',
        { u => [$name], t => $ticket, defined $o{key} ? (k => $o{key}) : () },
        url => $url, headers => { 'x-client' => $client });
    return $json && $json->{data} && $json->{data}{vote}
           ? $json->{data}{vote}{message} : 'no answer';
}

sub share_metric {
    my $res = HTTP::Tiny->new->get("$base/metrics");
    return $res->{content}
           =~ /^cast_votes_total\{outcome="client_share"\} (\d+)/m ? $1 : -1;
}

cli('SET', '{cast}:ready', 1);

my $up = answering($url, $name, 20);
is($up, 20, 'the workers answer from the private Redis');

my $USED = 'Client share of this ticket used up';
my $OK = 'Votes recorded successfully';
my $seq = 1000 + int rand 1000;
my $t1 = ticket($seq, max => 1000);
my $greedy = "greedy-$run";

is(vote($t1, $greedy), $OK, "the greedy client's first vote") for 1 .. $SHARE;

# each worker hears it from Redis once
my %first;
$first{vote($t1, $greedy)}++ for 1 .. 2 * $WORKERS;
is_deeply(\%first, { $USED => 2 * $WORKERS }, 'then refused by Redis');

# --- the greedy loop ---------------------------------------------------------

my $n = 100;
my $m0 = share_metric();
cli('CONFIG', 'RESETSTAT');

my %seq;
$seq{vote($t1, $greedy)}++ for 1 .. $n;
is_deeply(\%seq, { $USED => $n }, "$n more votes one after another: refused");

my @answers = burst($url, [map { vote_body($t1, [$name]) } 1 .. $n],
                    headers => [map { { 'X-Client' => $greedy } } 1 .. $n],
                    timeout => 20);
my %msg;
for (@answers) {
    my $m = $_->{json} ? $_->{json}{data}{vote}{message}
          : $_->{error} // "HTTP $_->{status}";
    $msg{$m // 'no message'}++;
}
is_deeply(\%msg, { $USED => $n }, "$n at once: refused")
    or diag explain \%msg;

my $calls = fcalls();
cmp_ok($calls, "<=", 4 * $WORKERS,
       "Redis saw $calls calls for " . 2 * $n . " votes of a client past "
       . "its share (at most 4 per worker)");
is(share_metric() - $m0, 2 * $n, 'each counted as "client_share"');

# --- the others, and a retry with a key ---------------------------------------

cli('CONFIG', 'RESETSTAT');
is(vote($t1, "other-$run"), $OK, 'another client still gets a use');
is(fcalls(), 1, 'from Redis');

is(vote($t1, $greedy, key => "retry-$run"), $USED,
   'a greedy vote with an idempotencyKey: Redis refuses it');
is(fcalls(), 2, 'it reached Redis');

like(cli('FCALL', 'cast_vote', 0, $t1, "''", "''", $seq, $greedy, $SHARE, 1,
         $name, 1),
     qr/\ASHARE\n/, 'Redis itself still refuses the client');
is(cli('HGET', '{cast}:count', $name), $SHARE + 1, 'counted: share + 1');

# --- a new ticket: the share is back -----------------------------------------

my $t2 = ticket($seq + 1, max => 1000);
is(vote($t2, $greedy), $OK, 'the next ticket: the greedy client votes again');

done_testing();
