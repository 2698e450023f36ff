# cast_redis_replica_reads: each worker keeps one more connection, to a
# replica the Sentinels name, and sends query, cas and top there while
# ROLE says the replica is linked to its primary; votes and everything
# else stay on the primary.  The replicas here take writes of their own
# (replica-read-only no): a count set on a replica alone is what a query
# answers, so the answer proves where it was read.  Then a Sentinel
# failover: the workers follow the primary and read from a replica of
# the new one.  Then every replica is SIGKILLed, the one read from while
# it holds a read: that read is sent again to the primary, and every
# read after falls back to the primary at once, none fails.  Last,
# nginx -t refuses the directive without cast_redis_sentinel.
#
# A private primary on a loopback port, two private replicas of it, a
# private Sentinel watching them and a private nginx (one worker).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx;
use Cast::PrivateRedis qw(start_primary ticket start_sentinel
                         sentinel_nginx);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

my $pport = start_primary();
my $ticket = ticket(7, max => 1000000);

my $dir = tempdir('cast-replicas-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %pid;

# a replica of the primary that also takes writes of its own
sub start_replica {
    my ($port) = @_;
    system('redis-server', '--port', $port, '--bind', '127.0.0.1',
           '--dir', $dir, '--dbfilename', "dump-$port.rdb", '--save', '',
           '--appendonly', 'no', '--replicaof', '127.0.0.1', $pport,
           '--replica-read-only', 'no', '--daemonize', 'yes',
           '--pidfile', "$dir/$port.pid",
           '--logfile', "$dir/$port.log") == 0
        or die "redis-server: $?\n";
    ok(wait_for(20, sub { role($port) eq 'slave:connected' }),
       "replica $port linked to the primary");
    open my $fh, '<', "$dir/$port.pid" or die "$dir/$port.pid: $!\n";
    chomp($pid{$port} = <$fh>);
}

END { kill 'KILL', grep { $_ } values %pid }

# one command to a port: its reply's lines (bulk strings and integers)
sub at {
    my ($port, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 2) or return ();
    print {$s} '*' . @args . "\r\n"
               . join('', map { '$' . length($_) . "\r\n$_\r\n" } @args);
    my @out;
    my $want = 1;
    while ($want-- > 0 && defined(my $line = <$s>)) {
        $line =~ s/\r\n\z//;
        my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
        if ($t eq '*') {
            $want += $rest;
        } elsif ($t eq '$') {
            next if $rest < 0;
            read($s, my $buf, $rest + 2);
            push @out, substr($buf, 0, $rest);
        } else {
            push @out, $rest;
        }
    }
    return @out;
}

# "master", or "slave:<its link's state>", or "down"
sub role {
    my @r = at($_[0], 'ROLE');
    return 'down' unless @r;
    return $r[0] eq 'slave' ? "slave:$r[3]" : $r[0];
}

# calls of a command (fcall, fcall_ro) since the port's last RESETSTAT
sub calls_at {
    my ($port, $name) = @_;
    my ($info) = at($port, 'INFO', 'commandstats');
    return ($info // '') =~ /^cmdstat_\Q$name\E:calls=(\d+)/m ? $1 : 0;
}

my @replicas = (free_port(), free_port());
start_replica($_) for @replicas;

my $sport = start_sentinel(server_root() . '/sentinel', 'cast150',
                           '127.0.0.1', $pport);
ok($sport, 'the Sentinel names the primary');

# the Sentinel sees both replicas up and linked
sub replicas_seen {
    my @r = at($sport, 'SENTINEL', 'REPLICAS', 'cast150');
    return scalar grep { $_ eq 'ok' } @r;
}
ok(wait_for(30, sub { replicas_seen() == 2 }),
   'the Sentinel sees both replicas linked');

my $base = sentinel_nginx($sport, 'cast150', '3s', replica_reads => 1,
                          metrics => 1);
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "replica-$run";

sub readyz { return HTTP::Tiny->new->get("$base/readyz")->{content} // '' }

sub metric {
    my $m = HTTP::Tiny->new->get("$base/metrics")->{content} // '';
    return $m =~ /^\Q$_[0]\E (\d+)$/m ? $1 : -1;
}

# a query's answer: the count, 'null', or the error's code
sub query {
    my ($status, $json) = graphql("{query(username:\"$name\")}", undef,
                                  url => "$base/graphql", timeout => 3);
    return $json->{data}{query} // 'null'
        if $json && $json->{data} && !$json->{errors};
    return $json && $json->{errors}
        ? $json->{errors}[0]{extensions}{code} // 'error' : "HTTP $status";
}

# --- reads from a replica ---------------------------------------------------

# a count on each replica alone: the primary has none
at($replicas[$_], 'HSET', '{cast}:count', $name, 100 + $_) for 0, 1;
is(join(',', at($pport, 'HGET', '{cast}:count', $name)), '',
   'the primary has no count for the name');

my $reader;
my $reads = qr/^ready redis 127\.0\.0\.1:$pport reads 127\.0\.0\.1:(\d+)$/;
ok(wait_for(20, sub {
       ($reader) = readyz() =~ $reads;
       $reader && grep { $_ == $reader } @replicas }),
   '/readyz names the primary written to and a replica read from')
    or diag readyz();
my ($i) = grep { $replicas[$_] == $reader } 0, 1;

at($_, 'CONFIG', 'RESETSTAT') for $pport, @replicas;
my %answers;
$answers{ query() }++ for 1 .. 20;
is_deeply(\%answers, { 100 + $i => 20 },
          "every query answers the count only replica $reader has")
    or diag explain \%answers;
is(calls_at($pport, 'fcall_ro'), 0, 'the primary ran no read');
cmp_ok(calls_at($reader, 'fcall_ro'), '>', 0, 'the replica ran the reads');

my (undef, $json) = graphql('{cas{ticket} top(limit:3){username votes}}', undef,
                            url => "$base/graphql", timeout => 3);
ok($json && $json->{data} && !$json->{errors}, 'cas and top answer')
    or diag explain $json;
is(calls_at($pport, 'fcall_ro'), 0, '  from the replica too');
cmp_ok(metric('cast_redis_replica_reads_total'), '>=', 21,
       'the metrics count the reads sent to a replica');

# a vote goes to the primary, never to a replica
my $vname = "vote-$run";
my (undef, $vote) = graphql(
    'mutation($u:[String!]!,$t:String!){vote(usernames:$u,ticket:$t)'
    . '{success}}', { u => [$vname], t => $ticket },
    url => "$base/graphql", timeout => 3);
ok($vote && $vote->{data} && $vote->{data}{vote}{success}, 'a vote is '
   . 'accepted') or diag explain $vote;
is(join(',', at($pport, 'HGET', '{cast}:count', $vname)), '1',
   '  on the primary');
is(join(',', map { calls_at($_, 'fcall') } @replicas), '0,0',
   'no replica was sent a vote (FCALL)');

# --- a failover: the replica read from is picked again ----------------------

at($sport, 'SENTINEL', 'FAILOVER', 'cast150');
my $new;
ok(wait_for(30, sub {
       my @a = at($sport, 'SENTINEL', 'get-master-addr-by-name', 'cast150');
       $new = $a[1];
       $new && $new != $pport && role($new) eq 'master' }),
   'the Sentinel promoted a replica');
my $other;
$reads = qr/^ready redis 127\.0\.0\.1:$new reads 127\.0\.0\.1:(\d+)$/;
ok(wait_for(30, sub {
       ($other) = readyz() =~ $reads;
       $other && $other != $new && role($other) eq 'slave:connected' }),
   "the worker writes to the new primary, reads from a replica of it")
    or diag readyz();
# left, or cut by the Sentinel (it kills the clients of what it
# reconfigures), then picked again
my @picked = error_log_text() =~ /linked to its primary, reads go there/g;
cmp_ok(scalar @picked, '>=', 2, 'a replica was picked again');

at($_, 'CONFIG', 'RESETSTAT') for $new, $other;
%answers = ();
for (1 .. 10) {
    my $q = query();
    $answers{ $q =~ /^\d+$/ ? 'count' : $q }++;
}
is_deeply(\%answers, { count => 10 }, 'queries answer after the failover')
    or diag explain \%answers;
is(calls_at($new, 'fcall_ro'), 0, '  none from the new primary');
cmp_ok(calls_at($other, 'fcall_ro'), '>', 0, '  from its replica');

# --- every replica killed: reads fall back to the primary, none fails -------

my @down = grep { $_ != $new } $pport, @replicas;
my %down;
for my $port (@down) {
    my ($p) = at($port, 'INFO', 'server');
    $down{$port} = $1 if ($p // '') =~ /^process_id:(\d+)/m;
}

# a read in flight on the replica as it dies: stopped, it holds the read
# (the timeout is 3 s), then SIGKILLed with the other one
my $fallbacks = metric('cast_redis_replica_fallbacks_total');
kill 'STOP', $down{$other};
pipe(my $from_child, my $to_parent) or die "pipe: $!\n";
my $child = fork // die "fork: $!\n";
if ($child == 0) {
    close $from_child;
    print {$to_parent} query();
    close $to_parent;
    POSIX::_exit(0);
}
close $to_parent;
sleep 1;
kill 'KILL', values %down;
my $answer = <$from_child> // 'none';
waitpid $child, 0;
like($answer, qr/^(?:\d+|null)$/, 'a read in flight on the replica as it '
     . 'died is answered');
cmp_ok(metric('cast_redis_replica_fallbacks_total'), '>', $fallbacks,
       '  by the primary (sent again: the metrics count it)');
ok(wait_for(10, sub { !grep { role($_) ne 'down' } @down }),
   'both replicas of the new primary are killed');

%answers = ();
for (1 .. 30) {
    my $q = query();
    $answers{ $q =~ /^(?:\d+|null)$/ ? 'answered' : $q }++;
}
is_deeply(\%answers, { answered => 30 }, 'every query answers from the '
   . 'primary, none fails') or diag explain \%answers;
like(readyz(), qr/^ready redis 127\.0\.0\.1:$new reads 127\.0\.0\.1:$new$/,
     '/readyz says reads go to the primary');
cmp_ok(calls_at($new, 'fcall_ro'), '>=', 30, '  and the primary ran them');

stop_nginx();
is(error_log_problems(), '', 'no alert, crit or emerg in the error log');

# --- nginx -t: only with cast_redis_sentinel --------------------------------

my $prefix = tempdir('cast-150-XXXXXX', TMPDIR => 1, CLEANUP => 1);
{
    local $ENV{TEST_NGINX_SERVROOT} = $prefix;
    my $root = Cast::Nginx::server_root();
    make_path("$root/conf", "$root/logs", "$root/tmp");
    open my $fh, '>', "$root/conf/t.conf" or die "$root/conf: $!";
    print {$fh} Cast::Nginx::nginx_conf(
        config => 'location = /graphql { cast_graphql; }',
        http_config => <<"HTTP");
    cast_redis 127.0.0.1:$pport;
    cast_redis_replica_reads on;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
HTTP
    close $fh;
    local $ENV{LD_PRELOAD} = $ENV{CAST_NGINX_PRELOAD}
        if $ENV{CAST_NGINX_PRELOAD};
    my $out = `$ENV{TEST_NGINX_BINARY} -t -p $root/ -c conf/t.conf 2>&1`;
    isnt($? >> 8, 0, 'nginx -t refuses cast_redis_replica_reads with '
         . 'cast_redis');
    my $why = qr/\[emerg\] .*"cast_redis_replica_reads" needs/
            . qr/ "cast_redis_sentinel"/;
    like($out, qr/$why/, '  and says why') or diag $out;
}

done_testing();
