# Redis high availability on the real stack: a primary, replicas and three
# Sentinels (scripts/test.sh runs t/10x on a stack with
# CAST_REDIS_REPLICAS=2; nginx waits for cast_redis_min_replicas 1).
#
# The primary is SIGKILLed in the middle of a vote burst whose client
# keeps a ledger of every answer: the Sentinels promote a replica, nginx
# and the daemons follow, votes are accepted again within 5 s of the kill
# (Sentinel's down-after is 1 s), every vote answered success is in Redis
# and in PostgreSQL exactly once, UNAVAILABLE ones were retried with their
# idempotency key and counted once, no ticket gave more uses than its
# limit, tickets keep rotating, cast-admin check is clean.  Then the old
# primary rejoins as a replica with the same data; a replica killed under
# traffic loses nothing; a manual failover (the old primary stays up and
# is demoted): the workers leave it, ticketd too before it is a replica
# (tickets rotate on the new primary), and with nginx and the relay waiting
# for every replica no success is lost; a vote batch fewer replicas
# acknowledge than asked answers UNAVAILABLE (its retry counted once).
# The replicas fsync their AOF once a second, the primary before each
# reply: nginx sets appendfsync always on whichever Redis it writes to
# (cast_redis_primary_fsync), a promoted replica included.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use Cast::Burst qw(vote_body);
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};
plan skip_all => 'the stack has no Redis replicas (scripts/test.sh '
               . 'starts them for t/10x)'
    unless ($ENV{CAST_REDIS_REPLICAS} // 0) >= 2;

my $ADMIN = repo_root() . '/build/bin/cast-admin';
my $MAX_USES = $ENV{CAST_TICKET_MAX_USES} // 100;
my $READYZ = $ENV{CAST_GRAPHQL_URL} =~ s{/graphql$}{/readyz}r;
my @SENTINELS = split ' ', $ENV{CAST_REDIS_SENTINELS};

# redis-cli against one port: the reply's lines
sub cli {
    my ($port, @args) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', '/dev/null';
        exec 'redis-cli', '-h', '127.0.0.1', '-p', $port, @args
            or die "exec redis-cli: $!";
    }
    chomp(my @lines = <$fh>);
    close $fh;
    return @lines;
}

# the primary's port, as the first Sentinel that answers names it
sub primary {
    for my $s (@SENTINELS) {
        my ($port) = $s =~ /:(\d+)$/;
        my @a = cli($port, 'SENTINEL', 'get-master-addr-by-name',
                    $ENV{CAST_REDIS_MASTER_NAME});
        return $a[1] if @a == 2 && $a[1] =~ /^\d+$/;
    }
    return undef;
}

sub role { return (cli($_[0], 'ROLE'))[0] // 'down' }

sub ticket_seq { return (cli($_[0], 'HGET', '{cast}:ticket', 'seq'))[0] // 0 }

sub appendfsync { return (cli($_[0], 'CONFIG', 'GET', 'appendfsync'))[1] }

sub counts_on {
    my ($port, $names) = @_;
    my @v = cli($port, 'HMGET', '{cast}:count', @$names);
    my %c;
    $c{ $names->[$_] } = $v[$_] for grep { length $v[$_] } 0 .. $#$names;
    return \%c;
}

# PostgreSQL == the primary == the ledger, within $seconds
sub agree {
    my ($ledger, $seconds) = @_;
    my @names = keys %$ledger;
    my $why = 'empty ledger';

    return (0, $why) unless @names;
    my $ok = wait_for($seconds, sub {
        my $port = primary() // return 0;
        my ($pg, $r) = eval { (counts_pg(\@names), counts_on($port, \@names)) };
        return 0 unless $pg;
        $why = undef;
        for my $n (sort @names) {
            my ($l, $p, $q) = ($ledger->{$n}, $pg->{$n} // 0, $r->{$n} // 0);
            if ($l != $p || $l != $q) {
                $why = "$n: ledger $l, postgresql $p, redis $q";
                last;
            }
        }
        return !defined $why;
    });
    return ($ok, $why);
}

sub admin {
    my $out = `$ADMIN @_ 2>&1`;
    return ($? >> 8, $out);
}

sub vote_once {
    my ($names, $key, %opt) = @_;
    my ($ticket) = cas_ticket();
    return 'no ticket' unless $ticket;
    my ($status, $json) = graphql(undef, undef, timeout => 3, %opt,
        raw => vote_body($ticket, $names, [map { 1 } @$names], key => $key));
    my $vote = $json && $json->{data} && $json->{data}{vote};
    return 'ok' if $vote && $vote->{success};
    return $json && $json->{errors}
        ? $json->{errors}[0]{extensions}{code} // 'error' : 'no answer';
}

sub ticket_limits_held {
    my ($tag) = @_;
    return psql_query("SELECT count(*) FROM (SELECT split_part(event_id, "
        . "'-', 1) FROM vote_events WHERE event_id IN (SELECT DISTINCT "
        . "event_id FROM vote_events, json_array_elements(payload->'votes') v "
        . "WHERE v->>'u' LIKE '${tag}\\_$$\\_%') GROUP BY 1 "
        . "HAVING count(*) > $MAX_USES "
        . "OR max(split_part(event_id, '-', 2)::int) > $MAX_USES) t");
}

# --- the topology ---------------------------------------------------------------

my $first = primary();
ok($first, "the Sentinels name a primary ($first)");
is(role($first), 'master', 'it says it is the primary');
my @replicas = grep { role($_) eq 'slave' }
               map { $ENV{CAST_REDIS_PORT} + $_ }
               0 .. $ENV{CAST_REDIS_REPLICAS};
is(scalar @replicas, $ENV{CAST_REDIS_REPLICAS}, 'the replicas are replicas');
is(appendfsync($first), 'always', 'the primary fsyncs before each reply');
is(join(',', map { appendfsync($_) } @replicas),
   join(',', ('everysec') x @replicas), 'the replicas once a second');
ok(wait_for(30, sub { (HTTP::Tiny->new->get($READYZ)->{content} // '')
                      =~ /^ready redis 127\.0\.0\.1:$first$/ }),
   '/readyz names the primary as the Redis written to');

# --- SIGKILL of the primary in the middle of a vote burst ---------------------

my @names = pipeline_names('h100', 150);
my $run = vote_traffic(seconds => 40, names => \@names, width => 5,
                       per_round => 40, tag => 'h100');
my @probe = pipeline_names('h100p', 1);
my %probe_ledger;
my $probe_seq = 0;

# the burst is under way, accepted votes included
ok(wait_for(30, sub { vote_once(\@probe, "h100p-$$-" . $probe_seq++) eq 'ok'
                      && ++$probe_ledger{ $probe[0] } }),
   'votes accepted before the kill');

my $ticket_before = (cas_ticket())[0];
ok(cast_stack('kill', 'redis-primary'), 'the primary SIGKILLed');
my $killed = time;

# service back: a vote is accepted again (each vote has its own key)
my ($back, %seen);
while (time - $killed < 30) {
    my $key = "h100p-$$-" . $probe_seq++;
    my $r = vote_once(\@probe, $key);
    $seen{$r}++;
    if ($r eq 'ok') {
        $probe_ledger{ $probe[0] }++;
        $back = time - $killed;
        last;
    }
    # an answer-less or refused vote is settled below with its key
    push @{ $seen{keys} }, $key;
    sleep 0.05;
}
ok(defined $back, 'votes are accepted again after the failover');
note sprintf 'service back %.2f s after the kill', $back // -1;
cmp_ok($back // 99, '<=', 5, 'within 5 s of the kill (down-after 1 s)');

my $second = primary();
isnt($second, $first, "a replica was promoted ($second)");
ok(wait_for(10, sub { (HTTP::Tiny->new->get($READYZ)->{content} // '')
                      =~ /^ready redis 127\.0\.0\.1:$second$/ }),
   '/readyz names the new primary');
# it started as a replica (everysec): nginx set always before its first
# vote there, so what is acknowledged now is fsynced on it
is(appendfsync($second), 'always',
   'the promoted replica fsyncs before each reply');
my ($still) = grep { $_ != $second } @replicas;
is(appendfsync($still), 'everysec', 'the other replica still once a second');
like(HTTP::Tiny->new->get($ENV{CAST_GRAPHQL_URL} =~ s{/graphql$}{/metrics}r)
         ->{content}, qr/^cast_redis_failovers_total [1-9]/m,
     'the failover counter counted it');

# tickets keep rotating on the new primary: two new ones in a row
my %tickets = ($ticket_before => 1);
ok(wait_for(15, sub { my ($t) = cas_ticket(); $tickets{$t}++ if $t;
                      keys %tickets >= 3 }),
   'tickets keep rotating after the failover');

traffic_stop($run);
my $res = traffic_ledger($run);
note explain $res->{stat};
cmp_ok($res->{stat}{ok}, '>=', 50, 'votes were accepted in the burst');
is($res->{stat}{unsettled}, 0, 'every vote got a definite answer');

# the probe votes that got no definite answer: settled with their keys
for my $key (@{ $seen{keys} // [] }) {
    my $r;
    wait_for(20, sub { $r = vote_once(\@probe, $key); $r eq 'ok' });
    $probe_ledger{ $probe[0] }++ if $r eq 'ok';
}

my ($ok, $why) = agree($res->{ledger}, 60);
ok($ok, 'every accepted vote: in Redis and PostgreSQL, exactly once')
    or diag $why;
($ok, $why) = agree(\%probe_ledger, 30);
ok($ok, 'the probe votes too') or diag $why;

my $total = 0;
$total += $_ for values %{ $res->{ledger} };
is(psql_query("SELECT coalesce(sum((v->>'n')::int), 0) FROM vote_events, "
              . "json_array_elements(payload->'votes') v "
              . "WHERE v->>'u' LIKE 'h100\\_$$\\_%'"),
   $total, "vote_events hold each accepted name-vote once ($total)");
is(ticket_limits_held('h100'), 0,
   "no ticket gave more than $MAX_USES uses across the failover");

my ($rc, $out) = admin('check', '--wait', 30);
is($rc, 0, 'cast-admin check: no difference') or diag $out;

# --- the old primary rejoins as a replica ----------------------------------------

my %part = map { ($ENV{CAST_REDIS_PORT} + $_) =>
                 $_ ? "redis-replica$_" : 'redis' } 0 .. 9;
ok(cast_stack('start', $part{$first}), "the old primary ($part{$first}) "
   . 'started again');
is(role($first), 'slave', 'it rejoined as a replica');
is(appendfsync($first), 'everysec', 'fsyncing once a second, as a replica');
ok(wait_for(30, sub {
       my %a = cli($second, 'HGETALL', '{cast}:count');
       my %b = cli($first, 'HGETALL', '{cast}:count');
       join(',', map { "$_=$a{$_}" } sort keys %a)
           eq join(',', map { "$_=$b{$_}" } sort keys %b) }),
   'nothing diverges: its counts are the primary\'s');

# --- a replica killed under traffic --------------------------------------------

my ($victim) = grep { $_ != $second && role($_) eq 'slave' }
               sort keys %part;
my @names2 = pipeline_names('h100r', 50);
$run = vote_traffic(seconds => 8, names => \@names2, width => 3,
                    per_round => 20, tag => 'h100r');
sleep 2;
ok(cast_stack('kill', $part{$victim}), "a replica ($part{$victim}) killed");
$res = traffic_ledger($run);
note explain $res->{stat};
is($res->{stat}{unsettled}, 0, 'every vote got a definite answer');
cmp_ok($res->{stat}{ok}, '>', 0, 'votes continued with one replica left')
    or diag explain { stat => $res->{stat}, primary => primary(),
                      expected => $second };
($ok, $why) = agree($res->{ledger}, 60);
ok($ok, 'nothing lost with a replica down') or diag $why;
ok(cast_stack('start', $part{$victim}), 'the replica started again');

# --- a manual failover: the old primary stays up, demoted ----------------------

# The old primary keeps taking writes until the Sentinels demote it, and
# keeps a replica that acknowledges them: only a WAIT for every replica
# (here a private nginx with cast_redis_min_replicas = the replicas)
# keeps a success from being lost (README, "Redis high availability").
# Its workers must also leave the demoted primary (READONLY, or the
# Sentinels naming another), whose connection is not closed.
sub private_nginx {
    my ($min) = @_;
    start_nginx(<<'CONF', http_config => <<"HTTP");
location = /graphql { cast_graphql; }
location = /readyz { cast_readyz; }
location = /metrics { cast_metrics; }
CONF
    cast_redis_sentinel $ENV{CAST_REDIS_SENTINELS};
    cast_redis_master_name $ENV{CAST_REDIS_MASTER_NAME};
    cast_redis_min_replicas $min;
    cast_redis_timeout 400ms;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
    cast_ticket_secret_file $ENV{CAST_TICKET_SECRET_FILE};
HTTP
    return 'http://127.0.0.1:' . server_port();
}

sub all_readyz_name {
    my ($url, $port) = @_;
    for (1 .. 20) {
        return 0 unless (HTTP::Tiny->new->get("$url/readyz")->{content}
                         // '') =~ /^ready redis 127\.0\.0\.1:$port$/;
    }
    return 1;
}

# the relay too: an event of a vote the demoted primary took must not
# reach PostgreSQL
{
    local $ENV{CAST_REDIS_MIN_REPLICAS} = $ENV{CAST_REDIS_REPLICAS};
    ok(cast_stack('restart', 'relay'), 'the relay waits for every replica');
}
my $all = private_nginx($ENV{CAST_REDIS_REPLICAS});
ok(wait_for(20, sub { all_readyz_name($all, primary()) }),
   "a private nginx waiting for all $ENV{CAST_REDIS_REPLICAS} replicas");
my $before = primary();
my @names3 = pipeline_names('h100m', 50);
{
    local $ENV{CAST_GRAPHQL_URL} = "$all/graphql";
    $run = vote_traffic(seconds => 8, names => \@names3, width => 3,
                        per_round => 20, tag => 'h100m');
}
sleep 2;
my ($sentinel) = $SENTINELS[0] =~ /:(\d+)$/;
is((cli($sentinel, 'SENTINEL', 'FAILOVER', $ENV{CAST_REDIS_MASTER_NAME}))[0],
   'OK', 'a manual failover asked of a Sentinel');
ok(wait_for(30, sub { my $p = primary(); $p && $p != $before }),
   'the Sentinels name another primary');
my $third = primary();
# The Sentinels make the old primary a replica only some seconds later;
# till then, its replicas gone, it refuses every write as NOREPLICAS (not
# READONLY).  ticketd leaves it as soon as the Sentinels name another, so
# tickets rotate on the new primary meanwhile (two minted there).
my $seq = ticket_seq($third);
my $rotated;
wait_for(30, sub { $rotated = ticket_seq($third) >= $seq + 2;
                   $rotated || role($before) ne 'master' });
ok($rotated, 'tickets rotate on the new primary before the old one is '
   . 'made a replica');
ok(wait_for(30, sub { role($before) eq 'slave' }),
   'the old primary, still running, is a replica');
ok(wait_for(15, sub { all_readyz_name($all, $third) }),
   'the workers write to the new primary, not to the demoted one');
$res = traffic_ledger($run);
note explain $res->{stat};
is($res->{stat}{unsettled}, 0, 'every vote got a definite answer');
cmp_ok($res->{stat}{ok}, '>', 0, 'votes were accepted');
my $lost = 'no primary';
ok(wait_for(30, sub {
       my $port = primary() or return 0;
       my $c = counts_on($port, \@names3);
       ($lost) = map { "$_: ledger $res->{ledger}{$_}, redis "
                       . ($c->{$_} // 0) }
                 grep { ($c->{$_} // 0) != $res->{ledger}{$_} }
                 sort keys %{ $res->{ledger} };
       !defined $lost }),
   'every success is on the new primary, counted once') or diag $lost;
($ok, $why) = agree($res->{ledger}, 60);
ok($ok, 'and in PostgreSQL, once') or diag $why;
ok(cast_stack('restart', 'relay'), 'the relay as before');

# the demoted primary keeps the always nginx set (only slower) until it
# restarts with a replica's settings
is(appendfsync($before), 'always', 'the demoted primary still fsyncs always');
ok(cast_stack('restart', $part{$before}), 'it restarts');
is(appendfsync($before), 'everysec', 'as a replica, once a second');

# --- WAIT: fewer replicas acknowledge than asked ---------------------------------

my $nine = private_nginx(9);
my $private = "$nine/graphql";
ok(wait_for(20, sub { all_readyz_name($nine, primary()) }),
   'a private nginx waiting for 9 replicas, its connections up');
my @one = pipeline_names('h100w', 1);
my $key = "h100w-$$";
my $r;
wait_for(20, sub { $r = vote_once(\@one, $key, url => $private);
                   $r ne 'no answer' && $r ne 'no ticket' });
is($r, 'UNAVAILABLE', 'a batch 9 replicas did not acknowledge: '
   . 'UNAVAILABLE, not success');
like(HTTP::Tiny->new->get($private =~ s{/graphql$}{/metrics}r)
         ->{content} // '', qr/^cast_redis_unacked_batches_total [1-9]/m,
     'counted as an unacknowledged batch');
is(vote_once(\@one, $key), 'ok', 'its retry with the same key: success');
is(vote_once(\@one, $key), 'ok', 'and again');
($ok, $why) = agree({ $one[0] => 1 }, 30);
ok($ok, 'counted once') or diag $why;

done_testing();
