# The front over HTTP/2 (h2c, prior knowledge; conf/cast.conf leaves it
# off, an operator may turn it on), by a hostile client of the file's
# own making (a few frames written by hand, no library): votes on many
# streams of one connection, some reset (RST_STREAM) while their votes
# wait in a batch that Redis holds, the connection then dropped with
# votes still waiting; subscriptions whose client never opens its flow
# control window again, some reset, the rest left to a reload.  Each
# keyed vote applies once or not at all (its key sent again says which),
# the old worker exits after the reload, the error log and the sanitized
# pass find nothing.  One worker, a private Redis.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx qw(nginx_metrics nginx_pid);
use Cast::Burst qw(vote_body);
use Cast::PrivateRedis qw(cmd cli ticket answering leaderboard
                          private_nginx);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

# a server that closed its end is what these clients provoke
$SIG{PIPE} = 'IGNORE';

my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
plan skip_all => "$bin has no HTTP/2 module"
    unless `$bin -V 2>&1` =~ /--with-http_v2_module/;

my $h2 = free_port();

private_nginx(<<'CONF', <<"HTTP");
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF
    server {
        listen 127.0.0.1:$h2 http2;
        location = /graphql { cast_graphql; send_timeout 30s; }
    }
HTTP

my $port = server_port();
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "h2-$run";

cli('SET', '{cast}:ready', 1);
is(answering("http://127.0.0.1:$port/graphql", $name, 5), 5,
   'the worker answers');
my $t = ticket(9000 + int rand 1000, max => 1000000);

# --- frames ------------------------------------------------------------------

sub frame {
    my ($type, $flags, $id, $payload) = @_;
    my $len = length $payload;
    return pack('CnCCN', $len >> 16, $len & 0xffff, $type, $flags, $id)
           . $payload;
}

# an HPACK integer with an n-bit prefix under the given first bits
sub hint {
    my ($v, $n, $first) = @_;
    my $max = (1 << $n) - 1;
    return chr($first | $v) if $v < $max;
    my $out = chr($first | $max);
    $v -= $max;
    while ($v >= 128) {
        $out .= chr(($v & 0x7f) | 0x80);
        $v >>= 7;
    }
    return $out . chr $v;
}

# literal header fields without indexing, new names, no Huffman
sub headers {
    my (@h) = @_;
    my $out = '';
    while (my ($k, $v) = splice @h, 0, 2) {
        $out .= "\0" . hint(length $k, 7, 0) . $k . hint(length $v, 7, 0)
                . $v;
    }
    return $out;
}

sub h2_connect {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$h2")
        or die "connect: $!\n";
    print {$s} "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . frame(4, 0, 0, '');
    return { s => $s, in => '', streams => {} };
}

sub h2_post {
    my ($c, $id, $body, @more) = @_;
    my $h = headers(':method' => 'POST', ':scheme' => 'http',
                    ':path' => '/graphql', ':authority' => 'x',
                    'content-type' => 'application/json',
                    'content-length' => length $body, @more);
    syswrite $c->{s}, frame(1, 0x4, $id, $h) . frame(0, 0x1, $id, $body);
}

sub h2_get {
    my ($c, $id, $path, @more) = @_;
    syswrite $c->{s}, frame(1, 0x5, $id,
                            headers(':method' => 'GET', ':scheme' => 'http',
                                    ':path' => $path, ':authority' => 'x',
                                    @more));
}

sub h2_reset {
    my ($c, $id) = @_;
    syswrite $c->{s}, frame(3, 0, $id, pack 'N', 8);
}

# reads for up to $secs: DATA per stream, ends and resets noted, SETTINGS
# acknowledged; 0 once the server closed
sub h2_read {
    my ($c, $secs) = @_;
    my $end = time + $secs;
    while (time < $end) {
        last unless IO::Select->new($c->{s})->can_read($end - time);
        my $n = sysread $c->{s}, $c->{in}, 65536, length $c->{in};
        return 0 unless $n;
        while (length $c->{in} >= 9) {
            my ($l1, $l2, $type, $flags, $id) = unpack 'CnCCN', $c->{in};
            my $len = ($l1 << 16) | $l2;
            last if length $c->{in} < 9 + $len;
            my $p = substr $c->{in}, 9, $len;
            substr($c->{in}, 0, 9 + $len) = '';
            $id &= 0x7fffffff;
            my $st = $c->{streams}{$id} //= { data => '' };
            if ($type == 0) {
                $st->{data} .= $p;
                $st->{end} = 1 if $flags & 1;
            } elsif ($type == 1) {
                $st->{end} = 1 if $flags & 1;
            } elsif ($type == 3) {
                $st->{reset} = 1;
            } elsif ($type == 4 && !($flags & 1)) {
                syswrite $c->{s}, frame(4, 1, 0, '');
            } elsif ($type == 7) {
                $c->{goaway} = 1;
            }
        }
    }
    return 1;
}

# --- votes reset while Redis holds their batch -------------------------------

my (%key, @ids);
my $c = h2_connect();
cmd('CLIENT', 'PAUSE', 700, 'WRITE');
for my $i (0 .. 29) {
    my $id = 1 + 2 * $i;
    my $k = "h2k-$run-$i";
    $key{$k} = vote_body($t, [$name], [1 + $i % 3], key => $k);
    h2_post($c, $id, $key{$k});
    push @ids, $id;
}
sleep 0.2;
h2_reset($c, $_) for grep { $_ % 4 == 1 } @ids;
h2_read($c, 2);
my $answered = grep { $c->{streams}{$_}{end} } @ids;
close $c->{s};
cmp_ok($answered, '>=', 15, "$answered of 30 votes answered, the rest "
       . 'reset while Redis held them');

# a second connection dropped with its votes waiting
my $d = h2_connect();
cmd('CLIENT', 'PAUSE', 500, 'WRITE');
for my $i (30 .. 49) {
    my $k = "h2k-$run-$i";
    $key{$k} = vote_body($t, [$name], [1 + $i % 3], key => $k);
    h2_post($d, 1 + 2 * ($i - 30), $key{$k});
}
sleep 0.1;
close $d->{s};
sleep 0.8;

# each key again, over HTTP/1.1: applied once, now or before
my ($want, $bad) = (0, 0);
my $j = JSON::PP->new;
for my $k (sort keys %key) {
    my $r = HTTP::Tiny->new->post("http://127.0.0.1:$port/graphql", {
        headers => { 'Content-Type' => 'application/json' },
        content => $key{$k} });
    my $v = eval { $j->decode($r->{content})->{data}{vote} };
    if ($v && $v->{success}) {
        $want += $j->decode($key{$k})->{variables}{c}[0];
    } else {
        $bad++;
    }
}
is($bad, 0, 'every key, sent again, answers success');
is(cmd('HGET', '{cast}:count', $name), $want,
   "Redis holds each keyed vote once ($want)");

# --- subscriptions that never open their window again ------------------------

my @long = map { sprintf "%s-%02d-%s", $name, $_, 'x' x 40 } 1 .. 100;
leaderboard(@long);
my $s = h2_connect();
my @subs = map { 1 + 2 * $_ } 0 .. 39;
h2_get($s, $_, "/graphql?query=subscription%7Btop(limit:100)%7Busername"
               . "%20votes%7D%7D&n=$_", accept => 'text/event-stream')
    for @subs;

# the board moves: events of about 8 kB a tick, past the 64 kB window
my $end = time + 3;
my $v = 0;
while (time < $end) {
    cmd('ZADD', '{cast}:top', -2000 - $v++, $long[rand @long]);
    h2_read($s, 0.05);
}
my $got = grep { length($s->{streams}{$_}{data} // '') } @subs;
is($got, 40, 'all 40 streams had events');
h2_reset($s, $_) for @subs[0 .. 9];
h2_read($s, 0.5);

my $master = nginx_pid();
my ($old) = split ' ', `cat /proc/$master/task/$master/children`;
ok(kill('HUP', $master), 'reload with 30 streams held by their window');
my $gone = 0;
for (1 .. 150) {
    sleep 0.1 unless h2_read($s, 0.1);
    $gone = !-e "/proc/$old" || `cat /proc/$old/stat` =~ /^\d+ \S+ Z/;
    last if $gone;
}
ok($gone, 'the old worker exits') or diag
    join '', grep { /#$old:/ && !/ closed keepalive/ }
    split /^/, Cast::Nginx::error_log_text();
close $s->{s};

stop_nginx();
check_error_log('HTTP/2');

done_testing();
