# The relay compresses what it produces with lz4 (relay_kafka.c): the
# record batches the votes of this test travel in, read back from the
# broker's own segment files, are lz4 batches (the codec in the batch's
# attributes), none uncompressed, and hold every one of those votes.
# Events in Kafka are about a fifth of their size so, and the broker's
# CPU per event fell to a third (README, "Performance").

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Test::More;
use Time::HiRes qw(time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $DATA = "$ENV{CAST_VAR}/kafka/data";
my @names = pipeline_names('t240', 5);

plan skip_all => "no Kafka data in $DATA" unless -d $DATA;

# the segment files of cast.votes, with the size each has now
sub segments {
    my %size;

    for my $f (glob "$DATA/cast.votes-*/*.log") {
        $size{$f} = -s $f;
    }
    return \%size;
}

# the batches appended to each file since $from: per codec (attributes
# & 7: 0 none, 3 lz4) their number and their records
sub batches_since {
    my ($from) = @_;
    my (%batches, %records);

    for my $f (sort keys %{ segments() }) {
        my $o = $from->{$f} // 0;

        open my $fh, '<:raw', $f or die "$f: $!";
        local $/;
        my $d = <$fh>;
        close $fh;

        # a batch: offset 8, length 4 (of what follows), ..., attributes
        # at 21, the record count at 57
        while ($o + 61 <= length $d) {
            my $len = unpack 'N', substr($d, $o + 8, 4);
            last if $len < 49 || $o + 12 + $len > length $d;
            my $codec = unpack('n', substr($d, $o + 21, 2)) & 7;
            $batches{$codec}++;
            $records{$codec} += unpack 'N', substr($d, $o + 57, 4);
            $o += 12 + $len;
        }
    }
    return (\%batches, \%records);
}

my $before = segments();
ok(scalar keys %$before, 'cast.votes has segment files')
    or diag("none under $DATA");

my $run = vote_traffic(seconds => 2, names => \@names, per_round => 50,
                       tag => 't240');
my $res = traffic_ledger($run);
my $votes = $res->{stat}{ok};            # an event each
ok($votes > 0, "votes accepted ($votes)");

my ($ok, $why) = wait_agree($res->{ledger}, 60);
ok($ok, 'the votes reached PostgreSQL') or diag($why);

my ($batches, $records) = batches_since($before);
my $lz4 = $records->{3} // 0;

is($batches->{0} // 0, 0, 'no uncompressed batch since')
    or diag(explain($batches));
cmp_ok($lz4, '>=', $votes,
       "lz4 batches hold every vote's event ($lz4 records)");

done_testing();
