# cast_max_subscribers_per_client: one client cannot take every stream
# of a worker.  On a private nginx (one worker) on the stack's Redis, keyed
# by a header (cast_client_key $http_x_client): a client at its limit is
# refused with a clear GraphQL error (429) while other clients still get
# streams; a stream that closes (reset or FIN) gives its place back; a
# subscription refused for another reason after the count (bad names,
# cast_max_watched_names) takes no place; a request without a key is
# refused; the limit is per client, the worker's cast_max_subscribers
# stays above it; off (the default) counts nothing.

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
my $TOTAL = 'subscription { totalVotes }';

sub nginx_with {
    my ($per_client) = @_;
    my $line = defined $per_client
               ? "cast_max_subscribers_per_client $per_client;" : '';

    start_nginx(<<"CONF", http_config => <<"HTTP");
        location = /graphql { cast_graphql; }
        location = /metrics { cast_metrics; }
CONF
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_client_key \$http_x_client;
    cast_max_subscribers 8;
    cast_max_watched_names 2;
    $line
HTTP
}

sub open_as {
    my ($client, $query) = @_;
    return sse_open($query // $TOTAL, undef, url => $url,
                    $client ? (headers => { 'X-Client' => $client }) : ());
}

sub open_is {
    my ($n) = @_;
    return wait_for(10, sub {
        nginx_metrics()->{cast_subscriptions_open} == $n });
}

nginx_with(2);

my @a = map { open_as('alice') } 1 .. 2;
is(scalar(grep { $_->{status} == 200 } @a), 2, 'alice: two streams');
ok(sse_next($_, 10), '  each gets its first event') for @a;

my $c = open_as('alice');
is($c->{status}, 429, 'a third of the same client is refused');
is(sse_refusal($c), 'TOO_MANY_SUBSCRIPTIONS: this client already holds 2 '
   . 'subscriptions on this worker (cast_max_subscribers_per_client)',
   '  naming the directive');

my @b = map { open_as('bob') } 1 .. 2;
is(scalar(grep { $_->{status} == 200 } @b), 2,
   'another client still gets its streams');
ok(sse_next($b[1], 10), '  and its events');

my $long = 'k' x 200;
my @l = map { open_as($long) } 1 .. 3;
is_deeply([map { $_->{status} } @l], [200, 200, 429],
          'a long key (its SHA-256) is counted the same way');
sse_abort($_) for @l;
ok(open_is(4), '  its streams gone');

$c = open_as(undef);
is($c->{status}, 400, 'a request without a client key is refused');
is(sse_refusal($c), 'BAD_REQUEST: the request has no client key '
   . '(cast_client_key is empty), so its subscription cannot count '
   . "against a client's", '  saying why');

# places given back: a reset, and a clean close (FIN)
sse_abort(shift @a);
ok(open_is(3), 'a reset stream leaves');
$c = open_as('alice');
is($c->{status}, 200, '  and its client has room again');
push @a, $c;

close $a[0]{sock};
shift @a;
ok(open_is(3), 'a stream closed by its client leaves');
push @a, open_as('alice');
is($a[-1]{status}, 200, '  and its place is free again');

# refused after the count: nothing is kept
sse_abort(pop @a);
ok(open_is(3), 'alice holds one');
for my $i (1 .. 3) {
    $c = open_as('alice', 'subscription { votes(usernames: ["", "x"]) '
                          . '{ votes } }');
    is($c->{status}, 400, "bad names refused ($i)");
}
$c = open_as('alice', 'subscription { votes(usernames: ["n1", "n2", "n3"]) '
                      . '{ votes } }');
is($c->{status}, 503, 'too many watched names refused');
$c = open_as('alice');
is($c->{status}, 200, 'those refusals took no place of the client');
push @a, $c;
sse_abort($_) for @a, @b;
ok(open_is(0), 'all gone');

# the worker's bound still holds across clients
my @many = map { open_as("c$_") } 1 .. 8;
is(scalar(grep { $_->{status} == 200 } @many), 8, 'eight clients, one each');
$c = open_as('c9');
is($c->{status}, 503, 'a ninth: cast_max_subscribers');
sse_abort($_) for @many;
ok(open_is(0), 'all gone again');

# off: one client may take every place
nginx_with(undef);
@a = map { open_as('alice') } 1 .. 8;
is(scalar(grep { $_->{status} == 200 } @a), 8,
   'without the directive one client takes all eight');
sse_abort($_) for @a;
ok(open_is(0), 'gone');

stop_nginx();
is(error_log_problems(), "", "no alert, crit or emerg in the error log");

done_testing();
