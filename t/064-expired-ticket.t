# After a rotation the herd's clients still carry the old ticket for a
# while: once Redis has refused a ticket as expired ("Ticket expired")
# and a newer ticket is known, each nginx worker refuses the votes
# carrying it by itself, for good (such a ticket never becomes usable
# again; the current one past its expiry does, as the previous ticket,
# when ticketd mints the next one late), with Redis's answer
# and its metrics outcome, so Redis sees a handful of calls per worker
# per rotated ticket, not one per vote.  A vote with an idempotencyKey
# still reaches Redis (a retry gets its stored result); only the exact
# ticket Redis refused is remembered, so a forged ticket refused as
# expired leaves the current one usable.  A private nginx with two
# workers and a private Redis, whose FCALLs are counted exactly with INFO
# commandstats; the tickets are written into Redis by the test (no
# secret: nginx checks their form, Redis their id).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body messages);
use Cast::PrivateRedis qw(cmd cli fcalls redis_ms ticket answering
                          private_nginx);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
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
my $name = "expired-$run";

sub vote {
    my ($ticket, %o) = @_;
    my (undef, $json) = graphql(
        'mutation($u:[String!]!,$t:String!,$k:String){vote(usernames:$u,'
        . 'ticket:$t,idempotencyKey:$k){success message usernames votes}}',
        { u => [$name], t => $ticket, defined $o{key} ? (k => $o{key}) : () },
        url => $url);
    return $json;
}

sub message {
    my $json = vote(@_);
    return $json && $json->{data} && $json->{data}{vote}
           ? $json->{data}{vote}{message} : 'no answer';
}

sub expired_metric {
    my $res = HTTP::Tiny->new->get("$base/metrics");
    return $res->{content} =~ /^cast_votes_total\{outcome="expired"\} (\d+)/m
           ? $1 : -1;
}

cli('SET', '{cast}:ready', 1);

my $up = answering($url, $name, 20);
is($up, 20, 'the workers answer from the private Redis');

my $EXPIRED = 'Ticket expired';
my $OK = 'Votes recorded successfully';

# --- the current ticket over, and no newer one yet: not for good -------------

# ticketd late: Redis refuses the current ticket past its expiry, but
# once the next one is minted it is the previous ticket, usable again
# through the new one's grace; no worker may hold it as expired meanwhile
my $seq = 1000 + int rand 1000;
my $t0 = ticket($seq, max => 1000, ttl => 1000);
my $expires = cmd('HGET', '{cast}:ticket', 'expires');

sleep 0.1 while redis_ms() < $expires + 100;

my %msg;
$msg{message($t0)}++ for 1 .. 4 * $WORKERS;
is_deeply(\%msg, { $EXPIRED => 4 * $WORKERS },
          'the current ticket past its expiry: refused as expired');

my $late = encode_base64url(pack('Q>Q>', $seq + 1, redis_ms())
                            . join('', map { chr int rand 256 } 1 .. 48));
cmd('RENAME', '{cast}:ticket', '{cast}:ticket:prev');
cmd('HSET', '{cast}:ticket', 'id', $late, 'seq', $seq + 1,
    'issued', redis_ms(), 'expires', redis_ms() + 600000, 'max', 1000,
    'used', 0, 'grace', 600000);

%msg = ();
$msg{message($t0)}++ for 1 .. 4 * $WORKERS;
is_deeply(\%msg, { $OK => 4 * $WORKERS },
          'minted late, the next ticket\'s grace: every worker accepts it')
    or diag explain \%msg;

# --- a ticket of one second, used, then over, a newer one known --------------

my $s1 = $seq + 2;
my $t1 = ticket($s1, max => 1000, ttl => 1000);
$expires = cmd('HGET', '{cast}:ticket', 'expires');

my $first = vote($t1, key => "first-$run");
is($first->{data}{vote}{message}, $OK, 'a vote with a key while it lasts')
    or diag explain $first;

sleep 0.1 while redis_ms() < $expires + 100;

# the next ticket: the one before is expired for good now
my $t2 = ticket($s1 + 1, max => 1000);
%msg = ();
$msg{message($t2)}++ for 1 .. 4 * $WORKERS;
is_deeply(\%msg, { $OK => 4 * $WORKERS }, 'the next ticket accepted')
    or diag explain \%msg;

# each worker hears it from Redis, and from then on says it itself
%msg = ();
$msg{message($t1)}++ for 1 .. 4 * $WORKERS;
is_deeply(\%msg, { $EXPIRED => 4 * $WORKERS }, 'then refused as expired');

# --- the herd that still carries it ------------------------------------------

my $n = 100;
my $e0 = expired_metric();
cli('CONFIG', 'RESETSTAT');

my $same = 0;
$same += message($t1) eq $EXPIRED for 1 .. $n;
is($same, $n, "$n more votes one after another: Redis's answer each time");

my $m = messages(burst($url, [map { vote_body($t1, [$name]) } 1 .. $n],
                       timeout => 20));
is_deeply($m, { $EXPIRED => $n }, "$n at once: the same") or diag explain $m;

my $calls = fcalls();
cmp_ok($calls, '<=', 2 * $WORKERS,
       "Redis saw $calls calls for " . 2 * $n . " votes on the expired"
       . " ticket (at most 2 per worker)");
is(expired_metric() - $e0, 2 * $n, 'each counted with the outcome "expired"');

like(cli('FCALL', 'cast_vote', 0, $t1, "''", "''", $s1, "''", 0, 1, $name,
         1),
     qr/\AEXPIRED\n/, 'Redis itself still refuses the ticket');

# --- an idempotency key still reaches Redis ----------------------------------

cli('CONFIG', 'RESETSTAT');
my $again = vote($t1, key => "first-$run");
is_deeply($again, $first, 'a retry with the key: the stored success')
    or diag explain $again;
is(fcalls(), 1, 'which came from Redis');

cli('CONFIG', 'RESETSTAT');
is(message($t1, key => "new-$run"), $EXPIRED,
   'a new key on the expired ticket is refused');
is(fcalls(), 1, 'by Redis');

# --- only the exact ticket is remembered --------------------------------------

# a ticket of the old seq with other bytes: Redis says expired, and each
# worker remembers those bytes only
my $old = encode_base64url(pack('Q>Q>', $s1, redis_ms())
                           . join('', map { chr int rand 256 } 1 .. 48));
%msg = ();
$msg{message($old)}++ for 1 .. 4 * $WORKERS;
is_deeply(\%msg, { $EXPIRED => 4 * $WORKERS },
          'a made-up ticket of an old seq: expired') or diag explain \%msg;

%msg = ();
$msg{message($t2)}++ for 1 .. 4 * $WORKERS;
is_deeply(\%msg, { $OK => 4 * $WORKERS },
          'the current ticket is accepted by every worker')
    or diag explain \%msg;

stop_nginx();
check_error_log('an expired ticket refused by the workers');

done_testing();
