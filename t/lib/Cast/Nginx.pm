package Cast::Nginx;

# A private nginx under $TEST_NGINX_SERVROOT listening on
# $TEST_NGINX_SERVER_PORT, laid out the way Test::Nginx lays out its own
# (conf/nginx.conf, logs/error.log, logs/access.log, html/index.html, the
# same main/http/server skeleton with its "location /"), so that a block
# behaves alike under the project's harness and under the real
# Test::Nginx::Socket.  The project's harness (Cast::Test::Socket) starts
# one per block; the Perl-driven files start their own with start_nginx().
#
# The environment read, as Test::Nginx reads it: TEST_NGINX_BINARY,
# TEST_NGINX_LOAD_MODULES (.so paths separated by spaces),
# TEST_NGINX_LOG_LEVEL, TEST_NGINX_MASTER_PROCESS, TEST_NGINX_LD_PRELOAD,
# TEST_NGINX_SERVROOT, TEST_NGINX_SERVER_PORT, TEST_NGINX_WORKER_USER.

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    start_nginx stop_nginx nginx_pid error_log_text error_log_problems
    check_error_log server_port server_root nginx_metrics send_read
    worker_status_kb check_worker_peak check_worker_growth
);

# Settings the block harness changes through its own functions
# (workers(), master_on(), no_root_location(), ...).
our $Workers = 1;
our $WorkerConnections = 64;
our $NoRootLocation = 0;
our $LoadModules;               # undef: $ENV{TEST_NGINX_LOAD_MODULES}
our $LogLevel;                  # undef: $ENV{TEST_NGINX_LOG_LEVEL}
our $Master;                    # undef: $ENV{TEST_NGINX_MASTER_PROCESS}

my $PID;


sub server_root {
    return $ENV{TEST_NGINX_SERVROOT} // die "TEST_NGINX_SERVROOT unset\n";
}


sub server_port { return $ENV{TEST_NGINX_SERVER_PORT} // 1984 }


# $TEST_NGINX_NAME in a config: the environment variable, as Test::Nginx
# expands it; an unset one is an error.
sub expand_env {
    my ($text, $what) = @_;

    return '' unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        $ENV{$1} // die "$what - No environment $1 defined.\n"
    }ge;
    return $text;
}


sub root_location {
    my ($root) = @_;

    return '' if $NoRootLocation;
    return "        location / {\n"
         . "            root $root/html;\n"
         . "            index index.html index.htm;\n"
         . "        }\n";
}


sub nginx_conf {
    my (%o) = @_;
    my $root = server_root();
    my $port = server_port();
    my $mods = $o{no_cast_module} ? ''
             : $LoadModules // $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my @load = map { "load_module $_;" } grep { length } split /\s+/, $mods;
    my $main = expand_env(join(' ', @load, $o{main_config} // ''),
                          'main_config');
    my $http = expand_env($o{http_config}, 'http_config');
    my $level = $LogLevel // $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
    my $master = $Master // $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
    my $user = $ENV{TEST_NGINX_WORKER_USER}
             ? "user $ENV{TEST_NGINX_WORKER_USER};"
             : $> == 0 ? 'user root;' : '';
    my $temp = join ' ', map { "${_}_temp_path $root/${_}_temp;" }
                         grep { $http !~ /\b${_}_temp_path\b/ }
                         qw(client_body proxy fastcgi scgi uwsgi);
    my $loc = root_location($root);

    return <<"CONF";
worker_processes  $Workers;
daemon on;
master_process $master;
error_log $root/logs/error.log $level;
pid       $root/logs/nginx.pid;
env LD_PRELOAD;
env ASAN_OPTIONS;
env UBSAN_OPTIONS;

$main

http {
    access_log $root/logs/access.log; $temp

    default_type text/plain;
    keepalive_timeout  68000ms;

$http
    server {
        listen          $port;
        server_name     'localhost';
        client_max_body_size 30M;

$o{config}

$loc    }
}

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
$user
CONF
}


sub slurp {
    my ($file) = @_;

    open my $fh, '<', $file or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}


sub port_open {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => server_port(), Timeout => 1);

    return 0 unless $s;
    close $s;
    return 1;
}


sub write_file {
    my ($file, $text) = @_;

    open my $fh, '>', $file or die "$file: $!\n";
    print {$fh} $text;
    close $fh;
}


# start_nginx($config, http_config => ..., main_config => ...,
# no_cast_module => 1): a fresh servroot and a running nginx; dies with
# nginx's own words when it does not start.
sub start_nginx {
    my ($config, %o) = @_;
    my $root = server_root();
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';

    stop_nginx();
    die "port " . server_port() . " is already in use\n" if port_open();
    remove_tree("$root/conf", "$root/logs", "$root/html",
                glob("$root/*_temp"));
    make_path("$root/conf", "$root/logs", "$root/html");
    write_file("$root/html/index.html", '<html><head><title>It works!'
               . '</title></head><body>It works!</body></html>');
    write_file("$root/conf/nginx.conf",
               nginx_conf(%o, config => expand_env($config, 'config')));

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$root/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        if (my $pre = $ENV{TEST_NGINX_LD_PRELOAD}) {
            $ENV{LD_PRELOAD} = join ' ', $pre, $ENV{LD_PRELOAD} // ();
        }
        exec $bin, '-e', "$root/logs/error.log", '-p', "$root/",
             '-c', "$root/conf/nginx.conf"
            or die "exec $bin: $!";
    }
    waitpid($pid, 0);
    if ($? != 0) {
        die "nginx did not start (status $?):\n"
            . slurp("$root/logs/stderr.log") . error_log_problems();
    }
    my $deadline = time + 10;
    until (($PID = nginx_pid()) && port_open()) {
        die "nginx did not listen on " . server_port() . " in 10 s\n"
            if time > $deadline;
        sleep 0.01;
    }
    return $PID;
}


sub nginx_pid {
    my $pid = slurp(server_root() . '/logs/nginx.pid');

    return $pid =~ /^(\d+)/ ? $1 : undef;
}


# A daemonized nginx is not our child: once it exits it may stay a
# zombie until its new parent reaps it.
sub running {
    my ($pid) = @_;

    return 0 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh> // '';
    close $fh;
    return $stat !~ /^\d+ \(.*\) Z /;
}


# SIGQUIT (graceful: workers finish their requests) then, after 10 s,
# SIGKILL to the whole process group (nginx is a session leader).
sub stop_nginx {
    my $pid = $PID // return;

    undef $PID;
    kill 'QUIT', $pid;
    my $deadline = time + 10;
    while (running($pid)) {
        if (time > $deadline) {
            Test::More::diag("nginx did not stop in 10 s, SIGKILL");
            last;
        }
        sleep 0.02;
    }
    # workers of a killed master may linger
    kill 'KILL', -$pid;
}


# The server's /metrics (a location with cast_metrics) as
# { name => value }, a sample's labels part of its name.
sub nginx_metrics {
    my $url = 'http://127.0.0.1:' . server_port() . '/metrics';
    my $res = HTTP::Tiny->new->get($url);
    my %m;

    for (split /\n/, $res->{content} // '') {
        $m{$1} = $2 if /^(\S+) (\S+)$/;
    }
    return \%m;
}


# A client of the server's /graphql that sends a read (the count of
# $name, the ticket, the top two) and does not wait for the answer: its
# socket, to close whenever the test likes.
sub send_read {
    my ($name) = @_;
    my $body = qq({"query":"{query(username:\\"$name\\") )
             . q(cas{ticket} top(limit:2){username votes}}"});
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . server_port())
        or die "$!\n";

    print {$s} "POST /graphql HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    return $s;
}


# A field of the worker's /proc status in kB (VmPeak, VmHWM, VmRSS): the
# first worker's, or nginx's own without a master; -1 when unknown.
sub worker_status_kb {
    my ($field) = @_;
    my $master = nginx_pid() // return -1;
    my $worker;

    if (open my $ch, '<', "/proc/$master/task/$master/children") {
        ($worker) = split ' ', (<$ch> // '');
    }
    if (!$worker) {
        # a master without its worker (one that died) tells nothing
        open my $cl, '<', "/proc/$master/cmdline" or return -1;
        return -1 if (<$cl> // '') =~ /master process/;
        $worker = $master;
    }

    open my $st, '<', "/proc/$worker/status" or return -1;
    for (<$st>) { return $1 if /^\Q$field\E:\s+(\d+)/ }
    return -1;
}


# One test: the worker's address space peaked under 4 GB (hiredis
# allocating a huge array's slots shows there, not in its resident
# size); skipped under the sanitized nginx, whose ASan reserves terabytes
# for its shadow.
sub check_worker_peak {
    SKIP: {
        Test::More::skip('the sanitized nginx: its address space says '
                         . 'nothing', 1)
            if $ENV{CAST_NGINX_PRELOAD};
        my $kb = worker_status_kb('VmPeak');
        Test::More::ok($kb > 0 && $kb < 4 * 1024 * 1024,
                       "the worker's address space peaks under 4 GB")
            or Test::More::diag("VmPeak $kb kB");
    }
}


# One test: the worker's resident peak (VmHWM) grew by under $mb MB
# since it was $hwm0 kB; skipped under the sanitized nginx, whose ASan
# keeps freed memory in quarantine and has a shadow of its own.
sub check_worker_growth {
    my ($hwm0, $mb) = @_;

    SKIP: {
        Test::More::skip('the sanitized nginx: its resident size says '
                         . 'little', 1)
            if $ENV{CAST_NGINX_PRELOAD};
        my $grew = worker_status_kb('VmHWM') - $hwm0;
        Test::More::ok($hwm0 > 0 && $grew < $mb * 1024,
                       "the worker's resident peak grew by $grew kB, "
                       . "under $mb MB");
    }
}


sub error_log_text { return slurp(server_root() . '/logs/error.log') }


# The lines of error.log that fail any test: [alert] (a worker that
# exited on a signal is one), [crit], [emerg], and a sanitizer's report
# (a sanitized worker without a log_path writes it to its stderr, which
# is this file).
sub error_log_problems {
    my $text = error_log_text();

    return join '', grep { /\[(?:alert|crit|emerg)\]|runtime error:
                            |AddressSanitizer|LeakSanitizer/x }
                    split /^/, $text;
}


sub check_error_log {
    my ($name) = @_;
    my $bad = error_log_problems();

    Test::More::ok($bad eq '',
                   "$name - no alert, crit or emerg in error.log")
        or Test::More::diag($bad);
}


END {
    stop_nginx();
}


1;
