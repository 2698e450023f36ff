package Cast::Test;

# What every .t file of CAST uses: "use Cast::Test;".
#
# A block file (a __DATA__ of Test::Nginx::Socket blocks, then
# run_tests()) runs under one of two harnesses, chosen by
# CAST_TEST_HARNESS:
#
#   cast (the default)  Cast::Test::Socket, the project's own runner
#   test-nginx          openresty's Test::Nginx::Socket, found in @INC
#                       (PERL5LIB, or a CPAN install)
#
# Both read the same sections the same way, name their tests alike and
# count them alike (Cast::Test::Socket says which sections); whatever
# that harness exports is exported here (run_tests, no_shuffle, plan, is,
# like, ...).  On top of either, the same block preprocessor:
#
# - the sections' filters run just before the block runs (filters_delay),
#   after the previous block's nginx stopped, so that "--- request eval"
#   can ask the stack for the current ticket;
# - each block fails on an [alert], [crit] or [emerg] line anywhere in
#   its error.log, shutdown included (one no_shutdown_error_log pattern,
#   over the whole log: check_accum_error_log), unless its error_log
#   section expects that level;
# - "--- no_cast_module" (or no_cast_module() for the whole file) runs the
#   block on plain nginx.
#
# run_tests() declares no_plan when the file planned nothing, and stops
# the last block's nginx.
#
# The environment both harnesses read gets defaults from the test stack
# ($CAST_VAR/stack.env) and the checkout when unset: TEST_NGINX_BINARY,
# TEST_NGINX_LOAD_MODULES (CAST_NGINX_MODULE, else
# build/ngx_http_cast_module.so), TEST_NGINX_LD_PRELOAD
# (CAST_NGINX_PRELOAD), TEST_NGINX_SERVROOT (t/servroot),
# TEST_NGINX_SERVER_PORT (1984), TEST_NGINX_MASTER_PROCESS (on),
# TEST_NGINX_LOG_LEVEL (debug), TEST_NGINX_REDIS_HOST,
# TEST_NGINX_REDIS_PORT and TEST_NGINX_REPO for the configs, and
# TEST_NGINX_CAST_HTTP, the http_config of a block on the stack's Redis
# (cast_redis and cast_redis_functions; a file may append directives).
#
# Also exported, for Perl-driven files: the stack's clients (Cast::Stack:
# graphql, redis_cmd, psql_query, cast_stack, cast_stack_env, repo_root)
# and a private nginx (Cast::Nginx: start_nginx, stop_nginx, nginx_pid,
# error_log_text, error_log_problems, check_error_log, server_port).

use strict;
use warnings;

use Exporter ();
use Test::More ();

use Cast::Nginx ();
use Cast::Stack ();

my %HARNESS = (
    'cast'       => 'Cast::Test::Socket',
    'test-nginx' => 'Test::Nginx::Socket',
);
my $NO_CAST_MODULE;
my $SET_UP = 0;

cast_defaults();


sub harness {
    my $name = $ENV{CAST_TEST_HARNESS} || 'cast';

    return $HARNESS{$name}
        // die "CAST_TEST_HARNESS=$name: not one of "
               . join(', ', sort keys %HARNESS) . "\n";
}


sub cast_defaults {
    my %stack = Cast::Stack::cast_stack_env();
    my $repo = Cast::Stack::repo_root();
    my $module = $ENV{CAST_NGINX_MODULE}
                 || "$repo/build/ngx_http_cast_module.so";

    for my $k (keys %stack) {
        $ENV{$k} //= $stack{$k};
    }
    $ENV{TEST_NGINX_REPO} //= $repo;
    $ENV{TEST_NGINX_SERVROOT} //= "$repo/t/servroot";
    $ENV{TEST_NGINX_SERVER_PORT} //= 1984;
    $ENV{TEST_NGINX_BINARY} //= -x '/usr/sbin/nginx' ? '/usr/sbin/nginx'
                                                      : 'nginx';
    $ENV{TEST_NGINX_LOAD_MODULES} //= -f $module ? $module : '';
    $ENV{TEST_NGINX_LD_PRELOAD} //= $ENV{CAST_NGINX_PRELOAD}
        if $ENV{CAST_NGINX_PRELOAD};
    $ENV{TEST_NGINX_MASTER_PROCESS} //= 'on';
    $ENV{TEST_NGINX_LOG_LEVEL} //= 'debug';
    my $url = $ENV{CAST_REDIS_URL} // 'redis://127.0.0.1:6379/0';
    if ($url =~ m{^redis://(?:[^@/]*@)?([^:/]+)(?::(\d+))?}) {
        $ENV{TEST_NGINX_REDIS_HOST} //= $1;
        $ENV{TEST_NGINX_REDIS_PORT} //= $2 // 6379;
    }
    $ENV{TEST_NGINX_CAST_HTTP} //= <<"EOF";
    cast_redis $ENV{TEST_NGINX_REDIS_HOST}:$ENV{TEST_NGINX_REDIS_PORT};
    cast_redis_functions $ENV{TEST_NGINX_REPO}/lib/redis/cast.lua;
EOF
}


sub import {
    my ($class, @args) = @_;
    my $caller = caller;
    my $h = harness();

    (my $file = "$h.pm") =~ s{::}{/}g;
    require $file;

    # the harness exports to the file itself (Test::Base reads its DATA)
    eval "package $caller; $h->import(\@args); 1" or die $@;
    Exporter::export('Cast::Stack', $caller);
    Exporter::export('Cast::Nginx', $caller, qw(
        start_nginx stop_nginx nginx_pid error_log_text error_log_problems
        check_error_log));
    {
        no strict 'refs';
        no warnings qw(redefine prototype);
        *{"${caller}::$_"} = \&{$_} for qw(run_tests no_cast_module);
    }

    # once, however many modules use Cast::Test
    return if $SET_UP++;
    Test::Base::filters_delay();
    $h->can('check_accum_error_log')->();
    $h->can('add_block_preprocessor')->(\&preprocess);
}


# Plain nginx for every block of the file (and for start_nginx).
sub no_cast_module {
    $NO_CAST_MODULE = 1;
    $ENV{TEST_NGINX_LOAD_MODULES} = '';
}


sub modules_var {
    return harness() eq 'Test::Nginx::Socket'
        ? \$Test::Nginx::Util::LoadModules : \$Cast::Nginx::LoadModules;
}


sub value_has {
    my ($v, $s) = @_;

    return 0 unless defined $v;
    return grep { index("$_", $s) >= 0 } ref $v eq 'ARRAY' ? @$v : ($v);
}


sub preprocess {
    my ($block) = @_;

    stop_prev_nginx();
    $block->run_filters unless $block->is_filtered;

    my $plain = $NO_CAST_MODULE || defined $block->no_cast_module;
    ${ modules_var() } = $plain ? '' : $ENV{TEST_NGINX_LOAD_MODULES};

    my @levels = grep { !value_has(scalar $block->error_log, "[$_]") }
                 qw(alert crit emerg);
    if (@levels && !defined $block->no_shutdown_error_log) {
        my $re = join '|', @levels;
        $block->set_value('no_shutdown_error_log', qr/\[(?:$re)\]/);
    }
}


sub run_tests {
    my $tb = Test::More->builder;
    my $h = harness();

    Test::More::plan('no_plan') unless $tb->has_plan;
    $h->can('run_tests')->();
    stop_last_nginx() if $h eq 'Test::Nginx::Socket';
}


# The nginx of the block before stops before this block's filters run,
# not after, so that what they read from the stack is still current when
# the request goes out.
sub stop_prev_nginx {
    my $pidfile;

    return Cast::Nginx::stop_nginx() if harness() ne 'Test::Nginx::Socket';
    $pidfile = $Test::Nginx::Util::PidFile;
    return unless -f $pidfile;
    my $pid = Test::Nginx::Util::get_pid_from_pidfile('preprocess');
    Test::Nginx::Util::kill_process($pid, 1, 'preprocess')
        if $pid && kill 0, $pid;
}


# Test::Nginx leaves the last block's nginx running until its END block,
# which then checks that block's shutdown log.  Done here instead, as
# Cast::Test::Socket does, so that the port is free and the check counted
# before the file's own tests.
sub stop_last_nginx {
    stop_prev_nginx();
    Test::Nginx::Util::check_prev_block_shutdown_error_log();
    undef $Test::Nginx::Util::PrevBlock;
}


1;
