# cast_redis_min_replicas: a vote batch's reply is copied (one block) and
# held until WAIT answers.  Replies of every shape a hostile library can
# give (nil, empty strings, integers, statuses, errors, nested arrays,
# nested deeper than a vote batch's reply, a big string) are copied and
# released without a read or write out of bounds (the sanitized pass),
# and every vote answers 200 with a GraphQL error (a standalone Redis
# has no replica: WAIT says 0).  A private nginx and a private Redis.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok ticket answering private_nginx);
use HTTP::Tiny;
use JSON::PP;
use Test::More;

private_nginx('location = /graphql { cast_graphql; }', <<'HTTP');
    cast_redis_min_replicas 1;
    cast_redis_timeout 400ms;
HTTP

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my $run = sprintf '%d%04d', time, $$ % 10000;

cmd_ok('SET', '{cast}:ready', 1);
is(answering($url, "w-$run", 5), 5, 'nginx answers from the private Redis');
my $t = ticket(1000 + int rand 1000, max => 1000);

my $HOSTILE = <<'LUA';
#!lua name=cast
local function deep(n)
    local r = {'OK'}
    for i = 1, n do r = {r, '', false, i} end
    return r
end
local MODES = {
    nil1 = function() return false end,
    empty = function() return '' end,
    emptyarr = function() return {} end,
    int = function() return 7 end,
    status = function() return {ok = 'FINE'} end,
    err = function() return redis.error_reply('UNAVAILABLE nope') end,
    mixed = function()
        return {{'OK', '', 3, false, {ok = 'S'}}, {}, false, '', -1}
    end,
    deep6 = function() return deep(6) end,
    deep12 = function() return deep(12) end,
    big = function() return {string.rep('b', 200000), ''} end,
    many = function()
        local out = {}
        for i = 1, 2000 do out[i] = {'', false, i} end
        return out
    end,
}
local function batch(_, args)
    local f = MODES[redis.call('GET', 'w:mode') or '']
    return f and f() or redis.error_reply('ERR no mode')
end
local function query(_, args)
    local out = {}
    for i = 1, #args do out[i] = 0 end
    return out
end
redis.register_function('cast_votes', batch)
redis.register_function{function_name = 'cast_query_batch',
                        callback = query, flags = {'no-writes'}}
LUA

cmd_ok('FUNCTION', 'LOAD', 'REPLACE', $HOSTILE);

my $http = HTTP::Tiny->new(timeout => 10);
my $vote = 'mutation{vote(usernames:["a","b"],ticket:"' . $t
         . '"){success}}';

for my $mode (qw(nil1 empty emptyarr int status err mixed deep6 deep12 big
                 many)) {
    cmd_ok('SET', 'w:mode', $mode);
    for (1 .. 3) {
        my $res = $http->post($url, {
            headers => { 'Content-Type' => 'application/json' },
            content => encode_json({ query => $vote }) });
        my $json = eval { decode_json($res->{content}) };
        is($res->{status}, 200, "$mode: 200");
        ok($json && $json->{errors}, "$mode: a GraphQL error")
            or diag substr($res->{content} // '', 0, 300);
    }
}

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

done_testing();
