# The herd's answers given again (ngx_http_cast_replay.c): once a worker
# refuses a spent ticket's vote by itself, a request with the very same
# bytes (body, Content-Type, Accept, Content-Encoding) gets the same
# answer again without the engine, while the ticket is still refused as
# spent.  Checked here: the answer given again is byte for byte the
# engine's, with its status and Content-Type, and counted the same; a
# byte more, another Accept, another Content-Type, an idempotencyKey, a
# second field, a client share or a ticket past its period each go
# through the engine (or Redis) as before; the memory stays bounded under
# many distinct bodies.  One worker, so that its counters are the
# worker's; a private Redis, tickets written by the test.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Nginx qw(nginx_metrics worker_status_kb);
use Cast::Burst qw(vote_body);
use Cast::PrivateRedis qw(cmd cli fcalls redis_ms ticket answering
                          private_nginx);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

$Cast::Nginx::Workers = 1;
private_nginx(<<'CONF');
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF

my $port = server_port();
my $url = "http://127.0.0.1:$port/graphql";
my $run = sprintf '%d%04d', time, $$ % 10000;
my $name = "replay-$run";

# one or more requests on one connection, written at once; the raw
# answers, split (each has a Content-Length)
sub exchange {
    my (@reqs) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 10) or die "connect: $!\n";
    print {$s} join '', @reqs;
    my ($buf, @out) = ('');
    while (@out < @reqs) {
        if ($buf =~ /\A(.*?\r\n\r\n)/s) {
            my $head = $1;
            my ($len) = $head =~ /^Content-Length: (\d+)/mi;
            if (defined $len && length($buf) >= length($head) + $len) {
                push @out, { head => $head,
                             body => substr($buf, length $head, $len) };
                substr($buf, 0, length($head) + $len) = '';
                next;
            }
        }
        last unless IO::Select->new($s)->can_read(10);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    return @out;
}

sub post {
    my ($body, %h) = @_;
    my $head = "POST /graphql HTTP/1.1\r\nHost: x\r\n";
    $h{'Content-Type'} //= 'application/json';
    for (sort keys %h) {
        $head .= "$_: $h{$_}\r\n" if defined $h{$_};
    }
    return "${head}Content-Length: " . length($body) . "\r\n\r\n$body";
}

sub status { return $_[0]{head} =~ m{\AHTTP/1\.1 (\d+)} ? $1 : 0 }
sub ctype { return $_[0]{head} =~ /^Content-Type: ([^\r]*)/mi ? $1 : '' }
sub message {
    my $json = eval { decode_json($_[0]{body}) }
        or return "not JSON: " . ($_[0]{head} // "") . ($_[0]{body} // "");
    return $json->{data}{vote}{message} // encode_json($json);
}

sub metric {
    my ($re) = @_;
    return nginx_metrics()->{$re} // -1;
}
sub replays { return metric('cast_replayed_answers_total') }
sub exhausted { return metric('cast_votes_total{outcome="exhausted"}') }

cli('SET', '{cast}:ready', 1);
is(answering($url, $name, 5), 5, 'the worker answers from the private Redis');
is(replays(), 0, 'nothing given again yet');

# --- a spent ticket ----------------------------------------------------------

my $seq = 2000 + int rand 1000;
my $t1 = ticket($seq, max => 1);
my $body = vote_body($t1, [$name]);

my ($a) = exchange(post($body));
like($a->{body}, qr/"success":true/, 'one use: accepted') or diag $a->{body};

# Redis's refusal teaches the worker that the ticket is spent; its
# answer, the engine's, is kept
cli('CONFIG', 'RESETSTAT');
my ($engine) = exchange(post($body));
is(message($engine), 'Ticket usage limit exceeded', 'then refused by Redis');
is(fcalls(), 1, 'which Redis saw');
is(replays(), 0, 'through the engine');

my $e0 = exhausted();
my @again = exchange(map { post($body) } 1 .. 5);
is(scalar @again, 5, 'five more with the same bytes on one connection');
is(scalar(grep { $_->{body} eq $engine->{body} } @again), 5,
   'each answer byte for byte the engine\'s');
is(scalar(grep { status($_) == status($engine)
                 && ctype($_) eq ctype($engine) } @again), 5,
   'with its status (' . status($engine) . ') and Content-Type ('
   . ctype($engine) . ')');
is(replays(), 5, 'all five given again');
is(exhausted() - $e0, 5, 'each counted as an "exhausted" vote');
is(fcalls(), 1, 'Redis saw none of them');

# --- any other byte goes through the engine -----------------------------------

my $r0 = replays();
my ($sp) = exchange(post("$body "));
is(message($sp), 'Ticket usage limit exceeded', 'a space more: refused');
is(replays(), $r0, 'by the engine');

my $gql = 'application/graphql-response+json';
my ($acc) = exchange(post($body, Accept => $gql));
is(ctype($acc), $gql, "Accept: $gql is answered as such")
    or diag $acc->{head};
my ($acc2) = exchange(post($body, Accept => $gql));
is(ctype($acc2), $gql, 'and again, given again with its own type');
is($acc2->{body}, $acc->{body}, 'the same body');
is(replays(), $r0 + 1, 'only the second was given again');
my ($plain) = exchange(post($body));
is(ctype($plain), ctype($engine), 'without Accept: the first type again');

my ($text) = exchange(post($body, 'Content-Type' => 'text/plain'));
is(status($text), 415, 'Content-Type text/plain: 415, not the kept answer')
    or diag $text->{head};
is(replays(), $r0 + 2, 'and not given again');

my ($get) = exchange("GET /graphql?query=" . 'mutation%7B__typename%7D'
                     . " HTTP/1.1\r\nHost: x\r\n\r\n");
isnt(status($get), 200, 'a mutation over GET: refused by the engine');

$r0 = replays();
cli('CONFIG', 'RESETSTAT');
my $kbody = vote_body($t1, [$name], undef, key => "k-$run");
my @k = exchange(post($kbody), post($kbody));
is(scalar(grep { message($_) eq 'Ticket usage limit exceeded' } @k), 2,
   'with an idempotencyKey: refused');
is(fcalls(), 2, 'by Redis each time');
is(replays(), $r0, 'never given again');

my $two = JSON::PP->new->canonical->encode({
    query => 'mutation($u:[String!]!,$t:String!){a:vote(usernames:$u,'
           . 'ticket:$t){message} b:vote(usernames:$u,ticket:$t){message}}',
    variables => { u => [$name], t => $t1 } });
my @two = exchange(post($two), post($two));
like($two[1]{body}, qr/"a":\{"message":"Ticket usage limit exceeded"\}/,
     'two votes in one request: refused');
is(replays(), $r0, 'not given again (one field only)');

# --- a ticket past its period ------------------------------------------------

my $t2 = ticket($seq + 1, max => 1, ttl => 1500);
my $expires = cmd('HGET', '{cast}:ticket', 'expires');
my $b2 = vote_body($t2, [$name]);
exchange(post($b2));
exchange(post($b2));
$r0 = replays();
my @spent = exchange(map { post($b2) } 1 .. 3);
is(scalar(grep { message($_) eq 'Ticket usage limit exceeded' } @spent), 3,
   'a second ticket spent');
is(replays(), $r0 + 3, 'its refusals given again');
sleep 0.1 while redis_ms() < $expires + 100;
$r0 = replays();
my @late = exchange(map { post($b2) } 1 .. 3);
is(scalar(grep { message($_) eq 'Ticket expired' } @late), 3,
   'past its period: "Ticket expired", the same bytes')
    or diag explain [map { $_->{body} } @late];
is(replays(), $r0, 'none of them given again');

# --- memory: many distinct bodies --------------------------------------------

my $t3 = ticket($seq + 2, max => 1);
exchange(post(vote_body($t3, [$name])));
exchange(post(vote_body($t3, [$name])));
my $rss0;
for my $round (1 .. 8) {
    for my $i (0 .. 19) {
        exchange(map { post(vote_body($t3, ["m$run-$round-$i-$_"])) }
                 1 .. 100);
    }
    $rss0 //= worker_status_kb('VmRSS');
}
SKIP: {
    # ASan keeps freed memory in quarantine: the resident size says nothing
    skip 'a sanitized worker', 2
        if ($ENV{TEST_NGINX_LD_PRELOAD} // '') =~ /asan/;
    cmp_ok($rss0, '>', 0, "the worker's memory is read ($rss0 kB)");
    my $grew = worker_status_kb('VmRSS') - $rss0;
    cmp_ok($grew, '<', 6 * 1024,
           "16000 distinct bodies: the worker grew by $grew kB after the "
           . "first 2000 (at most 4 MB kept)");
}

stop_nginx();
check_error_log('answers given again');

# --- with a client share, nothing is given again -----------------------------

private_nginx(<<'CONF', "    cast_client_uses 5;\n");
location = /graphql { cast_graphql; }
location = /metrics { cast_metrics; }
CONF
is(answering($url, $name, 5), 5, 'an nginx with cast_client_uses answers');
my $t4 = ticket($seq + 3, max => 1);
my $b4 = vote_body($t4, [$name]);
exchange(post($b4));
my @share = exchange(map { post($b4) } 1 .. 4);
is(scalar(grep { message($_) eq 'Ticket usage limit exceeded' } @share), 4,
   'its spent ticket refused');
is(replays(), 0, 'never given again');
stop_nginx();
check_error_log('a client share');

done_testing();
