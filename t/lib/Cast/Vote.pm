package Cast::Vote;

# Votes as blocks.  Cast::Test runs a block's filters just before the
# block, so a "--- request eval" that calls ::vote(...) carries the ticket
# current at that moment, read from the stack's Redis:
#
#   --- request eval
#   ::vote(u => [::name('alice'), ::name('bob')], c => [1, 2])
#   --- response_body chomp
#   {"data":{"vote":{...,"usernames":["alice-$TEST_NGINX_RUN",...
#   --- ticket_uses: 1
#
# name('alice') is "alice-<run>", a name no other run of the suite used,
# so that totals are exact; the run is $ENV{TEST_NGINX_RUN}, which the
# harnesses expand in a response_body.  A "--- ticket_uses: N" section
# checks, after the block's last response, that its requests consumed N
# uses of the ticket the first ::vote() took (skipped when that ticket
# was replaced meanwhile).  Both harnesses run these the same way
# (add_block_preprocessor, add_response_body_check).

use strict;
use warnings;

use Exporter ();
use JSON::PP;
use Time::HiRes qw(sleep time);

use Cast::Burst qw(vote_body);
use Cast::Stack qw(redis_cmd);
use Cast::Test ();

our @EXPORT = qw(
    vote count name ticket old_ticket forged_ticket graphql_request cas_body
);

my $RUN = sprintf 'b%d%04d', time, $$ % 10000;
my $FIRST;              # [ticket id, uses] when the block's ::vote() ran

$ENV{TEST_NGINX_RUN} = $RUN;


sub import {
    my $h = Cast::Test::harness();

    $h->can('add_block_preprocessor')->(sub { undef $FIRST });
    $h->can('add_response_body_check')->(\&check_uses);
    Exporter::export(__PACKAGE__, scalar caller);
}


sub name { return "$_[0]-$RUN" }


sub ticket_state {
    my ($id, $used, $max, $expires) = @{ redis_cmd('HMGET', '{cast}:ticket',
                                         qw(id used max expires)) };

    return { id => $id, used => $used, max => $max, expires => $expires };
}


# The current ticket, once it has a second left and more than $uses
# uses (10 by default), so that the block does not race a rotation.
sub ticket {
    my ($uses) = @_;

    for (1 .. 60) {
        my $t = ticket_state();
        return $t->{id}
            if defined $t->{id} && $t->{expires} - time * 1000 > 1000
               && $t->{max} - $t->{used} > ($uses // 10);
        sleep 0.05;
    }
    die "no fresh ticket in 3 s\n";
}


# The ticket current until a moment ago (it is replaced every period).
sub old_ticket {
    my $old = ticket_state()->{id};
    my $t0 = time;

    sleep 0.02 while ticket_state()->{id} eq $old && time - $t0 < 5;
    return $old;
}


# The current ticket with one character changed: its MAC no longer holds.
sub forged_ticket {
    my $t = ticket();

    substr($t, 40, 1) = substr($t, 40, 1) eq 'A' ? 'B' : 'A';
    return $t;
}


sub graphql_request {
    my ($query, $vars) = @_;
    my %req = (query => $query);

    $req{variables} = $vars if $vars;
    return "POST /graphql\n" . JSON::PP->new->canonical->encode(\%req);
}


# The request for the total of one name.
sub count {
    my ($name) = @_;

    return graphql_request('query($u:String!){query(username:$u)}',
                           { u => $name });
}


# What { cas { ticket validUntil remainingUsage } } answers now.
sub cas_body {
    my $t = ticket_state();
    my @tm = gmtime int($t->{expires} / 1000);

    return sprintf '{"data":{"cas":{"ticket":"%s","validUntil":'
        . '"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ","remainingUsage":%d}}}',
        $t->{id}, $tm[5] + 1900, $tm[4] + 1, @tm[3, 2, 1, 0],
        $t->{expires} % 1000, $t->{max} - $t->{used};
}


# vote(u => [...], c => [...], v => voter, k => key, t => ticket,
# raw => sub { edit the JSON body }): the request of a vote mutation.
sub vote {
    my (%v) = @_;
    my $t = $v{t} // ticket();

    $FIRST //= [@{ ticket_state() }{qw(id used)}];
    my $body = vote_body($t, $v{u}, $v{c}, voter => $v{v}, key => $v{k});
    $body = $v{raw}->($body) if $v{raw};
    return "POST /graphql\n$body";
}


sub check_uses {
    my ($block, $body, $i) = @_;
    my $want = $block->ticket_uses;
    my $r = $block->request;
    my $last = (ref $r eq 'ARRAY' ? @$r : 1) - 1;

    return unless defined $want && $i == $last;
    my $now = ticket_state();
    SKIP: {
        Test::More::skip($block->name . ' - the ticket was replaced', 1)
            unless $FIRST && $now->{id} eq $FIRST->[0];
        Test::More::is($now->{used} - $FIRST->[1], $want,
                       $block->name . ' - ticket uses consumed');
    }
}


1;
