# A subscription's root field under @skip or @include is refused before a
# stream (the spec's CollectSubscriptionFields): a skipped root left the
# operation with no field, and the stream asked for came back as a plain
# 200 application/json {"data":{}}.  400 GRAPHQL_VALIDATION_FAILED, by
# POST and GET, a literal or a variable, on the field, an inline fragment
# or a spread; directives below the root field still work.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::SSE;
use JSON::PP;
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $MSG = 'must not use `@skip` or `@include` directives in the top level '
        . 'selection.';

my @CASES = (
    [ 'a skipped field', 'subscription { totalVotes @skip(if: true) }',
      undef, "Anonymous Subscription $MSG" ],
    [ 'a field included by a variable',
      'subscription S($i: Boolean!) { totalVotes @include(if: $i) }',
      { i => JSON::PP::false }, "Subscription \"S\" $MSG" ],
    [ 'a field kept by @skip(if: false)',
      'subscription { ticket @skip(if: false) { ticket } }',
      undef, "Anonymous Subscription $MSG" ],
    [ 'an inline fragment',
      'subscription { ... @skip(if: true) { totalVotes } }',
      undef, "Anonymous Subscription $MSG" ],
    [ 'a spread',
      'subscription { ...F @include(if: false) } '
      . 'fragment F on Subscription { totalVotes }',
      undef, "Anonymous Subscription $MSG" ],
    [ 'inside the spread fragment',
      'subscription { ...F } '
      . 'fragment F on Subscription { totalVotes @skip(if: true) }',
      undef, "Anonymous Subscription $MSG" ],
);

for my $case (@CASES) {
    my ($what, $query, $vars, $msg) = @$case;

    for my $method ('POST', 'GET') {
        my $c = sse_open($query, $vars, method => $method);
        my $e = $c->{json} && $c->{json}{errors} && $c->{json}{errors}[0];

        is($c->{status}, 400, "$what ($method): refused before a stream");
        is($e && "$e->{extensions}{code}: $e->{message}",
           "GRAPHQL_VALIDATION_FAILED: $msg", '  saying why');
        sse_abort($c);
    }
}

# under the root field, the directives apply to each event
my $c = sse_open('subscription { top(limit: 1) { username '
                 . 'votes @skip(if: true) } }');
is($c->{status}, 200, 'a directive below the root field: a stream');
my $ev = sse_next($c, 10);
ok($ev && ref $ev->{data}{data}{top} eq 'ARRAY', '  with its events')
    or diag explain $ev;
sse_abort($c);

done_testing();
