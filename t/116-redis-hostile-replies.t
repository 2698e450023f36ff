# A Redis that answers what the library never would (its functions
# replaced behind nginx's back by a hostile library of the same name):
# replies of the wrong type, size or shape get a GraphQL error, never a
# 5xx or a crashed worker, and an error Redis words is held to the limit
# of one error message (512 bytes, cut between characters, ending in
# "...") and to valid UTF-8.  A private nginx and a private Redis; the
# hostile library says what to answer by the key h:mode.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok ticket answering private_nginx);
use Encode qw(decode FB_CROAK);
use HTTP::Tiny;
use JSON::PP;
use Test::More;

private_nginx('location = /graphql { cast_graphql; }');

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';
my $run = sprintf '%d%04d', time, $$ % 10000;

cmd_ok('SET', '{cast}:ready', 1);
is(answering($url, "h-$run", 5), 5, 'nginx answers from the private Redis');
my $t = ticket(1000 + int rand 1000, max => 1000);

# every call answers by h:mode; cast_query_batch stays sane, so that
# answering() still sees Redis
my $HOSTILE = <<'LUA';
#!lua name=cast
local function mode() return redis.call('GET', 'h:mode') or '' end
local function each(n, r)
    local out = {}
    for i = 1, n do out[i] = r end
    return out
end
local MODES = {
    long = function()
        return redis.error_reply('UNAVAILABLE ' .. string.rep('y', 100000))
    end,
    longutf8 = function()
        return redis.error_reply('UNAVAILABLE ' .. string.rep('\195\169', 600))
    end,
    badutf8 = function()
        return redis.error_reply('UNAVAILABLE bad \255\254 bytes')
    end,
    empty = function() return {} end,
    short = function(n) return each(n, {'OK'}) end,
    notint = function(n) return each(n, {'OK', 'm', '1-1', 'a', 'x'}) end,
    int = function() return 5 end,
    ints = function(n) return each(n, 7) end,
    nested = function(n) return each(n, {{'OK'}, {'m'}, {}}) end,
}
local function batch(_, args)
    local f = MODES[mode()]
    return f and f(50) or redis.error_reply('ERR no mode')
end
local function query(_, args)
    local out = {}
    for i = 1, #args do out[i] = 0 end
    return out
end
redis.register_function('cast_votes', batch)
redis.register_function{function_name = 'cast_cas', callback = batch,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'cast_board', callback = batch,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'cast_query_batch',
                        callback = query, flags = {'no-writes'}}
LUA

cmd_ok('FUNCTION', 'LOAD', 'REPLACE', $HOSTILE);

my $http = HTTP::Tiny->new(timeout => 10);

sub ask {
    my ($query) = @_;
    my $res = $http->post($url, {
        headers => { 'Content-Type' => 'application/json' },
        content => encode_json({ query => $query }) });
    my $text = eval { decode('UTF-8', $res->{content}, FB_CROAK) };
    return ($res->{status}, $text, $text && eval { decode_json(
        Encode::encode('UTF-8', $text)) });
}

my %QUERY = (
    vote => 'mutation{vote(usernames:["a"],ticket:"' . $t . '"){success}}',
    cas  => '{cas{ticket remainingUsage}}',
    top  => '{top(limit:3){username votes}}',
);

for my $mode (qw(long longutf8 badutf8 empty short notint int nested)) {
    cmd_ok('SET', 'h:mode', $mode);
    for my $f (sort keys %QUERY) {
        my ($status, $text, $json) = ask($QUERY{$f});
        my $what = "$mode, $f";

        is($status, 200, "$what: 200");
        ok(defined $text, "$what: valid UTF-8");
        ok($json && $json->{errors}, "$what: a GraphQL error")
            or diag substr($text // '', 0, 300);
        my $err = $json && $json->{errors} ? $json->{errors}[0] : {};
        is($err->{extensions}{code}, 'UNAVAILABLE', "$what: UNAVAILABLE");
        cmp_ok(length(Encode::encode('UTF-8', $err->{message} // '')),
               '<=', 512, "$what: the message within 512 bytes");
    }
}

# an integer is the reply of a vote of one name counted once, without an
# idempotencyKey (cast_votes): its name's total; any other vote's is an
# array, and a batch's reply is never an integer
cmd_ok('SET', 'h:mode', 'ints');
my $vote = 'mutation{vote(ticket:"' . $t . '",';
my (undef, undef, $json) = ask($vote . 'usernames:["a"]){success votes}}');
is_deeply($json, { data => { vote => { success => JSON::PP::true,
                                       votes => [7] } } },
          'ints: the usual vote takes an integer as its total');
for my $args ('usernames:["a","b"]', 'usernames:["a"],voteCount:[2]',
              'usernames:["a"],idempotencyKey:"k-' . $run . '"')
{
    (undef, undef, $json) = ask($vote . $args . '){success votes}}');
    is($json && $json->{errors} && $json->{errors}[0]{extensions}{code},
       'UNAVAILABLE', "ints: $args does not take an integer");
}

cmd_ok('SET', 'h:mode', 'long');
($json) = (ask($QUERY{vote}))[2];
ok(($json->{errors}[0]{message} // '') =~ /\Ay{509}\.\.\.\z/,
   'a long message is cut, ending in ...');

cmd_ok('SET', 'h:mode', 'longutf8');
(undef, undef, $json) = ask($QUERY{vote});
ok(($json->{errors}[0]{message} // '') =~ /\A(?:\x{e9}){254}\.\.\.\z/,
   'cut between characters');

check_error_log('hostile replies');
stop_nginx();
done_testing();
