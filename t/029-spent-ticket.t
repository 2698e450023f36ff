# The thundering herd: once Redis has refused a ticket as spent ("Ticket
# usage limit exceeded"), each nginx worker refuses the votes carrying it
# by itself until the ticket's period ends, with Redis's answer and its
# metrics outcome, so Redis sees a handful of calls per worker per spent
# ticket, not one per vote.  A vote with an idempotencyKey still reaches
# Redis (a retry gets its stored result), and once the ticket's period
# is over Redis's own answer ("Ticket expired") comes back.  A private
# nginx with two workers and a private Redis, whose FCALLs are counted
# exactly with INFO commandstats; the tickets are written into Redis by
# the test (no secret: nginx checks their form, Redis their id).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body messages);
use Cast::PrivateRedis qw(cmd cli fcalls redis_ms ticket answering
                          private_nginx);
use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

my $WORKERS = 2;

$Cast::Nginx::Workers = $WORKERS;
$Cast::Nginx::WorkerConnections = 1024;
private_nginx(<<'CONF');
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF

my $base = 'http://127.0.0.1:' . server_port();
my $url = "$base/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "spent-$run";

sub vote {
    my ($ticket, %o) = @_;
    my ($status, $json) = graphql(
        'mutation($u:[String!]!,$t:String!,$k:String){vote(usernames:$u,'
        . 'ticket:$t,idempotencyKey:$k){success message usernames votes}}',
        { u => [$name], t => $ticket, defined $o{key} ? (k => $o{key}) : () },
        url => $url);
    return $json;
}

sub exhausted_metric {
    my $res = HTTP::Tiny->new->get("$base/metrics");
    return $res->{content} =~ /^cast_votes_total\{outcome="exhausted"\} (\d+)/m
           ? $1 : -1;
}

cli('SET', '{cast}:ready', 1);

# every worker has loaded the library and answers
my $up = answering($url, $name, 20);
is($up, 20, 'the workers answer from the private Redis');

# --- a ticket with three uses, spent ------------------------------------------

my $seq = 1000 + int rand 1000;
my ($t1) = ticket($seq, max => 3, ttl => 600000);

my $first = vote($t1, key => "first-$run");
is($first->{data}{vote}{success}, JSON::PP::true, 'a vote with a key')
    or diag explain $first;
is(vote($t1)->{data}{vote}{success}, JSON::PP::true, 'a second vote');
is(vote($t1)->{data}{vote}{success}, JSON::PP::true, 'a third: spent');

my $spent = vote($t1);
is($spent->{data}{vote}{message}, 'Ticket usage limit exceeded',
   'the fourth is refused by Redis') or diag explain $spent;

# --- the herd ----------------------------------------------------------------

my $n = 100;
my $e0 = exhausted_metric();
cli('CONFIG', 'RESETSTAT');

my $same = 0;
for (1 .. $n) {
    my $json = vote($t1);
    $same++ if JSON::PP->new->canonical->encode($json)
               eq JSON::PP->new->canonical->encode($spent);
}
is($same, $n, "$n more votes one after another: Redis's answer each time");

my $msg = messages(burst($url, [map { vote_body($t1, [$name]) } 1 .. $n],
                         timeout => 20));
is_deeply($msg, { 'Ticket usage limit exceeded' => $n },
          "$n at once: the same") or diag explain $msg;

my $calls = fcalls();
cmp_ok($calls, '<=', 4 * $WORKERS,
       "Redis saw $calls calls for " . 2 * $n . " votes on the spent ticket"
       . " (at most 4 per worker)");
is(exhausted_metric() - $e0, 2 * $n,
   'each counted with the outcome "exhausted"');

like(cli('FCALL', 'cast_vote', 0, $t1, "''", "''", $seq, "''", 0, 1, $name,
         1),
     qr/\AEXHAUSTED\n/, 'Redis itself still refuses the ticket');
is(cli('HGET', '{cast}:count', $name), 3, 'three votes counted');

# --- an idempotency key still reaches Redis ----------------------------------

cli('CONFIG', 'RESETSTAT');
my $again = vote($t1, key => "first-$run");
is_deeply($again, $first, 'a retry with the key: the stored success')
    or diag explain $again;
is(fcalls(), 1, 'which came from Redis');

cli('CONFIG', 'RESETSTAT');
my $new = vote($t1, key => "new-$run");
is($new->{data}{vote}{message}, 'Ticket usage limit exceeded',
   'a new key on the spent ticket is refused') or diag explain $new;
is(fcalls(), 1, 'by Redis');
is(cli('HGET', '{cast}:count', $name), 3, 'nothing more counted');

# --- the refusal lasts as long as the ticket's period ------------------------

my $t2 = ticket($seq + 1, max => 1, ttl => 1500);
my $expires = cmd('HGET', '{cast}:ticket', 'expires');
is(vote($t2)->{data}{vote}{success}, JSON::PP::true,
   'a new ticket with one use: accepted');
is(vote($t2)->{data}{vote}{message}, 'Ticket usage limit exceeded',
   'then spent');
$msg = messages(burst($url, [map { vote_body($t2, [$name]) } 1 .. 20]));
is_deeply($msg, { 'Ticket usage limit exceeded' => 20 },
          'refused as spent while its period lasts') or diag explain $msg;

sleep 0.1 while redis_ms() < $expires + 100;
$msg = messages(burst($url, [map { vote_body($t2, [$name]) } 1 .. 20]));
is_deeply($msg, { 'Ticket expired' => 20 },
          'once it is over, Redis says expired, and so does every worker')
    or diag explain $msg;
is(cli('HGET', '{cast}:count', $name), 4, 'four votes counted in all');

stop_nginx();
check_error_log('a spent ticket refused by the workers');

done_testing();
