package Cast::Test::Socket;

# The project's own runner for Test::Nginx::Socket block files, for
# machines without openresty's Test::Nginx.  It is loaded by Cast::Test
# (never directly) and does what the real module does for every section
# the suite uses, with the same test names and the same number of tests,
# so that a file passes or fails alike under both:
#
#   --- main_config / --- http_config / --- config
#                         the nginx.conf skeleton of Cast::Nginx; $TEST_NGINX_*
#                         taken from the environment
#   --- request           "METHOD URI[ HTTP/x.y]", the body on the next
#                         lines (leading and trailing white space removed,
#                         Content-Length added); "--- request eval" may give
#                         an array: one connection per request
#   --- pipelined_requests eval   an array sent on one connection
#   --- more_headers      "Name: value" lines (an array: one per request)
#   --- error_code        200 unless given; --- error_code_like: a regex
#   --- response_body     exact; "eval" may give a qr// or an array
#   --- response_body_like / --- response_body_unlike   a regex (/s);
#                         the value is not chomped: a regex that ends in a
#                         newline wants one
#   --- response_headers  "Name: value" exact ($ServerPort expanded), "!Name"
#                         absent from the raw headers
#   --- response_headers_like   "Name: regex", anchored (^regex$); only
#                         read when there is no --- response_headers
#   --- error_log / --- no_error_log   substrings (or qr// by eval) of
#                         error.log lines, checked after each request
#   --- shutdown_error_log / --- no_shutdown_error_log   the same, on what
#                         nginx logged while stopping
#   --- timeout           seconds (or "500ms"); TEST_NGINX_TIMEOUT, 3 s
#   --- wait              seconds to sleep after each response
#   --- log_level         error_log level of this block
#
# Blocks run in random order unless no_shuffle() or TEST_NGINX_NO_SHUFFLE,
# each against a fresh nginx; a block's name is "$0 TEST n: ...".
# add_response_body_check(sub { my ($block, $body, $i) = @_; ... }) runs
# after the checks of each response.

use Test::Base -base;

use IO::Select;
use IO::Socket::INET;
use List::Util qw(min shuffle);
use Time::HiRes qw(sleep time);

use Cast::Nginx ();

our @EXPORT = qw(
    run_tests add_block_preprocessor add_response_body_check
    no_shuffle no_root_location
    master_on master_off workers worker_connections log_level timeout
    check_accum_error_log server_port server_root html_dir
);

my @PREPROCESSORS;
my @BODY_CHECKS;
my $NO_SHUFFLE = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
my $TIMEOUT = $ENV{TEST_NGINX_TIMEOUT} || 3;
my $ACCUM = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
my ($PREV_BLOCK, $LOG_POS);


sub add_block_preprocessor { unshift @PREPROCESSORS, shift }
sub add_response_body_check { push @BODY_CHECKS, shift }
sub no_shuffle { $NO_SHUFFLE = 1 }
sub no_root_location { $Cast::Nginx::NoRootLocation = 1 }
sub master_on { $Cast::Nginx::Master = 'on' }
sub master_off { $Cast::Nginx::Master = 'off' }
sub check_accum_error_log { $ACCUM = 1 }
sub server_port { return Cast::Nginx::server_port() }
sub server_root { return Cast::Nginx::server_root() }
sub html_dir { return server_root() . '/html' }


sub workers {
    $Cast::Nginx::Workers = shift if @_;
    return $Cast::Nginx::Workers;
}


sub worker_connections {
    $Cast::Nginx::WorkerConnections = shift if @_;
    return $Cast::Nginx::WorkerConnections;
}


sub log_level {
    $Cast::Nginx::LogLevel = shift if @_;
    return $Cast::Nginx::LogLevel // $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
}


sub timeout {
    $TIMEOUT = shift if @_;
    return $TIMEOUT;
}


sub parse_time {
    my ($t) = @_;

    return undef unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}


# --- the requests -------------------------------------------------------------

sub header_text {
    my ($more) = @_;
    my ($out, $chunked) = ('', 0);

    for my $h (split /\n+/, $more // '') {
        next if $h =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $h, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}


# One request from its "--- request" form, as Test::Nginx builds it.
sub build_request {
    my ($name, $spec, $more, $conn) = @_;
    my ($hdrs, $chunked) = header_text($more);

    die "$name - request empty\n" unless defined $spec;
    1 while $spec =~ s/^\s*#[^\n]+\s+|^\s+//gs;
    my ($line, $body) = split /\n/, $spec, 2;
    $body //= '';
    my ($meth, $url, $ver) = $line =~ /^\s*(\S+) *(\S+)? *(\S+)?\s*$/
        or die "$name - Request line is not valid: \"$line\"\n";
    my $len = '';
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }
    my $head = $hdrs =~ /(?:^|\n)Host:/mi ? '' : "Host: localhost\r\n";
    $head .= "Connection: $conn\r\n" unless $hdrs =~ /(?:^|\n)Connection/mi;

    return join(' ', $meth, $url // '/', $ver // 'HTTP/1.1') . "\r\n"
         . $head . $hdrs . $len . "\r\n" . $body;
}


# The expectation for the $i-th response: with several requests, an
# array is required, as Test::Nginx requires it.
sub indexed {
    my ($v, $i, $block) = @_;

    return $v->[$i] if ref $v eq 'ARRAY';
    die $block->name . " - You asked for many requests, the expected "
        . "results should be arrays as well.\n"
        if $block && need_array($block);
    return $v;
}


sub need_array {
    my ($block) = @_;
    my $r = $block->request;

    return defined $block->pipelined_requests
        || (ref $r eq 'ARRAY' && @$r > 1);
}


# The raw requests of a block: a list of (bytes for one connection), and
# how many responses the first connection carries when pipelined.
sub block_requests {
    my ($block) = @_;
    my $name = $block->name;
    my $more = $block->more_headers;

    if (defined(my $reqs = $block->pipelined_requests)) {
        die "$name - invalid entries in --- pipelined_requests\n"
            unless ref $reqs eq 'ARRAY';
        my $raw = '';
        for my $i (0 .. $#$reqs) {
            my $spec = Cast::Nginx::expand_env($reqs->[$i], $name);
            $raw .= build_request($name, $spec, indexed($more, $i),
                                  $i == $#$reqs ? 'close' : 'keep-alive');
        }
        return ([$raw], scalar @$reqs);
    }
    my $r = $block->request;
    my @specs = ref $r eq 'ARRAY' ? @$r : ($r);
    return ([map { build_request($name, $specs[$_], indexed($more, $_),
                                 'close') } 0 .. $#specs], 0);
}


# Sends one connection's bytes and reads until the server closes it or
# the timeout; a timeout is a failed test, as in Test::Nginx.
sub send_request {
    my ($name, $raw, $timeout) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => server_port(), Timeout => $timeout);
    my $buf = '';

    if (!$sock) {
        fail("$name - Can't connect to 127.0.0.1:" . server_port()
             . ": $! (aborted)\n");
        return '';
    }
    print {$sock} $raw;
    my $sel = IO::Select->new($sock);
    my $deadline = time + $timeout;
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            fail("ERROR: client socket timed out - $name\n");
            last;
        }
        my $n = sysread($sock, $buf, 65536, length $buf);
        last unless $n;
    }
    close $sock;
    return $buf;
}


# Takes one response off the front of $$buf: { code, raw_headers,
# headers (lower-case names, repeated ones joined by ", "), body }.
sub parse_response {
    my ($buf) = @_;
    my %res = (code => '', raw_headers => '', headers => {}, body => '');

    return \%res
        unless $$buf =~ s{^(HTTP/\d\.\d[ ]+(\d+)[^\r\n]*\r\n
                           ((?:[^\r\n]+\r\n)*))\r\n}{}sx;
    ($res{raw_headers}, $res{code}) = ($1, $2);
    for my $h (split /\r\n/, $3) {
        my ($k, $v) = $h =~ /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $res{headers}{$k} = exists $res{headers}{$k}
            ? "$res{headers}{$k}, $v" : $v;
    }
    my $len = $res{headers}{'content-length'};
    if (($res{headers}{'transfer-encoding'} // '') eq 'chunked') {
        while ($$buf =~ s/^[ \t]*([0-9a-fA-F]+)[ \t]*\r\n//) {
            my $n = hex $1;
            if ($n == 0) {
                $$buf =~ s/^(?:[^\r\n]+\r\n)*\r\n//;
                last;
            }
            $res{body} .= substr($$buf, 0, $n, '');
            $$buf =~ s/^\r\n//;
        }
    } elsif (defined $len && $len =~ /^\d+$/) {
        $res{body} = substr($$buf, 0, $len, '');
    } else {
        ($res{body}, $$buf) = ($$buf, '');
    }
    return \%res;
}


# --- the checks ---------------------------------------------------------------

sub parse_headers {
    my ($text) = @_;
    my %h;

    for (split /\n/, $text // '') {
        s/^\s+|\s+$//g;
        if (s/^!\s*//) {
            $h{$_} = undef;
        } else {
            my ($k, $v) = split /\s*:\s*/, $_, 2;
            $h{$k} = $v;
        }
    }
    return \%h;
}


sub check_code {
    my ($block, $res, $i) = @_;
    my $name = $block->name;

    if (defined $block->error_code_like) {
        my $re = indexed(scalar $block->error_code_like, $i, $block);
        like($res->{code}, qr/$re/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        is($res->{code}, indexed(scalar $block->error_code, $i, $block),
           "$name - status code ok");
    } else {
        is($res->{code}, 200, "$name - status code ok");
    }
}


sub check_headers {
    my ($block, $res, $i) = @_;
    my $name = $block->name;
    my $port = server_port();

    if (defined $block->response_headers) {
        my $h = parse_headers(indexed(scalar $block->response_headers, $i,
                                      $block));
        for my $k (sort keys %$h) {
            if (!defined $h->{$k}) {
                unlike($res->{raw_headers}, qr/^\s*\Q$k\E\s*:/ms,
                       "$name - header $k not present in the raw headers");
                next;
            }
            (my $want = $h->{$k}) =~ s/\$ServerPort(?:ForClient)?\b/$port/g;
            is($res->{headers}{lc $k} // '', $want, "$name - header $k ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(indexed(scalar $block->response_headers_like, $i,
                                       $block));
        for my $k (sort keys %$h) {
            like($res->{headers}{lc $k} // '', qr/^$h->{$k}$/,
                 "$name - header $k like ok");
        }
    }
}


sub summary {
    my ($s) = @_;

    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}


sub check_body {
    my ($block, $res, $i) = @_;
    my $name = $block->name;
    my $port = server_port();
    my $body = $res->{body};

    if (defined $block->response_body) {
        my $want = indexed(scalar $block->response_body, $i, $block);
        if (ref $want) {
            like($body, $want,
                 "$name - response_body - like (repeated req 0, req $i)");
            return;
        }
        if (defined $want) {
            $want =~ s/\$ServerPort(?:ForClient)?\b/$port/g;
            $want = Cast::Nginx::expand_env($want, $name);
        }
        is($body, $want, "$name - response_body - response is expected "
                         . "(repeated req 0, req $i)");
    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $re = indexed($type eq 'like' ? $block->response_body_like
                                         : $block->response_body_unlike,
                         $i, $block);
        $re =~ s/\$ServerPort(?:ForClient)?\b/$port/g;
        my $how = "$name - response_body_$type - response is expected ("
                . summary($body) . ")";
        if ($type eq 'like') {
            like($body, qr/$re/s, $how);
        } else {
            unlike($body, qr/$re/s, $how);
        }
    }
}


sub patterns {
    my ($v) = @_;

    return () unless defined $v;
    return ($v) if ref $v eq 'Regexp';
    return @$v if ref $v eq 'ARRAY';
    chomp $v;
    return split /\n+/, $v;
}


sub npatterns {
    my ($block, @sections) = @_;
    my @all = map { patterns(scalar $block->$_) } @sections;

    return scalar @all;
}


sub log_lines {
    my $text;

    # lines of the log phase come after the response
    sleep 0.045;
    $text = Cast::Nginx::error_log_text();
    my $new = $ACCUM ? $text : substr($text, $LOG_POS // 0);
    $LOG_POS = length $text;
    return split /^/, $new;
}


sub matches {
    my ($line, $pat) = @_;

    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}


sub quote {
    my ($s) = @_;

    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}


# error_log and no_error_log (or their shutdown_ twins, $when '')
sub check_log {
    my ($block, $want, $unwanted, $when) = @_;
    my $name = $block->name;
    my @lines = log_lines();

    my @want = patterns($want);
    for my $pat (@want) {
        my $hit = grep { matches($_, $pat) } @lines;
        ok($hit, "$name - pattern \"$pat\" "
                 . ($hit ? 'matches' : 'should match')
                 . " a line in error.log$when");
    }
    for my $pat (patterns($unwanted)) {
        my $p = quote("$pat");
        my @hits = grep { matches($lines[$_], $pat) } 0 .. $#lines;
        for my $j (@hits) {
            my $more = join '', @lines[$j + 1 .. min($j + 9, $#lines - 1)];
            fail("$name - pattern \"$p\" should not match any line in "
                 . "error.log but matches line \"" . quote($lines[$j])
                 . "\"$when\n$more");
        }
        pass("$name - pattern \"$p\" does not match a line in error.log$when")
            unless @hits;
    }
    for my $line (grep { /\bAssertion .*?failed\b/ } @lines) {
        chomp $line;
        fail("$name - $line\n");
    }
}


sub check_error_log {
    my ($block) = @_;

    check_log($block, scalar $block->error_log,
              scalar $block->no_error_log, ' (req 0)');
}


# What the block before logged while its nginx stopped.
sub check_prev_shutdown {
    my $block = $PREV_BLOCK // return;

    undef $PREV_BLOCK;
    return unless defined $block->shutdown_error_log
               || defined $block->no_shutdown_error_log;
    check_log($block, scalar $block->shutdown_error_log,
              scalar $block->no_shutdown_error_log, '');
}


# --- counting -----------------------------------------------------------------

# How many tests a (filtered) block makes when it passes.
sub block_tests_one {
    my ($block) = @_;
    my $r = $block->pipelined_requests // $block->request;
    my $n = ref $r eq 'ARRAY' ? @$r : 1;
    my $count = $n;

    for my $i (0 .. $n - 1) {
        my $h = defined $block->response_headers ? $block->response_headers
              : $block->response_headers_like;
        $count += keys %{ parse_headers(indexed($h, $i)) } if defined $h;
        $count++ if defined $block->response_body
                 || defined $block->response_body_like
                 || defined $block->response_body_unlike;
    }
    $count += $n * npatterns($block, qw(error_log no_error_log));
    $count += npatterns($block, qw(shutdown_error_log no_shutdown_error_log));
    return $count;
}


# --- running ------------------------------------------------------------------

sub run_block {
    my ($block) = @_;
    my $name = $block->name;
    my ($conns, $pipelined, $timeout);

    Cast::Nginx::stop_nginx();
    check_prev_shutdown();
    $LOG_POS = 0;
    local $Cast::Nginx::LogLevel = $block->log_level
        if defined $block->log_level;
    eval {
        ($conns, $pipelined) = block_requests($block);
        Cast::Nginx::start_nginx(scalar($block->config) // '',
            http_config => scalar($block->http_config),
            main_config => scalar($block->main_config));
        1;
    } or do {
        my $err = $@;
        fail("$name - nginx: $err") for 1 .. block_tests_one($block);
        return;
    };
    $timeout = parse_time(scalar $block->timeout) // timeout();

    my $i = 0;
    for my $c (0 .. $#$conns) {
        my $buf = send_request($name, $conns->[$c], $timeout);
        my $n = $pipelined || 1;
        for (1 .. $n) {
            my $res = parse_response(\$buf);
            check_code($block, $res, $i);
            check_headers($block, $res, $i);
            check_body($block, $res, $i);
            $_->($block, $res->{body}, $i, 0, 0) for @BODY_CHECKS;
            $i++;
            next if $c == $#$conns && $_ == $n;
            sleep $block->wait if $block->wait;
            check_error_log($block);
        }
    }
    sleep $block->wait if $block->wait;
    check_error_log($block);
    $PREV_BLOCK = $block;
}


sub run_tests {
    for my $block ($NO_SHUFFLE ? blocks() : shuffle blocks()) {
        $_->($block) for @PREPROCESSORS;
        $block->set_value('name', "$0 " . $block->name);
        run_block($block);
    }
    Cast::Nginx::stop_nginx();
    check_prev_shutdown();
}


1;
