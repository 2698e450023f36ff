# Pipelined HTTP/1.1 against the front: 1,500 keyed votes written at
# once on one connection (nginx's keepalive_requests, 1000, ends it: the
# answers come in order, one per request up to the close, and each key
# sent again says its vote applied once or not at all, the counts in
# Redis exactly those), and 40 connections that each pipeline 300 large
# answers (top(limit: 100) of 64-byte names, about 9 kB each) and never
# read: the worker holds at most one answer each besides the sockets'
# buffers, so its resident size grows by a few MB, not by the 100 MB
# written to it.  One worker, a private Redis.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx qw(worker_status_kb);
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

private_nginx(<<'CONF');
location = /graphql { cast_graphql; }
CONF

my $port = server_port();
my $url = "http://127.0.0.1:$port/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my @names = map { "pl-$run-$_" } 1 .. 5;

cli('SET', '{cast}:ready', 1);
is(answering($url, $names[0], 5), 5, 'the worker answers');
my $t = ticket(11000 + int rand 1000, max => 1000000);

sub post {
    my ($body) = @_;
    return "POST /graphql HTTP/1.1\r\nHost: x\r\n"
         . "Content-Type: application/json\r\n"
         . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# the bodies of the answers read until the server closes (or 20 s)
sub answers {
    my ($s) = @_;
    my ($in, @out) = ('');
    my $end = time + 20;
    while (time < $end) {
        while ($in =~ /\AHTTP\/1\.1 \d+[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n/) {
            my ($hlen, $h) = ($+[0], $1);
            my ($len) = $h =~ /^Content-Length: (\d+)/mi;
            last if length($in) < $hlen + $len;
            push @out, substr $in, $hlen, $len;
            substr($in, 0, $hlen + $len) = '';
        }
        last unless IO::Select->new($s)->can_read($end - time);
        last unless sysread $s, $in, 65536, length $in;
    }
    return @out;
}

# --- 1,500 votes pipelined on one connection --------------------------------

my (@bodies, %count);
for my $i (0 .. 1499) {
    push @bodies, vote_body($t, [$names[$i % 5]], [1 + $i % 3],
                            key => "pl-$run-$i");
}
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
    or die "connect: $!\n";
my $all = join '', map { post($_) } @bodies;
my $w = 0;
while ($w < length $all) {
    my $n = syswrite $s, $all, 65536, $w;
    last unless $n;
    $w += $n;
}
my @got = answers($s);
close $s;
is(scalar @got, 1000, '1000 answers, then the connection ends');
my $j = JSON::PP->new;
my $inorder = grep {
    my $v = eval { $j->decode($got[$_])->{data}{vote} };
    $v && $v->{success} && $v->{usernames}[0] eq $names[$_ % 5]
} 0 .. $#got;
is($inorder, scalar @got, 'each one its own vote\'s, in order');

my ($again, $want) = (0, 0);
for my $i (0 .. $#bodies) {
    my $r = HTTP::Tiny->new->post($url, {
        headers => { 'Content-Type' => 'application/json' },
        content => $bodies[$i] });
    my $v = eval { $j->decode($r->{content})->{data}{vote} };
    $again++ if $v && $v->{success};
    $count{ $names[$i % 5] } += 1 + $i % 3;
}
is($again, 1500, 'every key sent again: success');
is_deeply({ map { $_ => cmd('HGET', '{cast}:count', $_) } @names },
          \%count, 'Redis holds each vote once');

# --- pipelined large answers nobody reads ------------------------------------

leaderboard(map { sprintf "%s-%03d-%s", $run, $_, 'y' x 48 } 1 .. 100);
my $big = post('{"query":"{top(limit:100){username votes}}"}');
my $rss0 = worker_status_kb('VmRSS');
my @socks;
for (1 .. 40) {
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Blocking => 0) or die "connect: $!\n";
    push @socks, [$c, $big x 300];
}
my $end = time + 5;
while (time < $end) {
    for (@socks) {
        next unless length $_->[1];
        my $n = syswrite $_->[0], $_->[1];
        substr($_->[1], 0, $n) = '' if $n;
    }
    sleep 0.05;
}
my $rss1 = worker_status_kb('VmRSS');
SKIP: {
    skip 'a sanitized worker', 1 if $ENV{TEST_NGINX_LD_PRELOAD};
    cmp_ok($rss1 - $rss0, '<', 16 * 1024, '40 connections that do not '
           . 'read their pipelined answers: the worker grew by '
           . ($rss1 - $rss0) . ' kB');
}
close $_->[0] for @socks;
is(answering($url, $names[0], 5), 5, 'and answers the next client');

stop_nginx();
check_error_log('pipelined');

done_testing();
