# A COPY whose data libpq fails to send while the connection is sound
# (here: libpq cannot grow its output buffer past 128 KiB for the batch's
# last chunk; a shim preloaded into the persister fails libpq's larger
# realloc()s while a flag file exists).  PostgreSQL takes a binary COPY
# that ends between two rows, without the trailer, as complete: ended as
# done rather than failed, the COPY kept the rows of the chunks sent
# before, the transaction committed and the offsets with it, and the rest
# of the batch was lost from vote_events.  Ended as failed, the batch is
# rolled back and retried until it goes in whole.
#
# The batch: 40 events with a voter of 1,000 bytes (a first 64 KiB chunk
# and some), then, last by id, one of 120 names of 1,000 bytes: the last
# chunk outgrows libpq's buffer, the votes upsert after it does not.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Pipeline;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

my $RELAY = $ENV{CAST_RELAY_HTTP_PORT};
my $PERS = $ENV{CAST_PERSISTER_HTTP_PORT};
my $SMALL = 40;
my $seq = int(time * 1000) * 10 + $$ % 10 + 1;
my $tag = "p245_$$";
my $flag = "$ENV{CAST_VAR}/t245-fail";
my $shim = "$ENV{CAST_VAR}/t245-shim.so";

# --- the shim: libpq's realloc() of more than 140,000 bytes fails -------

my $src = "$ENV{CAST_VAR}/t245-shim.c";
open my $fh, '>', $src or die "$src: $!";
print {$fh} <<'C';
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *
realloc(void *p, size_t n)
{
    Dl_info             info;
    const char         *flag;
    static void      *(*real)(void *, size_t);

    if (real == NULL) {
        real = (void *(*)(void *, size_t)) dlsym(RTLD_NEXT, "realloc");
    }

    flag = getenv("T245_FAIL");

    if (n > 140000 && flag != NULL && access(flag, F_OK) == 0
        && dladdr(__builtin_return_address(0), &info) != 0
        && info.dli_fname != NULL && strstr(info.dli_fname, "libpq") != NULL)
    {
        errno = ENOMEM;
        return NULL;
    }

    return real(p, n);
}
C
close $fh;
is(system('cc', '-shared', '-fPIC', '-O2', '-o', $shim, $src, '-ldl'), 0,
   'the shim built');

sub pers { return metric($_[0], $_[1]) // -1 }

sub event {
    my ($ticket, $use, $voter, @names) = @_;
    my $votes = join ',', map { qq({"u":"$_","n":1,"c":1,"ver":1}) } @names;
    return qq({"v":1,"id":"$ticket-$use","ts":1767000000000,)
        . qq("ticket":$ticket,"voter":"$voter","votes":[$votes]});
}

ok(wait_for(30, sub { pers($PERS, 'cast_persister_consumer_lag') == 0 }),
   'nothing pending before the test');
ok(cast_stack('stop', 'persister'), "the stack's persister stopped");

my $voter = 'v' x 1000;
redis_cmd('XADD', '{cast}:outbox', '*', 'e',
          event($seq, $_, $voter, "${tag}_s_$_")) for 1 .. $SMALL;
my @big = map { sprintf '%s_b_%03d_%s', $tag, $_, 'y' x 980 } 1 .. 120;
redis_cmd('XADD', '{cast}:outbox', '*', 'e',
          event($seq + 1, 1, $voter, @big));

ok(wait_for(30, sub { (metric($RELAY, 'cast_relay_backlog') // -1) == 0
                      && (metric($RELAY, 'cast_relay_inflight') // -1)
                         == 0 }),
   'the batch in Kafka');

# --- a persister with the shim, libpq's big reallocs failing --------------

open my $f, '>', $flag or die "$flag: $!";
close $f;

my $port = free_port();
my $log = "$ENV{CAST_VAR}/log/persister-245.log";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>>', $log or die "$log: $!";
    open STDERR, '>&', \*STDOUT;
    $ENV{CAST_HTTP_PORT} = $port;
    $ENV{T245_FAIL} = $flag;
    $ENV{LD_PRELOAD} = $shim;
    my $bin = $ENV{CAST_BIN} // repo_root() . '/build/bin';
    exec "$bin/cast-persister", '-c', repo_root() . '/conf/persister.conf'
        or die "exec: $!";
}

my $stored = "SELECT count(*) FROM vote_events "
    . "WHERE ticket_seq IN ($seq, $seq + 1)";

ok(wait_for(60, sub { pers($port, 'cast_persister_pg_errors_total') > 0
                      || psql_query($stored) > 0 }),
   'the persister met the failed send');
sleep 1;
my $rows = psql_query($stored);
is($rows, 0, 'no part of the batch committed while the send fails')
    or diag "rows committed: $rows";

unlink $flag;
ok(wait_for(60, sub { psql_query($stored) == $SMALL + 1
                      && pers($port, 'cast_persister_consumer_lag') == 0 }),
   'the whole batch stored once libpq can send it');
is(psql_query($stored), $SMALL + 1, 'every event, once');
is(psql_query("SELECT count(*) FROM votes WHERE username LIKE "
              . "'${tag}\\_b\\_%'"), 120, "the big event's votes");

kill 'TERM', $pid;
my $end = time + 20;
my $done = 0;
while (!$done && time < $end) {
    $done = waitpid($pid, WNOHANG);
    sleep 0.1 unless $done;
}
is($done, $pid, 'the shim persister stopped');
ok(cast_stack('start', 'persister'), "the stack's persister started");
ok(wait_for(30, sub { partitions($PERS) > 0 }), 'it has partitions');

# names Redis never counted: out of the way of cast-admin check
psql_query("DELETE FROM votes WHERE username LIKE '${tag}\\_%'");
unlink $src, $shim;

done_testing();
