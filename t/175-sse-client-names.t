# cast_max_watched_names_per_client without cast_max_subscribers_per_client:
# only the streams that watch names count against a client, so a request
# without a client key is refused only when it watches names; a top,
# ticket or totalVotes subscription without one is served (it was refused
# 400 BAD_REQUEST, as if it counted).  And a stream gives its client back
# exactly the names it took, whatever view it shares: streams of one
# request share a view, and closing them in any order frees the client's
# names to the last.  On a private nginx (one worker) on the stack's
# Redis, keyed by a header.

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
    cast_max_usernames 6;
    cast_max_watched_names 100;
    cast_max_watched_names_per_client 6;
HTTP

sub open_q {
    my ($client, $query, $vars) = @_;
    return sse_open($query, $vars, url => $url,
                    $client ? (headers => { 'X-Client' => $client }) : ());
}

sub open_names {
    my ($client, @names) = @_;
    return open_q($client, $VOTES, { u => [@names] });
}

sub names { my ($p, $n) = @_; return map { "$p$_-$run" } 1 .. $n }

# served until each has its first event
sub served {
    my ($c, $what) = @_;
    is($c->{status}, 200, $what) or diag sse_refusal($c);
    ok($c->{status} == 200 && sse_next($c, 10), '  and streams');
}

# keyless streams that watch no names count against no one
for my $q ('subscription { top(limit: 3) { username votes } }',
           'subscription { ticket { ticket validUntil remainingUsage } }',
           'subscription { totalVotes }')
{
    my $c = open_q('', $q);
    my ($f) = $q =~ /\{ (\w+)/;
    served($c, "no client key, $f (no names): served");
    sse_abort($c);
}

my $c = open_names('', names('k', 1));
is($c->{status}, 400, 'no client key, votes of one name: 400');
like(sse_refusal($c), qr/^BAD_REQUEST: the request has no client key/,
     '  saying so');
sse_abort($c);

# three streams of one request share a view; each counts its own names
my @a = map { open_names('alice', names('a', 2)) } 1 .. 3;
served($_, 'alice: the same two names, one more stream') for @a;

$c = open_names('alice', names('b', 1));
is($c->{status}, 429, 'alice: a seventh name is refused');
sse_abort($c);

# each stream that closes gives back its two, to the last
for my $i (0 .. 2) {
    sse_abort($a[$i]);
    my $want = 2 * ($i + 1);
    my $ok;
    for (1 .. 50) {
        $c = open_names('alice', names("c$i-", $want));
        last if $ok = $c->{status} == 200;
        sse_abort($c);
        select undef, undef, undef, 0.1;
    }
    ok($ok, "alice closed " . ($i + 1) . " of 3: $want names free")
        or diag sse_refusal($c);
    $c->{status} == 200 && sse_next($c, 10);
    sse_abort($c);
}

# nothing held: all six in one stream, then not one more
my $ok;
my $d;
for (1 .. 50) {
    $d = open_names('alice', names('d', 6));
    last if $ok = $d->{status} == 200;
    sse_abort($d);
    select undef, undef, undef, 0.1;
}
ok($ok, 'alice: all six names in one stream') or diag sse_refusal($d);
$c = open_names('alice', names('e', 1));
is($c->{status}, 429, '  and not one more');
sse_abort($_) for $c, $d;

stop_nginx();
check_error_log('client names');

done_testing();
