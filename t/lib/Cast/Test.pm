package Cast::Test;

# A small Test::Nginx-style harness for CAST.
#
# Each block of a .t file's __DATA__ runs against a fresh nginx (stopped and
# started per block) with a generated t/servroot/conf/nginx.conf:
#
#   === TEST 1: what it shows
#   --- main_config            (optional, main context)
#   --- http_config            (optional, http {} before the server)
#   --- config                 (inside server {})
#   --- request                METHOD URI, then the body on the next lines
#   --- more_headers           Name: value lines
#   --- error_code             200 unless given
#   --- response_body          exact (use "chomp" for no final newline)
#   --- response_body_like     regex
#   --- response_headers       Name: value lines, exact ("!Name": absent)
#   --- response_headers_like  Name: regex lines
#   --- error_log              lines (substrings) error.log must contain
#   --- no_error_log           lines error.log must not contain
#   --- timeout                seconds for the request (default 5)
#   --- no_cast_module         do not load build/ngx_http_cast_module.so
#                              (no_cast_module() or TEST_NGINX_NO_CAST_MODULE=1:
#                              for every block of the file)
#
# "--- request eval" may give an array of requests: each is sent on its own
# connection and error_code / response_body / response_body_like may then
# be arrays too (one per request).  "--- pipelined_requests eval" sends an
# array of requests on one connection and expects response_body and
# error_code arrays.
#
# Every block also fails on [alert], [crit] or [emerg] in error.log and on
# a worker that "exited on signal".
#
# $TEST_NGINX_NAME in the configs is replaced by the environment variable of
# that name; the harness sets TEST_NGINX_SERVER_PORT, TEST_NGINX_REDIS_HOST,
# TEST_NGINX_REDIS_PORT, TEST_NGINX_SERVROOT and TEST_NGINX_REPO when unset.
#
# run_tests() plans the tests when nothing planned yet; a file that adds
# its own tests plans block_tests() + its own count.

use Test::Base -base;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use IO::Select;
use IO::Socket::INET;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h setpgid);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    run_tests block_tests no_cast_module
    cast_stack_env cast_stack graphql redis_cmd psql_query
    start_nginx stop_nginx nginx_pid error_log_text error_log_problems
    check_error_log
    http_request server_port repo_root
);

my $REPO = abs_path(dirname(__FILE__) . '/../../..');
my $NGINX_PID;
my $REDIS_SOCK;

cast_defaults();


sub repo_root { return $REPO }


sub servroot { return $ENV{TEST_NGINX_SERVROOT} }


sub server_port { return $ENV{TEST_NGINX_SERVER_PORT} }


# --- environment -------------------------------------------------------------

# The test stack's stack.env: $CAST_VAR/stack.env, else t/var/stack.env.
sub cast_stack_env {
    my $file = ($ENV{CAST_VAR} // "$REPO/t/var") . '/stack.env';
    my %env;

    open my $fh, '<', $file or return ();
    while (my $line = <$fh>) {
        next unless $line =~ /^export ([A-Z_0-9]+)=(.*)$/;
        my ($k, $v) = ($1, $2);
        $v =~ s/\\(.)/$1/g;
        $env{$k} = $v;
    }
    close $fh;
    return %env;
}


sub cast_defaults {
    my %stack = cast_stack_env();

    for my $k (keys %stack) {
        $ENV{$k} //= $stack{$k};
    }
    $ENV{TEST_NGINX_REPO} //= $REPO;
    $ENV{TEST_NGINX_SERVROOT} //= "$REPO/t/servroot";
    $ENV{TEST_NGINX_SERVER_PORT} //= 1984;
    $ENV{TEST_NGINX_BINARY} //= -x '/usr/sbin/nginx' ? '/usr/sbin/nginx'
                                                      : 'nginx';
    $ENV{TEST_NGINX_WORKERS} //= 1;
    $ENV{TEST_NGINX_LOG_LEVEL} //= 'debug';
    my $url = $ENV{CAST_REDIS_URL} // 'redis://127.0.0.1:6379/0';
    if ($url =~ m{^redis://(?:[^@/]*@)?([^:/]+)(?::(\d+))?}) {
        $ENV{TEST_NGINX_REDIS_HOST} //= $1;
        $ENV{TEST_NGINX_REDIS_PORT} //= $2 // 6379;
    }
}


sub cast_stack {
    my @args = @_;
    my $out = '';

    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec "$REPO/scripts/stack.sh", @args or die "exec stack.sh: $!";
    }
    $out .= $_ while <$fh>;
    close $fh;
    my $ok = $? == 0;
    if ($ok) {
        Test::More::note($out);
    } else {
        Test::More::diag("stack.sh @args failed:\n$out");
    }
    return $ok;
}


# --- clients -----------------------------------------------------------------

# graphql($query, $vars, url => ..., headers => {...}, raw => body)
# returns (status, decoded JSON or undef, response).
sub graphql {
    my ($query, $vars, %opt) = @_;
    my $url = $opt{url} // $ENV{CAST_GRAPHQL_URL}
        // die "graphql: no url and no CAST_GRAPHQL_URL\n";
    my %req = (query => $query);

    $req{variables} = $vars if defined $vars;
    my $body = $opt{raw} // JSON::PP->new->canonical->encode(\%req);
    my $res = HTTP::Tiny->new(timeout => $opt{timeout} // 10)->request(
        $opt{method} // 'POST', $url, {
            headers => {
                'content-type' => 'application/json',
                accept => 'application/graphql-response+json, application/json',
                %{ $opt{headers} // {} },
            },
            content => $body,
        });
    my $json = eval { JSON::PP->new->decode($res->{content}) };
    return ($res->{status}, $json, $res);
}


sub redis_connect {
    my $url = $ENV{CAST_REDIS_URL} // die "redis_cmd: no CAST_REDIS_URL\n";

    return $REDIS_SOCK if $REDIS_SOCK && $REDIS_SOCK->connected;
    my ($host, $port, $db) = $url =~ m{^redis://(?:[^@/]*@)?([^:/]+)(?::(\d+))?(?:/(\d+))?}
        or die "redis_cmd: bad url $url\n";
    $REDIS_SOCK = IO::Socket::INET->new(PeerAddr => $host,
        PeerPort => $port // 6379, Timeout => 5)
        or die "redis_cmd: cannot connect to $url: $!\n";
    if ($db) {
        redis_send('SELECT', $db);
    }
    return $REDIS_SOCK;
}


sub redis_send {
    my @args = @_;
    my $cmd = '*' . scalar(@args) . "\r\n";

    $cmd .= '$' . length($_) . "\r\n$_\r\n" for map { "$_" } @args;
    print {$REDIS_SOCK} $cmd or die "redis_cmd: write: $!\n";
    return redis_reply();
}


sub redis_line {
    my $line = readline($REDIS_SOCK);

    die "redis_cmd: connection closed\n" unless defined $line;
    $line =~ s/\r\n$//;
    return $line;
}


sub redis_reply {
    my $line = redis_line();
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));

    return $rest if $type eq '+' || $type eq ':';
    die "$rest\n" if $type eq '-';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length($buf) < $rest + 2) {
            my $n = read($REDIS_SOCK, $buf, $rest + 2 - length($buf),
                         length($buf));
            die "redis_cmd: connection closed\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { redis_reply() } 1 .. $rest];
    }
    die "redis_cmd: unexpected reply '$line'\n";
}


# redis_cmd('HGET', '{cast}:count', 'alice'): the reply (a string, undef,
# or an array ref); an error reply dies with its text.
sub redis_cmd {
    my @args = @_;

    redis_connect();
    my $reply = eval { redis_send(@args) };
    if ($@) {
        undef $REDIS_SOCK if $@ =~ /^redis_cmd:/;
        die $@;
    }
    return $reply;
}


# psql_query($sql): the rows as array refs (list context) or the first
# column of the first row (scalar context); dies on an SQL error.
sub psql_query {
    my ($sql) = @_;
    my $dsn = $ENV{CAST_PG_DSN} // die "psql_query: no CAST_PG_DSN\n";
    my $psql = -x '/usr/lib/postgresql/15/bin/psql'
        ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $psql, '-X', '-q', '-A', '-t', '-F', "\t",
            '-v', 'ON_ERROR_STOP=1', '-d', $dsn, '-c', $sql
            or die "exec psql: $!";
    }
    my @lines = <$fh>;
    close $fh;
    die "psql_query: $sql: @lines" if $?;
    chomp @lines;
    my @rows = map { [split /\t/, $_, -1] } @lines;
    return wantarray ? @rows : (@rows ? $rows[0][0] : undef);
}


# --- nginx -------------------------------------------------------------------

sub subst_env {
    my ($text, $what) = @_;

    return '' unless defined $text;
    $text =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
        $ENV{$1} // die "$what uses \$$1, which is not set\n"
    }ge;
    return $text;
}


sub module_path {
    return $ENV{CAST_NGINX_MODULE} || "$REPO/build/ngx_http_cast_module.so";
}


# Plain nginx for the whole file (and the perl processes it starts).
sub no_cast_module { $ENV{TEST_NGINX_NO_CAST_MODULE} = 1 }


sub nginx_conf {
    my (%o) = @_;
    my $root = servroot();
    my $port = server_port();
    my $load = '';

    if (!$o{no_cast_module} && !$ENV{TEST_NGINX_NO_CAST_MODULE}
        && -f module_path())
    {
        $load = 'load_module ' . module_path() . ";\n";
    }
    my $main = subst_env($o{main_config}, 'main_config');
    # As root, workers would run as nobody, who may not reach a servroot
    # inside a private checkout (/root/...).
    my $user = $> == 0 && $main !~ /^\s*user\s/m ? "user root;\n" : '';
    my $http = subst_env($o{http_config}, 'http_config');
    my $server = subst_env($o{config}, 'config');

    return <<"EOF";
# generated by t/lib/Cast/Test.pm
${load}${user}daemon off;
master_process on;
worker_processes $ENV{TEST_NGINX_WORKERS};
error_log logs/error.log $ENV{TEST_NGINX_LOG_LEVEL};
pid logs/nginx.pid;
$main
events {
    worker_connections 1024;
}

http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $root/tmp/body;
    proxy_temp_path $root/tmp/proxy;
    fastcgi_temp_path $root/tmp/fastcgi;
    uwsgi_temp_path $root/tmp/uwsgi;
    scgi_temp_path $root/tmp/scgi;
$http
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        client_max_body_size 30m;
$server
    }
}
EOF
}


sub port_open {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => server_port(), Timeout => 1);

    return 0 unless $s;
    close $s;
    return 1;
}


# start_nginx($config, http_config => ..., main_config => ...,
# no_cast_module => 1): a fresh servroot and a running nginx; dies with
# nginx's own words when it does not start.
sub start_nginx {
    my ($config, %o) = @_;
    my $root = servroot();

    stop_nginx();
    die "port " . server_port() . " is already in use\n" if port_open();
    remove_tree("$root/conf", "$root/logs", "$root/tmp");
    make_path("$root/conf", "$root/logs", "$root/html", "$root/tmp");
    open my $fh, '>', "$root/conf/nginx.conf" or die "$root/conf: $!";
    print {$fh} nginx_conf(%o, config => $config);
    close $fh;

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$root/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        $ENV{LD_PRELOAD} = $ENV{CAST_NGINX_PRELOAD}
            if $ENV{CAST_NGINX_PRELOAD};
        exec $ENV{TEST_NGINX_BINARY}, '-p', "$root/", '-c', 'conf/nginx.conf'
            or die "exec nginx: $!";
    }
    $NGINX_PID = $pid;
    my $deadline = time + 10;
    while (!port_open()) {
        if (waitpid($pid, WNOHANG) == $pid) {
            undef $NGINX_PID;
            die "nginx did not start:\n" . slurp("$root/logs/stderr.log")
                . error_log_problems();
        }
        if (time > $deadline) {
            stop_nginx();
            die "nginx did not listen on " . server_port() . " in 10 s\n";
        }
        sleep 0.02;
    }
    return $pid;
}


sub nginx_pid { return $NGINX_PID }


# SIGQUIT (graceful: workers finish their requests) then, after 10 s,
# SIGKILL to the whole process group.
sub stop_nginx {
    my $pid = $NGINX_PID;

    return unless $pid;
    undef $NGINX_PID;
    kill 'QUIT', $pid;
    my $deadline = time + 10;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            Test::More::diag("nginx did not stop in 10 s, SIGKILL");
            kill 'KILL', -$pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.02;
    }
    # Workers of a killed master may linger.
    kill 'KILL', -$pid;
}


sub slurp {
    my ($file) = @_;

    open my $fh, '<', $file or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}


sub error_log_text { return slurp(servroot() . '/logs/error.log') }


# The lines of error.log that fail any block.
sub error_log_problems {
    my $text = error_log_text();

    return join '', grep { /\[(?:alert|crit|emerg)\]|exited on signal/ }
        split /^/, $text;
}


sub check_error_log {
    my ($name) = @_;
    my $bad = error_log_problems();

    ok($bad eq '', "$name - no alert, crit, emerg or crash in error.log")
        or Test::More::diag($bad);
}


# --- HTTP over a raw socket --------------------------------------------------

# A request from the "--- request" form: "METHOD URI[ HTTP/1.x]\nbody".
sub build_request {
    my ($spec, $more, $close) = @_;
    my (@headers, %given);

    die "no --- request\n" unless defined $spec;
    $spec =~ s/\n\z//;
    my ($line, $body) = split /\n/, $spec, 2;
    $body //= '';
    $line =~ s/\s+$//;
    $line .= ' HTTP/1.1' unless $line =~ m{ HTTP/\d\.\d$};
    for my $h (split /\n/, $more // '') {
        next unless $h =~ /^([^:\s]+):\s*(.*)$/;
        push @headers, "$1: $2";
        $given{lc $1} = 1;
    }
    unshift @headers, 'Host: localhost' unless $given{host};
    push @headers, 'Connection: close'
        if $close && !$given{connection};
    push @headers, 'Content-Length: ' . length($body)
        if (length($body) || $line =~ /^(?:POST|PUT|PATCH) /)
           && !$given{'content-length'} && !$given{'transfer-encoding'};
    return join("\r\n", $line, @headers) . "\r\n\r\n" . $body;
}


sub read_all {
    my ($sock, $timeout) = @_;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + $timeout;

    while (1) {
        my $left = $deadline - time;
        die "timeout after ${timeout}s, got: $buf\n" if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($sock, $buf, 65536, length $buf);
        die "read: $!\n" unless defined $n;
        last if $n == 0;
    }
    return $buf;
}


# Parses one response from the front of $$buf and removes it; a response
# without a length ends at the end of the data.
sub parse_response {
    my ($buf) = @_;
    my %res = (headers => {});

    $$buf =~ s{^HTTP/\d\.\d (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n}{}
        or die "bad response: $$buf\n";
    $res{status} = $1;
    for my $h (split /\r\n/, $2) {
        my ($k, $v) = $h =~ /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $res{headers}{$k} = exists $res{headers}{$k}
            ? "$res{headers}{$k}, $v" : $v;
    }
    my $te = $res{headers}{'transfer-encoding'} // '';
    if ($te =~ /chunked/i) {
        my $body = '';
        while ($$buf =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            if ($n == 0) {
                $$buf =~ s/^(?:[^\r\n]+\r\n)*\r\n//;
                last;
            }
            $body .= substr($$buf, 0, $n, '');
            $$buf =~ s/^\r\n//;
        }
        $res{body} = $body;
    } elsif (defined(my $len = $res{headers}{'content-length'})) {
        $res{body} = substr($$buf, 0, $len, '');
    } else {
        $res{body} = $$buf;
        $$buf = '';
    }
    return \%res;
}


# http_request($raw_or_spec, more_headers => "...", timeout => 5,
# pipelined => n): sends the request(s) on one connection and returns the
# parsed responses (a list) or the only one.
sub http_request {
    my ($req, %o) = @_;
    my $timeout = $o{timeout} // 5;
    my @specs = ref $req ? @$req : ($req);
    my $raw = '';

    for my $i (0 .. $#specs) {
        $raw .= $specs[$i] =~ /\r\n\r\n/ ? $specs[$i]
              : build_request($specs[$i], $o{more_headers}, $i == $#specs);
    }
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => server_port(), Timeout => $timeout)
        or die "connect to " . server_port() . ": $!\n";
    print {$sock} $raw or die "write: $!\n";
    my $buf = read_all($sock, $timeout);
    close $sock;
    my @res;
    push @res, parse_response(\$buf) for @specs;
    return wantarray ? @res : $res[0];
}


# --- blocks ------------------------------------------------------------------

# A section's value after its filters; undef when the block has none.
sub sec {
    my ($block, $name) = @_;
    my $v = $block->{$name};

    return $v ? $v->[0] : undef;
}


sub has {
    my ($block, $name) = @_;

    return exists $block->{$name};
}


sub lines_of {
    my ($text) = @_;

    return () unless defined $text;
    return ref $text ? @$text : grep { length } split /\n/, $text;
}


sub nlines {
    my @lines = lines_of(@_);

    return scalar @lines;
}


sub as_list {
    my ($v, $n) = @_;

    return ref $v eq 'ARRAY' ? @$v : (($v) x $n);
}


# The requests of a block: (list of specs, pipelined?)
sub block_requests {
    my ($block) = @_;

    if (defined sec($block, 'pipelined_requests')) {
        return (sec($block, 'pipelined_requests'), 1);
    }
    my $r = sec($block, 'request');
    return ([ref $r ? @$r : ($r)], 0);
}


sub block_tests_one {
    my ($block) = @_;
    my ($reqs) = block_requests($block);
    my $n = @$reqs;
    my $count = 1 + $n;         # error log check, status per response

    $count += $n if defined sec($block, 'response_body');
    $count += $n if defined sec($block, 'response_body_like');
    $count += $n * nlines(sec($block, 'response_headers'));
    $count += $n * nlines(sec($block, 'response_headers_like'));
    $count += nlines(sec($block, 'error_log'));
    $count += nlines(sec($block, 'no_error_log'));
    return $count;
}


sub block_tests {
    my $n = 0;

    $n += block_tests_one($_) for blocks();
    return $n;
}


sub check_headers {
    my ($name, $res, $exact, $like) = @_;

    for my $h (lines_of($exact)) {
        if ($h =~ /^!\s*([^:\s]+)\s*$/) {
            ok(!exists $res->{headers}{lc $1}, "$name - header $1 absent");
            next;
        }
        my ($k, $v) = $h =~ /^([^:]+):\s*(.*)$/
            or die "$name: bad response_headers line '$h'\n";
        is($res->{headers}{lc $k}, $v, "$name - header $k");
    }
    for my $h (lines_of($like)) {
        my ($k, $v) = $h =~ /^([^:]+):\s*(.*)$/
            or die "$name: bad response_headers_like line '$h'\n";
        like($res->{headers}{lc $k} // '', qr/$v/, "$name - header $k like");
    }
}


sub check_response {
    my ($block, $name, $res, $i, $n) = @_;
    my @codes = map { s/\s+//gr } as_list(sec($block, 'error_code') // 200, $n);

    is($res->{status}, $codes[$i], "$name - status code");
    if (defined sec($block, 'response_body')) {
        my @bodies = as_list(sec($block, 'response_body'), $n);
        is($res->{body}, $bodies[$i], "$name - response_body");
    }
    if (defined sec($block, 'response_body_like')) {
        my @res = as_list(sec($block, 'response_body_like'), $n);
        my $re = $res[$i];
        $re =~ s/\n\z//;
        like($res->{body}, qr/$re/s, "$name - response_body_like");
    }
    check_headers($name, $res, sec($block, 'response_headers'),
                  sec($block, 'response_headers_like'));
}


sub skip_block {
    my ($block, $name, $why) = @_;
    my $n = block_tests_one($block);

    SKIP: { skip("$name - $why", $n) }
}


sub run_block {
    my ($block) = @_;
    my $name = $block->name;
    my ($reqs, $pipelined) = block_requests($block);
    my $n = @$reqs;
    my @res;

    eval {
        start_nginx(sec($block, 'config') // '',
            http_config => sec($block, 'http_config'),
            main_config => sec($block, 'main_config'),
            no_cast_module => has($block, 'no_cast_module'));
        my %o = (more_headers => sec($block, 'more_headers'),
                 timeout => (sec($block, 'timeout') // 5) =~ s/\s+//gr);
        @res = $pipelined ? http_request($reqs, %o)
                          : map { scalar http_request($_, %o) } @$reqs;
        1;
    } or do {
        my $err = $@;
        stop_nginx();
        fail("$name - request") for 1 .. block_tests_one($block);
        Test::More::diag("$name: $err");
        return;
    };
    stop_nginx();
    for my $i (0 .. $#res) {
        check_response($block, $name, $res[$i], $i, $n);
    }
    my $log = error_log_text();
    for my $line (lines_of(sec($block, 'error_log'))) {
        ok(index($log, $line) >= 0, "$name - error_log has: $line");
    }
    for my $line (lines_of(sec($block, 'no_error_log'))) {
        ok(index($log, $line) < 0, "$name - error_log lacks: $line");
    }
    check_error_log($name);
}


sub run_tests {
    my $tb = Test::More->builder;

    if (!$tb->has_plan && $tb->current_test == 0) {
        plan(tests => block_tests());
    }
    for my $block (blocks()) {
        if (has($block, 'skip_no_cast_module') && !-f module_path()) {
            skip_block($block, $block->name, 'no build/ngx_http_cast_module.so');
            next;
        }
        run_block($block);
    }
}


END {
    stop_nginx();
}


1;
