# Which Accept asks for a Server-Sent Events stream: the media type
# text/event-stream itself, with a q above zero, read as the JSON types
# are (one Accept parser, the engine's).  A type that only contains the
# name (text/event-streaming, x-text/event-stream) is not it: such a
# client got a stream it never asked for (the first two tests fail
# without it); beside application/json, a query is answered as JSON.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Test::More;

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $SUB = 'subscription { totalVotes }';

sub code_of {
    my ($json) = @_;
    my $e = $json && $json->{errors} && $json->{errors}[0];
    return $e ? "$e->{extensions}{code}: $e->{message}" : '';
}

# what a lookalike type gets: not a stream, and no JSON either
for my $accept ('text/event-streaming', 'x-text/event-stream') {
    my ($status, $json, $res) = graphql($SUB, undef,
                                        headers => { accept => $accept });
    is($status, 406, "$accept: a subscription is not streamed (406)");
    unlike($res->{headers}{'content-type'} // '', qr/event-stream/,
           '  and no stream began');
}

# a query with a lookalike beside application/json: answered as JSON
for my $accept ('text/event-streaming, application/json',
                'application/json, x-text/event-stream')
{
    my ($status, $json) = graphql('{ totalVotes }', undef,
                                  headers => { accept => $accept });
    is($status, 200, "$accept: a query answered");
    ok($json && $json->{data} && defined $json->{data}{totalVotes},
       '  with its data') or diag explain $json;
}

# text/event-stream itself still asks for a stream, q=0 still refuses it
my ($status, $json) = graphql('{ totalVotes }', undef,
                              headers => { accept => 'text/event-stream' });
is($status, 400, 'text/event-stream: a query refused (400)');
like(code_of($json), qr/^BAD_REQUEST: Only subscription operations/,
     '  only subscriptions stream');

($status, $json) = graphql($SUB, undef, headers => {
    accept => 'text/event-stream;q=0, application/json' });
is($status, 400, 'text/event-stream;q=0: a subscription is not streamed');
like(code_of($json), qr/^BAD_REQUEST: Subscriptions are served over/,
     '  saying how to ask for one');

done_testing();
