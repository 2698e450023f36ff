# Each daemon binary holds only what it uses: none carries the GraphQL
# engine (only the nginx module, the engine's unit tests, its fuzzer and the
# bench link it), and ticketd, which reaches neither Kafka nor PostgreSQL,
# does not load their libraries.  Reads the binaries in build/bin, or in
# CAST_BIN (CAST_BIN=build/san/bin for the sanitized build).

use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $root = abs_path(dirname(__FILE__) . '/..');
my $bin = $ENV{CAST_BIN} // "$root/build/bin";

# the daemons are the folders of daemons/ but common, as in the Makefile
my @daemons = sort grep { $_ ne 'common' }
              map { m{/([^/]+)/?$} ? $1 : () } glob("$root/daemons/*/");

cmp_ok scalar(@daemons), '>=', 4, 'daemons found: ' . join(' ', @daemons);

# (symbols, defined or not, and needed libraries) of a binary; () when
# unreadable
sub inspect {
    my ($file) = @_;
    my @nm = `nm '$file' 2>/dev/null`;
    return if $? != 0 || !@nm;
    my %sym = map { (split ' ')[-1] => 1 } @nm;
    my @needed = map { /NEEDED\s+(\S+)/ ? $1 : () }
                 `objdump -p '$file' 2>/dev/null`;
    return (\%sym, \@needed);
}

for my $d (@daemons) {
    my $file = "$bin/cast-$d";
    my ($sym, $needed) = inspect($file);

    ok $sym, "cast-$d: symbols read from $file" or next;

    # the check itself works: the shared runtime is there
    ok $sym->{cast_log}, "cast-$d: has cast_log (daemons/common)";

    my @gql = sort grep { /cast_gql/ } keys %$sym;
    is scalar(@gql), 0, "cast-$d: no GraphQL engine symbol"
        or diag "first: @gql[0 .. ($#gql < 4 ? $#gql : 4)]";

    if ($d eq 'ticketd') {
        ok $sym->{cast_ticket_encode}, 'cast-ticketd: has the ticket codec';
        my @extra = grep { /^lib(?:pq|rdkafka|cjson)\./ } @$needed;
        is "@extra", '', 'cast-ticketd: needs no libpq, librdkafka, libcjson';
    }
}

done_testing();
