# A client's share of a ticket in lib/redis/cast.lua, on a private
# redis-server: cast_vote_batch takes a client key and its share with each
# vote and refuses a client past its share ("Client share of this ticket
# used up", status SHARE) in the same step as the use, consuming nothing.
# The records ({cast}:share:<seq>, client -> uses) are written only for
# accepted uses, so a flood of distinct keys leaves at most the ticket's
# max fields, and they expire with the ticket.  Idempotent retries return
# the stored reply and count nothing; a share of 0 is today's behaviour;
# bad client arguments are that vote's error; cast_cas tells each client
# the uses left to it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cast::PrivateRedis qw(start_redis cmd);
use Test::More;

start_redis();

# ticket voter idem seq client share n name1 add1 ...
sub vote_args {
    my ($ticket, $client, $share, %o) = @_;
    my @names = @{ $o{names} // ['alice'] };
    return ($ticket, '', $o{idem} // '', 0, $client, $share, scalar @names,
            map { ($_, 1) } @names);
}

sub batch {
    return cmd('FCALL', 'cast_vote_batch', 0, map { @$_ } @_);
}

sub statuses { return [map { ref $_ eq 'ARRAY' ? $_->[0] : 'ERR' } @{ $_[0] }] }

my $now;

sub ticket {
    my ($id, %o) = @_;
    $now = int(cmd('TIME')->[0]) * 1000;
    cmd('DEL', '{cast}:ticket', '{cast}:ticket:prev', '{cast}:ticket:next');
    cmd('HSET', '{cast}:ticket', 'id', $id, 'seq', $o{seq},
        'issued', $now - 1000, 'expires', $now + ($o{ttl} // 60000),
        'max', $o{max} // 100, 'used', 0, 'grace', $o{grace} // 0);
}

my $lib = do {
    local (@ARGV, $/) = ("$FindBin::Bin/../lib/redis/cast.lua");
    <>;
};
is(cmd('FUNCTION', 'LOAD', 'REPLACE', $lib), 'cast', 'the library loads');
cmd('SET', '{cast}:ready', 1);

# --- a greedy client gets exactly its share, in one batch or many -----------

ticket('a', seq => 11, max => 100);
my $rep = batch(map { [vote_args('a', 'greedy', 3)] } 1 .. 10);
is_deeply(statuses($rep), [('OK') x 3, ('SHARE') x 7],
          'ten votes of one client in one batch, share 3: three accepted');
is($rep->[3][1], 'Client share of this ticket used up', 'the message');
like($rep->[3][2], qr/\A[1-9]\d*\z/,
     'no event id: the ms the ticket stays usable (the share used up)');
$rep = batch([vote_args('a', 'greedy', 3)]);
is($rep->[0][0], 'SHARE', 'a later batch: still refused');
is(cmd('HGET', '{cast}:ticket', 'used'), 3, 'refusals consumed no use');
is(cmd('HGET', '{cast}:count', 'alice'), 3, 'nor counted a vote');
is(cmd('XLEN', '{cast}:outbox'), 1,
   'nor wrote an event: the first batch\'s one entry, no more');
is(cmd('HGET', '{cast}:share:11', 'greedy'), 3, 'the record: 3 uses');

$rep = batch(map { [vote_args('a', "other-$_", 3)] } 1 .. 5);
is_deeply(statuses($rep), [('OK') x 5], 'other clients still vote');

# --- the ticket's exhaustion comes first, and stays exact --------------------

ticket('b', seq => 12, max => 10);
$rep = batch(map { [vote_args('b', 'c' . ($_ % 4), 3)] } 1 .. 40);
my %n;
$n{$_}++ for @{ statuses($rep) };
is($n{OK}, 10, '40 votes of 4 clients, share 3, 10 uses: exactly 10');
is(cmd('HGET', '{cast}:ticket', 'used'), 10, 'the ticket is spent');
is(($n{EXHAUSTED} // 0) + ($n{SHARE} // 0), 30, 'the others refused');
$rep = batch([vote_args('b', 'fresh', 3)]);
is($rep->[0][0], 'EXHAUSTED', 'a fresh client on the spent ticket: spent');
like($rep->[0][2], qr/\A\d+\z/, 'with its deadline');
my $sum = 0;
$sum += $_ for grep { /^\d+$/ } @{ cmd('HVALS', '{cast}:share:12') };
is($sum, 10, 'the records add up to the uses');

# --- a flood of distinct keys: at most max records ---------------------------

ticket('c', seq => 13, max => 50);
batch(map { [vote_args('c', "flood-$_", 1)] } 1 .. 500);
is(cmd('HLEN', '{cast}:share:13'), 50,
   '500 distinct clients, 50 uses: 50 records');

# --- the records expire with the ticket --------------------------------------

my $pttl = cmd('PTTL', '{cast}:share:13');
my $expires = $now + 60000;
# expiry + the longest of the period (61 s here), the grace (0)
my $want = $expires + 61000 - int(cmd('TIME')->[0]) * 1000;
cmp_ok(abs($pttl - $want), '<', 3000,
       "the records outlive the ticket by one period ($pttl ms)");

ticket('d', seq => 14, max => 5, ttl => 2000, grace => 30000);
batch([vote_args('d', 'g', 1)]);
$pttl = cmd('PTTL', '{cast}:share:14');
cmp_ok($pttl, '>', 30000, "a grace longer than the period: kept for it "
                          . "($pttl ms)");
cmp_ok($pttl, '<=', 32000, 'and no longer');

# --- idempotent retries count once -------------------------------------------

ticket('e', seq => 15, max => 100);
$rep = batch([vote_args('e', 'k', 2, idem => 'key-1')]);
my $first = $rep->[0];
is($first->[0], 'OK', 'a vote with an idempotency key');
$rep = batch(map { [vote_args('e', 'k', 2, idem => 'key-1')] } 1 .. 5);
is_deeply($rep, [($first) x 5], 'five retries: the stored reply');
is(cmd('HGET', '{cast}:share:15', 'k'), 1, 'one use counted');
$rep = batch([vote_args('e', 'k', 2)], [vote_args('e', 'k', 2)]);
is_deeply(statuses($rep), [qw(OK SHARE)], 'the share has one use left');
$rep = batch([vote_args('e', 'k', 2, idem => 'key-2')]);
is($rep->[0][0], 'SHARE', 'a new key past the share: refused');
$rep = batch([vote_args('e', 'k', 2, idem => 'key-2')]);
is($rep->[0][0], 'SHARE', 'and not recorded: refused again');

# --- share 0 is no share ------------------------------------------------------

ticket('f', seq => 16, max => 100);
$rep = batch(map { [vote_args('f', '', 0)] } 1 .. 20);
is_deeply(statuses($rep), [('OK') x 20], 'share 0: every vote accepted');
is(cmd('EXISTS', '{cast}:share:16'), 0, 'and no record written');

# --- bad client arguments: that vote's error ---------------------------------

ticket('g', seq => 17, max => 100);
$rep = batch([vote_args('g', '', 2)], [vote_args('g', 'x' x 33, 2)],
             [vote_args('g', 'x', -1)], [vote_args('g', 'x', 'many')],
             [vote_args('g', 'x', 1.5)], [vote_args('g', 'x', 1000001)],
             [vote_args('g', 'x' x 32, 1)]);
is_deeply(statuses($rep), [qw(ERR ERR ERR ERR ERR ERR OK)],
          'empty, 33 bytes, bad shares: errors; 32 bytes: accepted');
like($rep->[0]{err}, qr/client share/, 'naming the client share');
is(cmd('HGET', '{cast}:ticket', 'used'), 1, 'the bad ones took nothing');

# --- cas: the uses left to each client ---------------------------------------

ticket('h', seq => 18, max => 10);
batch(map { [vote_args('h', 'p', 4)] } 1 .. 3);
$rep = cmd('FCALL_RO', 'cast_cas', 0);
is_deeply($rep, ['h', $now + 60000, 7, 18], 'no arguments: as before');
$rep = cmd('FCALL_RO', 'cast_cas', 0, 'p', 4, 'q', 4, '', 0, 'q', 20);
is_deeply([map { $_->[4] } @$rep], [1, 4, -1, 7],
          'per client: share left, -1 without one, at most the ticket\'s');
is_deeply([map { [@$_[0 .. 3]] } @$rep], [(['h', $now + 60000, 7, 18]) x 4],
          'each with the ticket');
batch(map { [vote_args('h', "z$_", 4)] } 1 .. 7);
$rep = cmd('FCALL_RO', 'cast_cas', 0, 'q', 4);
is($rep->[0][4], 0, 'a spent ticket leaves nothing to anyone');
$rep = cmd('FCALL_RO', 'cast_cas', 0, 'q');
like($rep->{err} // '', qr/pairs/, 'an odd argument count is an error');

done_testing();
