# cast_redis_min_replicas with no replica to acknowledge (every replica
# down): each vote batch's WAIT times out and its votes answer
# UNAVAILABLE, but the reads (query, cas) are still answered (on a
# connection of their own: t/101), and no connection is ever dropped as
# stuck.  A private Redis without replicas and a private nginx with
# min_replicas 1, while a child process keeps votes coming.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Burst qw(burst vote_body);
use Cast::PrivateRedis qw(cli ticket answering private_nginx);
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

my $child;

END {
    kill 'TERM', $child if $child;
}

$Cast::Nginx::Workers = 1;
$Cast::Nginx::WorkerConnections = 1024;
private_nginx(<<'CONF', <<"HTTP");
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF
    cast_redis_timeout 400ms;
    cast_redis_min_replicas 1;
HTTP

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "wait-$run";

# a current ticket for ten minutes, many uses
my $ticket = ticket(7, max => 1000000);
cli('SET', '{cast}:ready', 1);

my $up = answering($url, $name, 5);
is($up, 5, 'the worker answers from the private Redis');

my (undef, $one) = graphql(
    'mutation($u:[String!]!,$t:String!){vote(usernames:$u,ticket:$t)'
    . '{success}}', { u => [$name], t => $ticket }, url => $url);
is($one->{errors} && $one->{errors}[0]{extensions}{code}, 'UNAVAILABLE',
   'a vote no replica acknowledged answers UNAVAILABLE')
    or diag explain $one;

# votes keep coming: 16 at a time, for as long as the reads are asked
$child = fork // die "fork: $!\n";
if ($child == 0) {
    my $stop = time + 30;
    while (time < $stop) {
        burst($url, [map { vote_body($ticket, [$name]) } 1 .. 16],
              timeout => 10);
    }
    exit 0;
}

sleep 0.5;

my ($answered, %errors) = (0);
my $n = 40;
for (1 .. $n) {
    my (undef, $q) = graphql("{query(username:\"$name\")}", undef,
                             url => $url);
    my (undef, $c) = graphql('{cas{remainingUsage}}', undef, url => $url);

    for ($q, $c) {
        if ($_ && $_->{data} && !$_->{errors}) {
            $answered++;
        } else {
            my $m = $_ && $_->{errors} ? $_->{errors}[0]{message}
                                       : 'no answer';
            $errors{$m}++;
        }
    }
}

kill 'TERM', $child;
waitpid $child, 0;
undef $child;

is($answered, 2 * $n, "every query and cas answered while the votes' WAITs"
   . ' time out') or diag explain \%errors;
is(cli('HGET', '{cast}:count', $name) > 0 ? 1 : 0, 1,
   'the votes ran on the primary (UNAVAILABLE: applied, not acknowledged)');

done_testing();
