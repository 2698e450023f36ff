# cast_redis_primary_fsync: every connection to the primary first sets
# appendfsync always, so a promoted replica that fsyncs once a second
# fsyncs each vote before nginx acknowledges it.  A primary that refuses
# the CONFIG SET (here its ACL default user lacks CONFIG, as on managed
# Redis services) must acknowledge no vote: every vote answers
# UNAVAILABLE, /readyz is not ready, the error log says why, and the
# worker retries with its backoff, not in a loop.  With CONFIG granted
# but the AOF off (appendfsync always then fsyncs nothing) no vote is
# acknowledged either; with the AOF on, votes are acknowledged and Redis
# fsyncs always.
#
# A private Redis (appendfsync everysec, CONFIG denied) on a loopback
# port, a private Sentinel watching it and a private nginx finding it
# through the Sentinel.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_redis cmd cmd_ok ticket start_sentinel);
use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(sleep time);

my $rport = free_port();
start_redis(port => $rport, args => [
    '--appendfsync', 'everysec',
    '--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-config',
]);
like(cmd('CONFIG', 'GET', 'appendfsync')->{err} // '', qr/^NOPERM/,
     'the private Redis refuses CONFIG to its default user');

my $sport = start_sentinel(server_root() . '/sentinel', 'cast120', '127.0.0.1', $rport);
ok($sport, 'the Sentinel names the private Redis');

start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
CONF
    cast_redis_sentinel 127.0.0.1:$sport;
    cast_redis_master_name cast120;
    cast_redis_primary_fsync on;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_redis_timeout 500ms;
HTTP

my $base = 'http://127.0.0.1:' . server_port();
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "fsync-$run";
my $ticket = ticket(7, max => 1000000);
cmd_ok('SET', '{cast}:ready', 1);

sub vote {
    my (undef, $json) = graphql(
        'mutation($u:[String!]!,$t:String!){vote(usernames:$u,ticket:$t)'
        . '{success}}', { u => [$name], t => $ticket },
        url => "$base/graphql", timeout => 3);
    return 'ok' if $json && $json->{data} && $json->{data}{vote}
                   && $json->{data}{vote}{success};
    return $json && $json->{errors}
        ? $json->{errors}[0]{extensions}{code} // 'error' : 'no answer';
}

sub readyz { return HTTP::Tiny->new->get("$base/readyz")->{status} }

sub connections {
    return cmd('INFO', 'stats') =~ /^total_connections_received:(\d+)/m
           ? $1 : -1;
}

# --- refused: no vote acknowledged ------------------------------------------

ok(wait_for(10, sub { error_log_text() =~ /refused "CONFIG SET appendfsync/ }),
   'the worker reached the primary, and logs that it refused');

my (%answers, %ready);
for (1 .. 30) {
    $answers{ vote() }++;
    $ready{ readyz() }++;
}
is_deeply(\%answers, { UNAVAILABLE => 30 },
          'every vote answers UNAVAILABLE, none success')
    or diag explain \%answers;
ok(!$ready{200}, '/readyz never ready') or diag explain \%ready;
ok($ready{503}, '/readyz answers 503') or diag explain \%ready;
my $why = qr/\[error\].*cast: redis 127\.0\.0\.1:$rport refused/
        . qr/ "CONFIG SET appendfsync always" \(cast_redis_primary_fsync\),/
        . qr/ no vote is answered on it: NOPERM/;
like(error_log_text(), qr/$why/,
     'the error names the Redis, the command and its refusal');

# the backoff grows to 500 ms: a connect and a Sentinel ask per try, not
# a loop (a reset at each connect gave about one every 50 ms)
my $from = connections();
sleep 3;
my $tries = connections() - $from;
cmp_ok($tries, '<=', 12, "tries backed off ($tries connections in 3 s)");

# --- granted: votes acknowledged, Redis fsyncs always -----------------------

cmd_ok('ACL', 'SETUSER', 'default', '+config');

# --- granted, but the AOF is off: appendfsync always fsyncs nothing ---------

is(cmd('CONFIG', 'GET', 'appendonly')->[1], 'no', 'the private Redis has '
   . 'its AOF off');
ok(wait_for(10, sub { error_log_text() =~ /does not show appendonly yes/ }),
   'the worker logs that the AOF is off');
%answers = ();
$answers{ vote() }++ for 1 .. 10;
is_deeply(\%answers, { UNAVAILABLE => 10 },
          'with the AOF off every vote answers UNAVAILABLE, none success')
    or diag explain \%answers;
isnt(readyz(), 200, '/readyz not ready with the AOF off');

cmd_ok('CONFIG', 'SET', 'appendonly', 'yes');
ok(wait_for(10, sub { readyz() == 200 }), '/readyz ready once it accepts');
is(vote(), 'ok', 'a vote is acknowledged');
is(cmd('CONFIG', 'GET', 'appendfsync')->[1], 'always',
   'the primary fsyncs before each reply now');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
