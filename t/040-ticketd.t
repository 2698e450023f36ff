# cast-ticketd against a real redis-server of its own (the stack's Redis is
# left alone: these tests kill minters, restart Redis and forge state).
#
# What is checked: config errors exit 2 with a message, the secret is
# required, tickets rotate on the absolute schedule (one per period, within
# 100 ms, seq +1 each time, MAC verifiable with the secret), one leader among
# replicas, takeover within two periods after SIGKILL, clean SIGTERM with
# lease release, recovery when Redis restarts empty, refusal to mint a seq
# not above the stored one.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use Cast::Stack qw(free_port);
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64);
use POSIX qw(:sys_wait_h floor);
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);

my $root = "$FindBin::Bin/..";
my $bin = $ENV{CAST_TICKETD_BIN} // "$root/build/bin/cast-ticketd";
my $lua = "$root/lib/redis/cast.lua";

plan skip_all => "$bin not built (make daemons)" unless -x $bin;
plan skip_all => 'redis-server not found'
    unless system('sh', '-c', 'command -v redis-server >/dev/null') == 0;

my $dir = tempdir('cast-ticketd-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $P = 400;
my $secret = 'k' x 24 . 'ticket-secret-of-48-bytes-ok';

# our own environment only: no CAST_* leaking in from a stack.env
delete $ENV{$_} for grep { /^CAST_/ } keys %ENV;

write_file("$dir/secret", "$secret\n");
write_file("$dir/short", 'x' x 31);

my $redis_port = free_port();
my $redis_pid = start_redis();
my $url = "redis://127.0.0.1:$redis_port";

my @daemons;

END {
    kill 'KILL', $_ for grep { $_ } @daemons, $redis_pid;
}


# --- configuration errors ------------------------------------------------

{
    my ($rc, $err) = run_once({}, '--help');
    is $rc, 0, '--help exits 0';
    for my $row (qw(redis_url functions_file ticket_secret_file ticket_period_ms
                    ticket_max_uses ticket_grace_ms ticket_epoch_ms lease_ms
                    http_host http_port log_level lease_owner))
    {
        like $err, qr/^  \Q$row\E\s.*env CAST_\U$row\E$/m,
             "--help lists $row with its environment variable";
    }

    write_file("$dir/bad.conf", "ticket_period_ms = 400\nperoid_ms = 5\n");
    ($rc, $err) = run_once({ CAST_TICKET_SECRET_FILE => "$dir/secret" },
                           '-c', "$dir/bad.conf");
    is $rc, 2, 'unknown key: exit 2';
    like $err, qr/bad\.conf:2: unknown setting "peroid_ms"/,
         'unknown key: file, line and key named';

    ($rc, $err) = run_once({ CAST_TICKET_SECRET_FILE => "$dir/secret",
                             CAST_TICKET_PERIOD_MS => '2s' });
    is $rc, 2, 'bad integer: exit 2';
    like $err,
         qr/CAST_TICKET_PERIOD_MS: ticket_period_ms: "2s" is not an integer/,
         'bad integer: variable and value named';

    ($rc, $err) = run_once({ CAST_TICKET_SECRET_FILE => "$dir/secret",
                             CAST_TICKET_PERIOD_MS => 10 });
    is $rc, 2, 'period out of range: exit 2';
    like $err, qr/ticket_period_ms: 10 is not within/,
         'period out of range: said';

    ($rc, $err) = run_once({ CAST_TICKET_SECRET_FILE => "$dir/secret" },
                           'extra');
    is $rc, 2, 'positional argument: exit 2';
    like $err, qr/unexpected argument "extra"/, 'positional argument: said';

    ($rc, $err) = run_once({}, '-c', "$dir/missing.conf");
    is $rc, 2, 'missing config file: exit 2';
    like $err, qr/cannot open config file .*missing\.conf/,
         'missing config file: said';
}


# --- the secret ----------------------------------------------------------

{
    my ($rc, $err) = run_once({});
    is $rc, 2, 'no secret: exit 2';
    like $err,
         qr/no ticket secret: set ticket_secret_file or CAST_TICKET_SECRET/,
         'no secret: said';

    ($rc, $err) = run_once({ CAST_TICKET_SECRET => 'x' x 31 });
    is $rc, 2, 'short secret in the environment: exit 2';
    like $err, qr/the ticket secret has 31 bytes; at least 32/,
         'short secret: length said';

    ($rc, $err) = run_once({ CAST_TICKET_SECRET_FILE => "$dir/short" });
    is $rc, 2, 'short secret file: exit 2';
    like $err, qr/has 31 bytes/, 'short secret file: length said';

    ($rc, $err) = run_once({ CAST_TICKET_SECRET_FILE => "$dir/nope" });
    is $rc, 2, 'unreadable secret file: exit 2';
    like $err, qr/ticket_secret_file .*nope: No such file/, 'unreadable: said';

    ($rc, $err) = run_once({ CAST_TICKET_SECRET_FILE => "$dir/secret",
                             CAST_TICKET_SECRET => 'y' x 40 });
    is $rc, 2, 'two secrets: exit 2';
    like $err, qr/both ticket_secret_file and CAST_TICKET_SECRET/, 'two: said';
}


# --- rotation over 10+ periods -------------------------------------------

my ($a_pid, $a_log, $a_http) = start_daemon('a');
{
    my $t0 = time;
    my @samples;

    # sample the stored ticket through the run, away from boundaries
    while (time - $t0 < 11.5 * $P / 1000) {
        my $now = now_ms();
        my $phase = $now % $P;
        if ($phase > 100 && $phase < $P - 100) {
            push @samples, [ $now, { redis('HGETALL', '{cast}:ticket') } ];
        }
        sleep 0.07;
    }

    my @mints = mints($a_log);
    cmp_ok scalar(@mints), '>=', 11, 'at least 11 mints in 11.5 periods'
        or diag slurp($a_log);

    # the first mint is immediate (mid-period); the rest are on schedule
    shift @mints;
    my ($late, $gaps, $worst) = (0, 0, 0);
    for my $i (0 .. $#mints) {
        my ($ts, $seq) = @{ $mints[$i] };
        my $off = abs($ts - $seq * $P);
        $worst = $off if $off > $worst;
        $late++ if $off > 100;
        $gaps++ if $i > 0 && $seq != $mints[$i - 1][1] + 1;
    }
    is $late, 0, 'every scheduled mint within 100 ms of its period start'
        or diag explain \@mints;
    is $gaps, 0, 'seq rises by exactly one per period';
    note "worst offset from the schedule: $worst ms over ", scalar(@mints),
         ' mints';

    my ($bad, $forged) = (0, 0);
    for my $s (@samples) {
        my ($now, $t) = @$s;
        my $seq = floor($now / $P);
        $bad++ unless $t->{seq} == $seq
                      && $t->{expires} == ($seq + 1) * $P
                      && $t->{max} == 100 && $t->{used} == 0
                      && $t->{grace} == 0;
        $forged++ unless ticket_ok($t->{id}, $t->{seq}, $t->{issued});
    }
    cmp_ok scalar(@samples), '>=', 20, 'sampled the stored ticket';
    is $bad, 0, 'Redis always holds the ticket of the current period';
    is $forged, 0, 'every stored id decodes to its seq and its MAC verifies';

    # both read between two rotations: the current one again after
    my ($prev, $cur);
    for (1 .. 5) {
        $cur = { redis('HGETALL', '{cast}:ticket') };
        $prev = { redis('HGETALL', '{cast}:ticket:prev') };
        last if redis('HGET', '{cast}:ticket', 'seq') eq $cur->{seq};
    }
    is $prev->{seq}, $cur->{seq} - 1 , 'the previous ticket is kept';

    my $m = http_get($a_http, '/metrics');
    like $m, qr/^cast_ticketd_leader 1$/m, 'metrics: leader';
    my ($n) = $m =~ /^cast_ticketd_tickets_minted_total (\d+)$/m;
    cmp_ok $n // 0, '>=', 11, 'metrics: minted total';
    like $m, qr/^cast_ticketd_redis_errors_total 0$/m, 'metrics: no errors';
    like http_get($a_http, '/healthz'), qr/^HTTP\/1.0 200 OK.*\r\n\r\nok$/s,
         'healthz ok';
    like http_get($a_http, '/nope'), qr/^HTTP\/1.0 404.*\r\n\r\nnot found$/s,
         'unknown path 404';
    like http_get($a_http, '/healthz?probe=1'), qr/\r\n\r\nok$/,
         'healthz: the query string is ignored';
    like http_send($a_http, "HEAD /healthz HTTP/1.0\r\n\r\n"),
         qr/^HTTP\/1.0 200 OK\r\n.*Content-Length: 0\r\n.*\r\n\r\n$/s,
         'HEAD: the status, no body';
    like http_send($a_http, "POST /metrics HTTP/1.0\r\n\r\n"),
         qr{^HTTP/1.0 405 .*Content-Type: text/plain\r\n.*\r\n\r\n}s,
         'POST: 405 in plain text';
}


# --- two replicas: exactly one mints; SIGKILL; SIGTERM -------------------

my ($b_pid, $b_log, $b_http) = start_daemon('b');
{
    sleep 5 * $P / 1000;

    my @b = mints($b_log);
    is scalar(@b), 0, 'the standby does not mint while the leader lives';
    like http_get($b_http, '/metrics'), qr/^cast_ticketd_leader 0$/m,
         'standby metrics: leader 0';
    is redis('GET', '{cast}:lease'), 'owner-a', 'a holds the lease';

    my $last_a = (mints($a_log))[-1][1];
    kill 'KILL', $a_pid;
    my $killed = now_ms();
    waitpid $a_pid, 0;
    @daemons = grep { $_ != $a_pid } @daemons;

    sleep 2.5 * $P / 1000;

    @b = mints($b_log);
    ok @b, 'the standby mints after the leader is killed'
        or diag slurp($b_log);
    if (@b) {
        cmp_ok $b[0][0] - $killed, '<=', 2 * $P,
               'first new ticket within two periods of the kill';
        note 'kill to first standby mint: ', $b[0][0] - $killed, " ms (P=$P)";
        cmp_ok $b[0][1], '>', $last_a, 'its seq is above the leader\'s last';
    }
    like slurp($b_log), qr/event=leader msg="acquired the lease as owner-b/,
         'takeover logged';

    # a standby started now, then the leader stopped with SIGTERM
    my ($c_pid, $c_log) = start_daemon('c');
    sleep 2 * $P / 1000;
    is scalar(mints($c_log)), 0, 'third replica stands by';

    kill 'TERM', $b_pid;
    my $termed = now_ms();
    is wait_exit($b_pid, 2), 0, 'SIGTERM: exit 0';
    @daemons = grep { $_ != $b_pid } @daemons;
    like slurp($b_log), qr/event=release msg="released the lease"/,
         'SIGTERM: lease released';

    sleep 1.5 * $P / 1000;
    like slurp($c_log), qr/acquired the lease as owner-c/,
         'the standby takes over after a release';
    my @c = mints($c_log);
    ok @c && $c[0][0] - $termed <= $P + 100,
       'the standby mints within a period of the release'
        or diag explain \@c;

    # seq never repeats across the three minters
    my %seen;
    my @all = map { $_->[1] } mints($a_log), mints($b_log), mints($c_log);
    my @dups = grep { $seen{$_}++ } @all;
    is scalar(@dups), 0, 'no seq minted twice across replicas';

    ($a_pid, $a_log) = ($c_pid, $c_log);
}


# --- Redis restarted without data; a stored seq above the clock's ----------

{
    kill 'TERM', $redis_pid;
    waitpid $redis_pid, 0;
    sleep 0.3;
    $redis_pid = start_redis();

    sleep 3 * $P / 1000 + 0.5;
    my $log = slurp($a_log);
    like $log, qr/event=redis_down/, 'redis outage logged';
    like $log, qr/event=redis_up .*\n(?:.*\n)*.*event=mint msg="minted/,
         'minting resumes after Redis came back empty';
    is redis('FUNCTION', 'LIST', 'LIBRARYNAME', 'cast') =~ /cast_mint/ ? 1 : 0,
       1, 'functions loaded again';

    my $future = floor(now_ms() / $P) + 1000;
    redis('HSET', '{cast}:ticket', 'seq', $future);
    my $before = scalar(mints($a_log));
    sleep 3 * $P / 1000;
    is scalar(mints($a_log)), $before, 'no mint below a stored higher seq';
    is redis('HGET', '{cast}:ticket', 'seq'), $future, 'stored seq kept';
    my @warn = slurp($a_log) =~ /is not above the stored seq=$future/g;
    is scalar(@warn), 1, 'the refusal is logged once';
}

kill 'TERM', $a_pid;
is wait_exit($a_pid, 2), 0, 'last replica exits 0 on SIGTERM';
@daemons = ();

done_testing;


# --- helpers ---------------------------------------------------------------

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

sub start_redis {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--port', $redis_port, '--bind', '127.0.0.1',
             '--dir', $dir, '--save', '', '--appendonly', 'no';
        exit 127;
    }
    for (1 .. 50) {
        return $pid if IO::Socket::INET->new("127.0.0.1:$redis_port");
        sleep 0.1;
    }
    die 'redis-server did not start: ' . slurp("$dir/redis.log");
}

sub redis {
    my @args = map { "'$_'" } @_;
    my $out = `redis-cli -p $redis_port --raw @args 2>&1`;
    chomp $out;
    return wantarray ? split /\n/, $out : $out;
}

sub now_ms { return int(time * 1000) }

sub daemon_env {
    my ($extra) = @_;
    return { CAST_FUNCTIONS_FILE => $lua, %$extra };
}

sub run_once {
    my ($env, @args) = @_;
    my $out = "$dir/once.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $e = daemon_env($env);
        $ENV{$_} = $e->{$_} for keys %$e;
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec $bin, @args;
        exit 127;
    }
    my $rc = wait_exit($pid, 5);
    return ($rc, slurp($out));
}

sub start_daemon {
    my ($name) = @_;
    my $log = "$dir/$name.log";
    my $port = free_port();
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $e = daemon_env({ CAST_REDIS_URL => $url,
                             CAST_TICKET_SECRET_FILE => "$dir/secret",
                             CAST_TICKET_PERIOD_MS => $P,
                             CAST_HTTP_PORT => $port,
                             CAST_LEASE_OWNER => "owner-$name" });
        $ENV{$_} = $e->{$_} for keys %$e;
        open STDERR, '>', $log;
        open STDOUT, '>&', \*STDERR;
        exec $bin;
        exit 127;
    }
    push @daemons, $pid;
    sleep 0.2;
    return ($pid, $log, $port);
}

sub wait_exit {
    my ($pid, $secs) = @_;
    for (1 .. $secs * 20) {
        return $? >> 8 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return -1;
}

# [ts_ms, seq] of every "minted" line
sub mints {
    my ($log) = @_;
    my @m;
    for (split /\n/, slurp($log)) {
        next unless /^ts=(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z .*
                     event=mint\ msg="minted\ seq=(\d+)/x;
        push @m, [ timegm($6, $5, $4, $3, $2 - 1, $1) * 1000 + $7, $8 ];
    }
    return @m;
}

# base64url of seq|issued|nonce|HMAC-SHA256(secret, first 32 bytes)
sub ticket_ok {
    my ($id, $seq, $issued) = @_;
    return 0 unless defined $id && $id =~ /^[A-Za-z0-9_-]{86}$/;
    (my $b64 = $id) =~ tr{-_}{+/};
    my $raw = decode_base64("$b64==");
    return 0 unless length($raw) == 64;
    my ($s, $i) = unpack 'Q> Q>', $raw;
    return $s == $seq && $i == $issued
           && hmac_sha256(substr($raw, 0, 32), $secret)
              eq substr($raw, 32, 32);
}

sub http_get {
    my ($port, $path) = @_;
    return http_send($port, "GET $path HTTP/1.0\r\n\r\n");
}


# the raw response to a raw request
sub http_send {
    my ($port, $request) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or return '';
    print $s $request;
    local $/;
    return scalar <$s>;
}
