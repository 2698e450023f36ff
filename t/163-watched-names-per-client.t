# cast_max_watched_names_per_client: one client cannot make a worker
# watch every name it may (cast_max_watched_names).  Without it, the
# per-client stream limit did not bound the names: a client at its
# streams' limit of 10, 100 names each, filled the worker's 1000, and
# every other client's votes subscription was refused 503.  On a private
# nginx (one worker) on the stack's Redis, keyed by a header: a client
# whose streams would watch more than its limit is refused 429 with a
# clear error while other clients still watch their names; a stream that
# closes gives its names back; a name counts once a stream; a subscription
# that watches no name counts none; a request without a key is refused.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::SSE;
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $port = server_port();
my $url = "http://127.0.0.1:$port/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $VOTES = 'subscription($u: [String!]!) { votes(usernames: $u) '
          . '{ username votes } }';

start_nginx(<<"CONF", http_config => <<"HTTP");
    location = /graphql { cast_graphql; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_client_key \$http_x_client;
    cast_max_usernames 4;
    cast_max_watched_names 12;
    cast_max_watched_names_per_client 6;
HTTP

# a stream of $client watching @names (or totalVotes)
sub open_as {
    my ($client, @names) = @_;
    return sse_open(@names ? ($VOTES, { u => [@names] })
                           : ('subscription { totalVotes }', undef),
                    url => $url,
                    $client ? (headers => { 'X-Client' => $client }) : ());
}

sub names { my ($p, $n) = @_; return map { "$p$_-$run" } 1 .. $n }

my $TOO_MANY = 'TOO_MANY_SUBSCRIPTIONS: this client\'s subscriptions would '
             . 'watch more than 6 usernames on this worker '
             . '(cast_max_watched_names_per_client)';

my @a = (open_as('alice', names('a', 4)), open_as('alice', names('b', 2)));
is(scalar(grep { $_->{status} == 200 } @a), 2,
   'alice: two streams, six names');
ok(sse_next($_, 10), '  each gets its first event') for @a;

my $c = open_as('alice', names('c', 1));
is($c->{status}, 429, 'a seventh name of the same client is refused');
is(sse_refusal($c), $TOO_MANY, '  saying which limit');
sse_abort($c);

# a name counts once a stream: the same names again are more
$c = open_as('alice', names('a', 1));
is($c->{status}, 429, 'a name alice already watches, in a third stream: 429');
sse_abort($c);

$c = open_as('alice');
is($c->{status}, 200, 'a stream of alice that watches no name: served');
sse_abort($c);

# others still watch theirs: the worker's 12 are not all taken
my @b = (open_as('bob', names('d', 4)), open_as('bob', names('e', 2)));
is(scalar(grep { $_->{status} == 200 } @b), 2, 'bob: six names of his own');
ok(sse_next($_, 10), '  each gets its first event') for @b;

# one closes: its names are alice's again
sse_abort($a[1]);
my $ok;
for (1 .. 50) {
    $c = open_as('alice', names('f', 2));
    last if $ok = $c->{status} == 200;
    sse_abort($c);
    select undef, undef, undef, 0.1;
}
ok($ok, 'a stream of alice closed: two names free again') or diag sse_refusal($c);
sse_abort($c);

$c = open_as('', names('g', 1));
is($c->{status}, 400, 'no client key: 400');
like(sse_refusal($c), qr/^BAD_REQUEST: the request has no client key/,
     '  saying so');
sse_abort($c);

sse_abort($_) for $a[0], @b;
stop_nginx();
check_error_log('names per client');

done_testing();
