# The harness itself, on plain nginx: every kind of check passes when it
# should, and a wrong expectation, a missing or unwanted log line, a bad
# config and a crashed worker each make a test fail.  The blocks and the
# child files run under whichever harness CAST_TEST_HARNESS names, with the
# same test names.

use Cast::Test;
use File::Temp qw(tempdir);

no_cast_module();

run_tests();

my $port = server_port() + 1;


# Runs a one-block .t file in a child perl; returns (exit status, output).
sub run_child {
    my ($block) = @_;
    my $dir = tempdir(CLEANUP => 1);
    chmod 0755, $dir;
    open my $fh, '>', "$dir/child.t" or die $!;
    print {$fh} "use Cast::Test;\nrun_tests();\n__DATA__\n$block";
    close $fh;
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot";
    local $ENV{TEST_NGINX_SERVER_PORT} = $port;
    my $lib = repo_root() . '/t/lib';
    my $out = `$^X -I$lib $dir/child.t 2>&1`;
    return ($? >> 8, $out);
}


my ($rc, $out) = run_child(<<'T');
=== TEST 1: wrong body
--- config
location = /t { return 200 "right\n"; }
--- request
GET /t
--- response_body
wrong
T
isnt($rc, 0, 'a wrong response_body fails the file');
like($out, qr/^not ok 2 - \S+ TEST 1: wrong body - response_body - /m,
     'and names the failed check');

($rc, $out) = run_child(<<'T');
=== TEST 1: expected log line missing
--- config
location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log
this line is never logged
T
isnt($rc, 0, 'a missing error_log line fails');
my $names = qr/^not ok \d+ - .* - pattern/m;
like($out, qr/$names "this line is never logged" should match a line/,
     'and names the line');

($rc, $out) = run_child(<<'T');
=== TEST 1: unwanted log line present
--- config
--- request
GET /missing.html
--- error_code: 404
--- no_error_log
[error]
T
isnt($rc, 0, 'an unwanted error_log line fails');
like($out, qr/$names "\[error\]" should not match any line/,
     'and names the line');

# (Test::Nginx::Socket retries such a config for 30 s, then bails out)
SKIP: {
    skip 'the real Test::Nginx bails out on a config nginx refuses', 2
        if ($ENV{CAST_TEST_HARNESS} // '') eq 'test-nginx';
    ($rc, $out) = run_child(<<'T');
=== TEST 1: nginx refuses the config
--- config
location = /t { no_such_directive on; }
--- request
GET /t
T
    isnt($rc, 0, 'a config nginx refuses fails');
    like($out, qr/unknown directive "no_such_directive"/,
         'and shows why nginx did not start');
}

# A worker killed by a signal: the master logs it at [alert] and the
# error log check must flag it.
start_nginx('location = /t { return 200 "ok\n"; }');
my $master = nginx_pid();
my ($worker) = grep { chomp; $_ } `pgrep -P $master`;
ok($worker, "found the worker of master $master");
kill 'SEGV', $worker;
my $deadline = time + 5;
sleep 1 while kill(0, $worker) && time < $deadline;
# The master notices on SIGCHLD; give it a moment to log and respawn.
$deadline = time + 5;
select(undef, undef, undef, 0.05)
    while error_log_problems() eq '' && time < $deadline;
stop_nginx();
like(error_log_problems(), qr/exited on signal 11/,
     'a crashed worker is reported by the error log check');
unlike(error_log_text(), qr/\[emerg\]/, 'no [emerg] besides');

__DATA__

=== TEST 1: return 200 with a body
--- config
location /hi { return 200 "hi\n"; }
--- request
GET /hi
--- response_body
hi



=== TEST 2: exact body without a final newline (chomp filter)
--- config
location /hi { return 200 "hi"; }
--- request
GET /hi
--- response_body chomp
hi



=== TEST 3: error_code, and response_body_like on one line
--- config
location /nothing { return 404; }
--- request
GET /nothing
--- error_code: 404
--- response_body_like: 404 Not Found



=== TEST 4: response headers, exact and absent
--- config
location /h {
    add_header X-Cast yes always;
    return 200 "ok\n";
}
--- request
GET /h
--- response_headers
X-Cast: yes
Content-Type: text/plain
!X-Absent



=== TEST 5: response headers like a regex, which must match all the value
--- config
location /h { return 200 "ok\n"; }
--- request
GET /h
--- response_headers_like
Content-Length: \d+
Server: nginx.*



=== TEST 6: a POST body (trimmed) and more_headers reach nginx
--- config
location /echo {
    return 200 "$request_method $content_length $http_content_type $http_x_test\n";
}
--- request
POST /echo
{"a":1}
--- more_headers
Content-Type: application/json
X-Test: 42
--- response_body
POST 7 application/json 42



=== TEST 7: an expected error_log line (the root location is there)
--- config
--- request
GET /missing.html
--- error_code: 404
--- error_log
No such file or directory
--- no_error_log
[warn]



=== TEST 8: no_error_log on a clean request
--- config
location /clean { return 200 "clean\n"; }
--- request
GET /clean
--- response_body
clean
--- no_error_log
[error]
[warn]



=== TEST 9: http_config, main_config and $TEST_NGINX_ variables
--- main_config
worker_rlimit_nofile 4096;
--- http_config
map $uri $cast_port {
    default "$TEST_NGINX_SERVER_PORT";
}
--- config
location /port { return 200 "$cast_port\n"; }
--- request
GET /port
--- response_body
$TEST_NGINX_SERVER_PORT



=== TEST 10: several requests, one connection each
--- config
location /a { return 200 "a\n"; }
location /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]



=== TEST 11: pipelined requests on one connection
--- config
location /a { return 200 "a\n"; }
location /b { return 200 "bb\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["a\n", "bb\n"]



=== TEST 12: a chunked response is decoded
--- config
location /sub {
    sub_filter_types *;
    sub_filter hello world;
    return 200 "hello\n";
}
--- request
GET /sub
--- response_headers
Transfer-Encoding: chunked
--- response_body
world



=== TEST 13: a regex that ends in a newline wants one (no chomp)
--- config
location /nl { return 200 "no newline"; }
--- request
GET /nl
--- response_body_unlike
newline$
