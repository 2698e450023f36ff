# A server on Redis's address that sends a reply no command asked for (a
# misbehaving Redis or proxy) costs nginx the connection, never the
# worker: hiredis asserts that only a subscribed context gets such a
# reply, which stopped the worker (signal 6) at every connect.  nginx
# now refuses the reply as it is read, disconnects and reconnects; its
# requests meanwhile get UNAVAILABLE.  The server here is a test double
# for Redis misbehaving: a few lines of RESP on a unix socket that answer
# FUNCTION LOAD with +OK and one more reply, and anything else with an
# error.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use File::Temp qw(tempdir);
use IO::Socket::UNIX;
use JSON::PP;
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(sleep time);

my $dir = tempdir('cast-fake-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $sock = "$dir/redis.sock";

# one RESP command off the front of $$buf, or undef while incomplete
sub command {
    my ($buf) = @_;
    return undef unless $$buf =~ /\A\*(\d+)\r\n/;
    my ($n, $at, @args) = ($1, length $&);
    for (1 .. $n) {
        return undef unless substr($$buf, $at) =~ /\A\$(\d+)\r\n/;
        my ($len, $head) = ($1, length $&);
        return undef if length($$buf) < $at + $head + $len + 2;
        push @args, substr($$buf, $at + $head, $len);
        $at += $head + $len + 2;
    }
    substr($$buf, 0, $at) = '';
    return \@args;
}

sub serve {
    my ($c) = @_;
    my $buf = '';
    while (sysread($c, my $chunk, 65536)) {
        $buf .= $chunk;
        while (my $cmd = command(\$buf)) {
            syswrite($c, uc($cmd->[0]) eq 'FUNCTION'
                         ? "+OK\r\n+UNASKED\r\n" : "-ERR fake\r\n");
        }
    }
    exit 0;
}

my $server = fork() // die "fork: $!";
if ($server == 0) {
    my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $sock,
                                  Listen => 16) or die "listen: $!";
    chmod 0777, $sock;
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $l->accept) {
        my $pid = fork() // die "fork: $!";
        serve($c) if $pid == 0;
        close $c;
    }
    exit 0;
}

END { kill 'KILL', $server if $server }

sleep 0.05 until -S $sock;

start_nginx('location = /graphql { cast_graphql; }', http_config => <<"EOF");
    cast_redis unix:$sock;
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
EOF

my $url = 'http://127.0.0.1:' . server_port() . '/graphql';

# a few connects and unasked replies
my $t0 = time;
sleep 0.1 until (() = error_log_text() =~ /redis connected/g) >= 3
                || time - $t0 > 10;
cmp_ok(scalar(() = error_log_text() =~ /redis connected/g), '>=', 3,
       'nginx connected to the server again and again');
like(error_log_text(), qr/redis sent a reply no command asked for/,
     'and said why it left');

for (1 .. 5) {
    my ($status, $json) = graphql('{totalVotes}', undef, url => $url);
    is($status, 200, "request $_: 200");
    is($json && $json->{errors} && $json->{errors}[0]{extensions}{code},
       'UNAVAILABLE', "request $_: UNAVAILABLE");
}

unlike(error_log_text(), qr/exited on signal/, 'no worker stopped');
check_error_log('unasked replies');

stop_nginx();
done_testing();
