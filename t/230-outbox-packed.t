# lib/redis/cast.lua writes packed outbox entries ("p": votes of one name
# counted once, one ticket, uses one after the other) only while a relay
# says it reads them ({cast}:relay:packed); else batch entries ("b").
# The same random batches run twice from the same state on a private
# redis-server, with the key and without: the replies, the counts,
# versions, leaderboard, total, tickets' uses, shares and idempotency
# records must be the same, and the events the entries hold, read back
# as the relay reads them (docs/redis.md, "Outbox entry"), vote for vote
# the same.  The batches mix what makes an entry change kind or end: the
# previous ticket in its grace, names counted twice or more than one a
# vote, idempotency keys, client shares, unknown tickets, voters and
# names holding a '\n', and batches of 1,600 votes (an entry holds 1,000
# votes at most).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cast::PrivateRedis qw(start_redis cmd);
use Test::More;

start_redis();

my $lib = do {
    local (@ARGV, $/) = ("$FindBin::Bin/../lib/redis/cast.lua");
    <>;
};

my $now = int(cmd('TIME')->[0]) * 1000;

sub setup {
    my ($packed) = @_;

    cmd('FLUSHALL');
    cmd('FUNCTION', 'LOAD', 'REPLACE', $lib);
    cmd('SET', '{cast}:ready', 1);
    cmd('SET', '{cast}:relay:packed', 1) if $packed;
    cmd('HSET', '{cast}:ticket', 'id', 'CUR', 'seq', 42,
        'issued', $now - 1000, 'expires', $now + 3600000,
        'max', 5000, 'used', 0, 'grace', 3600000);
    cmd('HSET', '{cast}:ticket:prev', 'id', 'PREV', 'seq', 41,
        'issued', $now - 2000, 'expires', $now + 3600000,
        'max', 3000, 'used', 10, 'grace', 3600000);
}

# The events of the outbox, in order, as the relay reads them: "seq-use
# voter name n c ver ..." (the entries' time left out)
sub events {
    my @out;

    for my $e (@{ cmd('XRANGE', '{cast}:outbox', '-', '+') }) {
        my @f = @{ $e->[1] };

        if ($f[0] eq 'b') {
            my $i = 2;
            while ($i < @f) {
                my ($seq, $use, $voter, $k) = @f[$i .. $i + 3];
                push @out, join("\0", "$seq-$use", $voter,
                                @f[$i + 4 .. $i + 3 + 4 * $k]);
                $i += 4 + 4 * $k;
            }
            next;
        }

        return ["entry of kind $f[0]"] if $f[0] ne 'p' || @f != 2;
        my $v = $f[1];
        $v =~ s/\A[0-9]+\n([0-9]+)\n([0-9]+)(?:\n|\z)// or return ['bad'];
        my ($seq, $use) = ($1, $2);
        while (length $v) {
            my @s;
            for (1 .. 2) {
                $v =~ s/\A([0-9]+)\n// or return ['bad length'];
                push @s, substr($v, 0, $1, '');
                $v =~ s/\A\n// or return ['bad separator'];
            }
            $v =~ s/\A([0-9]+)\n([0-9]+)(?:\n|\z)// or return ['bad numbers'];
            push @out, join("\0", "$seq-$use", $s[0], $s[1], 1, $1, $2);
            $use++;
        }
    }

    return \@out;
}

sub state {
    my %s;

    for my $k (@{ cmd('KEYS', '*') }) {
        next if $k eq '{cast}:outbox' || $k eq '{cast}:relay:packed';
        my $type = cmd('TYPE', $k);
        $s{$k} = $type eq 'hash' ? { @{ cmd('HGETALL', $k) } }
               : $type eq 'zset' ? cmd('ZRANGE', $k, 0, -1, 'WITHSCORES')
               : cmd('GET', $k);
    }

    return \%s;
}

# a random vote: ticket voter idem seq client share n name count ...
my @names = (map({ "n$_" } 1 .. 8), "new\nline");
my $idems = 0;

sub vote {
    my $r = rand;
    my $ticket = $r < 0.8 ? 'CUR' : $r < 0.95 ? 'PREV' : 'NONE';
    my $voter = (rand) < 0.7 ? '' : (rand) < 0.5 ? 'v' : "v\noter";
    my $idem = (rand) < 0.05 ? 'k' . (++$idems % 7) : '';
    my ($client, $share) = (rand) < 0.05 ? ('c' . int(rand 3), 2) : ('', 0);
    my $k = (rand) < 0.85 ? 1 : 2 + int rand 3;
    my @pairs = map { ($names[rand @names], (rand) < 0.85 ? 1 : 2) } 1 .. $k;

    return ($ticket, $voter, $idem, 0, $client, $share, $k, @pairs);
}

srand 230;
my @batches = map {
    my $n = $_ % 10 == 0 ? 1600 : 1 + int rand 20;
    [map { vote() } 1 .. $n];
} 1 .. 60;

my %run;
for my $packed (1, 0) {
    setup($packed);
    my @replies = map { cmd('FCALL', 'cast_votes', 0, @$_) } @batches;
    $run{$packed} = { replies => \@replies, state => state(),
                      events => events() };
}

# the uses the batches took: one an accepted vote, replays of an
# idempotency key taking none
my $st = $run{1}{state};
my $accepted = $st->{'{cast}:ticket'}{used}
             + $st->{'{cast}:ticket:prev'}{used} - 10;
cmp_ok($accepted, '>', 5000, "votes accepted: $accepted");
cmp_ok(scalar @{ $run{1}{events} }, '==', $accepted,
       'an event per accepted vote');

# a refusal as spent (or a share used up) says for how many ms more,
# which moves between runs
for my $r (map { @$_ } @{ $run{1}{replies} }, @{ $run{0}{replies} }) {
    $r->[2] = 'ms'
        if ref $r eq 'ARRAY' && $r->[0] =~ /\A(EXHAUSTED|SHARE)\z/;
}
is_deeply($run{1}{replies}, $run{0}{replies}, 'the same replies');
is_deeply($run{1}{state}, $run{0}{state}, 'the same state');
is_deeply($run{1}{events}, $run{0}{events}, 'the same events, in order');

# what the two outboxes were made of
setup(1);
cmd('FCALL', 'cast_votes', 0, @$_) for @batches[0 .. 9];
my %kinds;
$kinds{ $_->[1][0] }++ for @{ cmd('XRANGE', '{cast}:outbox', '-', '+') };
ok($kinds{p} && $kinds{b}, "packed and batch entries ($kinds{p}, $kinds{b})");

done_testing();
