# An answer's bytes are bounded, not only its items: cast_max_result_items
# counts a field 1 per 64 bytes of its key and its longest value (a
# username up to 130 bytes of JSON: 64 bytes, each a quote or backslash
# escaped, counts 3), so the data of an answer is at most 68 bytes an
# item, 340 KB at the default of 5000.  Counted before as 1 an item, 48
# aliases of username in one top(limit: 100), a 686-byte request, were
# answered 640 KB from a leaderboard of such names.  A private Redis holds
# 100 names of 64 bytes, 61 of them quotes.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::PrivateRedis qw(cmd_ok calls answering leaderboard private_nginx);
use Cast::SSE;
use Test::More;

my $url = private_nginx("location = /graphql { cast_graphql; }\n")
        . '/graphql';

my @names = map { sprintf '%03d%s', $_, '"' x 61 } 1 .. 100;
leaderboard(@names);
cmd_ok('SET', '{cast}:total', 100000);
cmd_ok('SET', '{cast}:ready', 1);

is(answering($url, 'nobody', 5), 5, 'nginx answers from the private Redis');

sub fcalls { return calls('fcall') + calls('fcall_ro') }

# the keys of $n aliases: one or two letters, or padded to $pad bytes
sub keys_of {
    my ($n, $pad) = @_;
    my @k = map { my $i = $_; join '', map { chr(97 + $_) }
                  $i < 26 ? ($i) : (int($i / 26) - 1, $i % 26) } 0 .. $n - 1;
    return $pad ? map { $_ . '_' x ($pad - length) } @k : @k;
}

sub usernames { return join ' ', map { "$_:username" } @_ }

sub ask {
    my ($query) = @_;

    cmd_ok('CONFIG', 'RESETSTAT');
    my ($status, $json, $len) = graphql_sized($query, undef, url => $url);
    my $req = length JSON::PP->new->encode({ query => $query });
    return ($status, $json, $len, $req, fcalls());
}

# --- 48 aliases of username in top(limit: 100): refused ---------------------

my $q = '{ top(limit: 100) { ' . usernames(keys_of(48)) . ' } }';
my ($status, $json, $len, $req, $calls) = ask($q);
cmp_ok($req, '<', 700, "48 aliases of username: a $req-byte request");
my $e = $json && $json->{errors} && $json->{errors}[0];
is($e && "$e->{extensions}{code}: $e->{message}",
   'RESPONSE_TOO_LARGE: The answer could hold 14501 items, more than the '
   . 'limit of 5000 (max_result_items).', '  refused, items counted by size')
    or diag "status $status, $len bytes";
cmp_ok($len, '<', 512, "  a short answer ($len bytes)");
is($calls, 0, '  nothing asked of Redis');

# --- the largest answers within the default: 68 bytes an item at most ------

# a key of 62 bytes and a username's 130: 3 full 64 bytes, 4 items
for my $case ([16, 0, 1 + 100 * (1 + 16 * 3)],
              [12, 62, 1 + 100 * (1 + 12 * 4)])
{
    my ($n, $pad, $items) = @$case;
    my @k = keys_of($n, $pad);
    ($status, $json, $len, $req) =
        ask('{ top(limit: 100) { ' . usernames(@k) . ' } }');
    my $what = "$n aliases of username" . ($pad ? " of $pad bytes" : '');
    is(scalar @{ $json->{data}{top} // [] }, 100, "$what: answered")
        or diag explain $json->{errors};
    is($json->{data}{top}[99]{$k[-1]}, $names[99],
       '  the names as Redis holds them');
    cmp_ok($len, '<=', 68 * $items,
           "  $len bytes for $items items, at most 68 each");
    cmp_ok($len, '<=', 68 * 5000, '  within 68 x cast_max_result_items');
    diag sprintf '%s: %d bytes from a %d-byte request (%.0fx)', $what,
        $len, $req, $len / $req;
}

# --- a subscription's events: the same bound, 400 before a stream -------------

my $c = sse_open('subscription { top(limit: 100) { '
                 . usernames(keys_of(48)) . ' } }', undef, url => $url);
is($c->{status}, 400, 'a subscription of 48 aliases: 400 before a stream');
sse_abort($c);

stop_nginx();
check_error_log('answers bounded by their bytes');

done_testing();
