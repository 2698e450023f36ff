# What a vote costs Redis (lib/redis/cast.lua), on a private redis-server: the
# ticket is checked before any name's count and version is read, so a
# refused vote costs the same whatever the number of its names, and a
# batch reads the counts of at most as many votes as its tickets have
# uses left.  The work is counted exactly with INFO commandstats (commands
# called by a function count there too).  The exact limit, the
# idempotency keys and the COUNT_MAX refusal keep their meaning, and a
# spent ticket's refusal says how long it lasts (nginx refuses the ticket
# itself for that long, t/029-spent-ticket.t).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cast::PrivateRedis qw(start_redis cmd calls);
use Test::More;

start_redis();

# A vote's arguments: ticket voter idem seq client share n name1 add1 ...
sub vote_args {
    my ($ticket, $names, %o) = @_;
    return ($ticket, '', $o{idem} // '', 0, $o{client} // '',
            $o{share} // 0, scalar @$names, map { ($_, 1) } @$names);
}

# the replies of one FCALL cast_vote_batch and the HMGETs it issued
sub batch {
    my @votes = @_;
    cmd('CONFIG', 'RESETSTAT');
    my $replies = cmd('FCALL', 'cast_vote_batch', 0, map { @$_ } @votes);
    my $n = calls('hmget');
    return ($replies, $n);
}

sub ticket {
    my ($id, %o) = @_;
    my $now = int(cmd('TIME')->[0]) * 1000;
    cmd('DEL', '{cast}:ticket', '{cast}:ticket:prev', '{cast}:ticket:next');
    cmd('HSET', '{cast}:ticket', 'id', $id, 'seq', $o{seq} // 7,
        'issued', $now - 1000, 'expires', $now + ($o{ttl} // 60000),
        'max', $o{max} // 100, 'used', $o{used} // 0, 'grace', 0);
}

my $lib = do { local (@ARGV, $/) = ("$FindBin::Bin/../lib/redis/cast.lua"); <> };
is(cmd('FUNCTION', 'LOAD', 'REPLACE', $lib), 'cast', 'the library loads');
cmd('SET', '{cast}:ready', 1);

my @hundred = map { "name-$_" } 1 .. 100;

# --- refused votes read no count ---------------------------------------------

ticket('spent', max => 5, used => 5);
my ($rep, $n) = batch([vote_args('spent', \@hundred)]);
is($rep->[0][0], 'EXHAUSTED', 'a spent ticket is refused');
is($n, 1, 'a spent ticket with 100 names: one HMGET, the ticket\'s');

($rep, $n) = batch(map { [vote_args('spent', \@hundred)] } 1 .. 64);
is(scalar(grep { $_->[0] eq 'EXHAUSTED' } @$rep), 64,
   '64 votes of 100 names on a spent ticket: all refused');
is($n, 1, 'and still one HMGET');

ticket('old', ttl => -1);
($rep, $n) = batch([vote_args('old', \@hundred)]);
is($rep->[0][0], 'EXPIRED', 'an expired ticket is refused');
is($n, 1, 'with one HMGET');

($rep, $n) = batch([vote_args('forged', \@hundred)]);
is($rep->[0][0], 'INVALID', 'an unknown ticket is refused');
is($n, 2, 'with two HMGETs: the current and the previous ticket');

# --- a spent ticket's refusal says how long it lasts at least (ms) ---------
# the current ticket: until it expires; the previous one: until its grace
# ends or the current one expires, whichever comes first

ticket('spent', max => 1, used => 1, ttl => 30000);
($rep) = batch([vote_args('spent', ['gina'])]);
is($rep->[0][0], 'EXHAUSTED', 'a spent current ticket');
ok($rep->[0][2] > 28000 && $rep->[0][2] <= 30000,
   "refused for its period's rest: $rep->[0][2] ms");

sub prev_spent {
    my ($cur_ttl, $grace) = @_;
    my $now = int(cmd('TIME')->[0]) * 1000;
    ticket('cur', ttl => $cur_ttl);
    cmd('HSET', '{cast}:ticket', 'grace', $grace);
    cmd('HSET', '{cast}:ticket:prev', 'id', 'prev', 'seq', 6,
        'issued', $now - 20000, 'expires', $now + 10000, 'max', 1,
        'used', 1, 'grace', 0);
    my ($rep) = batch([vote_args('prev', ['gina'])]);
    return $rep->[0];
}

$rep = prev_spent(30000, 5000);
is($rep->[0], 'EXHAUSTED', 'a spent previous ticket');
ok($rep->[2] > 13000 && $rep->[2] <= 15000,
   "refused until its grace ends: $rep->[2] ms");
$rep = prev_spent(12000, 5000);
ok($rep->[2] > 10000 && $rep->[2] <= 12000,
   "or until the current one expires: $rep->[2] ms");

# --- the reads follow the uses left ------------------------------------------

ticket('one', max => 1);
my @votes = map { my $k = $_; [vote_args('one', [map { "$k-$_" } @hundred])] }
            1 .. 10;
($rep, $n) = batch(@votes);
is_deeply([map { $_->[0] } @$rep], ['OK', ('EXHAUSTED') x 9],
          'one use left, 10 votes: the first accepted');
is($n, 3, 'the ticket, then the counts and versions of one vote');
is(cmd('HLEN', '{cast}:count'), 100, 'only its names were written');

# --- the exact limit and the idempotency keys keep their meaning ------------

ticket('two', max => 2);
($rep) = batch(map { [vote_args('two', ['carol'])] } 1 .. 5);
is_deeply([map { $_->[0] } @$rep], [qw(OK OK EXHAUSTED EXHAUSTED EXHAUSTED)],
          'two uses, five votes: exactly two accepted');
is(cmd('HGET', '{cast}:count', 'carol'), 2, 'carol counts 2');
is(cmd('HGET', '{cast}:ticket', 'used'), 2, 'both uses taken');

ticket('key', max => 1);
($rep) = batch([vote_args('key', ['dave'], idem => 'k1')]);
is($rep->[0][0], 'OK', 'a vote with a key is accepted');
my $first = $rep->[0];
($rep, $n) = batch([vote_args('key', ['dave'], idem => 'k1')],
                   [vote_args('key', ['erin'], idem => 'k2')]);
is_deeply($rep->[0], $first, 'its retry on the spent ticket: the first reply');
is($rep->[1][0], 'EXHAUSTED', 'a new key on the spent ticket is refused');
is($n, 1, 'neither read a count');
is(cmd('HGET', '{cast}:count', 'dave'), 1, 'dave counted once');

# --- a vote that would pass COUNT_MAX leaves its use to the next ----------

cmd('HSET', '{cast}:count', 'full', '9007199254740991');
ticket('max', max => 1);
($rep) = batch([vote_args('max', ['full'])], [vote_args('max', ['frank'])]);
like($rep->[0]{err} // '', qr/count limit/, 'a vote past COUNT_MAX fails');
is($rep->[1][0], 'OK', 'the next vote takes the use it left');
is(cmd('HGET', '{cast}:count', 'frank'), 1, 'and is counted');

done_testing();
