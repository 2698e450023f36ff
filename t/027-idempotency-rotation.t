# An idempotency key keeps its promise after the ticket rotated twice or
# more: the retry carries the original ticket, which nginx knows to be
# older than the previous one, yet it still reaches Redis and gets the
# first call's result.  The same old ticket with an unknown key is
# refused as expired, and a forged ticket with the known key never gets
# past nginx's MAC check.  A private nginx with one worker, the secret and
# the stack's Redis, with the stack's ticketd rotating the tickets.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use JSON::PP;
use MIME::Base64 qw(decode_base64url encode_base64url);
use Test::More;
use Time::HiRes qw(sleep time);

my $secret = $ENV{CAST_TICKET_SECRET_FILE};
plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL} && $secret;

my $VOTE = 'mutation($u:[String!]!,$c:[Int!],$t:String!,$k:String){'
         . 'vote(usernames:$u,voteCount:$c,ticket:$t,idempotencyKey:$k)'
         . '{success message usernames votes}}';
my $run = sprintf '%d%04d', time, $$ % 10000;

start_nginx('location = /graphql { cast_graphql; }', http_config => <<"EOF");
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_ticket_secret_file $secret;
EOF

my $url = 'http://127.0.0.1:' . $ENV{TEST_NGINX_SERVER_PORT} . '/graphql';

# through the private nginx, so its worker learns the newest sequence
sub cas {
    my ($status, $json) = graphql('{cas{ticket remainingUsage}}', undef,
                                  url => $url);
    die "cas: $status\n" unless $status == 200 && $json->{data};
    return $json->{data}{cas};
}

sub seq_of { return unpack 'Q>', decode_base64url($_[0]) }

sub vote {
    my (%v) = @_;
    my (undef, $json) = graphql($VOTE, \%v, url => $url);
    return $json;
}

sub count {
    my (undef, $json) = graphql('query($u:String!){query(username:$u)}',
                                { u => $_[0] }, url => $url);
    return $json->{data}{query};
}

my $name = "idem-$run";
my $key = "retry-$run";

my $cas;
for (1 .. 50) {
    $cas = cas();
    last if $cas->{remainingUsage} > 5;
    sleep 0.1;
}
my $ticket = $cas->{ticket};
my $first = vote(t => $ticket, u => [$name], c => [2], k => $key);
is($first->{data}{vote}{success}, JSON::PP::true, 'a vote with a key')
    or diag explain $first;

# two rotations, seen by the private nginx's worker
my $t0 = time;
sleep 0.1 while seq_of(cas()->{ticket}) < seq_of($ticket) + 2
                && time - $t0 < 30;
cmp_ok(seq_of(cas()->{ticket}), '>=', seq_of($ticket) + 2,
       'the ticket rotated twice');

my $again = vote(t => $ticket, u => [$name], c => [2], k => $key);
is_deeply($again, $first, 'the retry with the original ticket: the first '
                          . 'result') or diag explain $again;
is(count($name), 2, 'counted once');

my $other = vote(t => $ticket, u => [$name], c => [2], k => "new-$run");
is($other->{data}{vote}{message}, 'Ticket expired',
   'the old ticket with an unknown key is expired');

my $raw = decode_base64url($ticket);
substr($raw, 40, 1) = chr(ord(substr($raw, 40, 1)) ^ 1);
my $forged = vote(t => encode_base64url($raw), u => [$name], c => [2],
                  k => $key);
is($forged->{data}{vote}{message}, 'Invalid ticket',
   'a forged ticket with the known key is refused by nginx');
is(count($name), 2, 'nothing changed');

stop_nginx();
done_testing();
