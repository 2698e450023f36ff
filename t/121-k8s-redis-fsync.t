#!/usr/bin/perl
#
# The prod overlay's Redis fsync settings, offline (no cluster): the
# StatefulSet's start script, run with stand-ins for redis-cli (the
# Sentinels' answer) and redis-server (prints its arguments), gives the
# pod that starts as the primary appendfsync always and a pod that starts
# as a replica everysec (redis-server takes the last of a setting given
# twice); and the prod nginx.conf turns cast_redis_primary_fsync on with
# cast_redis_min_replicas (t/090 runs nginx -t on it with the module).

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;

my $ROOT = File::Spec->rel2abs(dirname(__FILE__) . '/..');
chdir $ROOT or die "chdir $ROOT: $!";

my $TMP = tempdir(CLEANUP => 1);

chomp(my $tool_path = `k8s/tests/tools.sh --path`);
$ENV{PATH} = "$tool_path:$ENV{PATH}";
plan skip_all => 'python with yaml missing: run k8s/tests/tools.sh'
    unless system('python -c "import yaml" 2>/dev/null') == 0;

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($f, $text, $mode) = @_;
    open(my $fh, '>', $f) or die "$f: $!";
    print $fh $text;
    close $fh;
    chmod $mode, $f if $mode;
}

# the redis container of the overlay's StatefulSet patch
my $json = `python -c 'import json, sys, yaml
json.dump(yaml.safe_load(sys.stdin), sys.stdout)' \\
    <k8s/overlays/prod/redis-replicated.yaml`;
my $c = decode_json($json)->{spec}{template}{spec}{containers}[0];
my @cmd = @{ $c->{command} };
my @args = @{ $c->{args} };
is("@cmd[0, 1]", 'sh -c', 'redis starts through a shell script');

# stand-ins on PATH: redis-cli answers as $SENTINEL_SAYS, redis-server
# prints its arguments, one a line
my $bin = "$TMP/bin";
mkdir $bin or die "$bin: $!";
spew("$bin/redis-cli", <<'SH', 0755);
#!/bin/sh
[ -n "${SENTINEL_SAYS:-}" ] || exit 1
printf '%s\n6379\n' "$SENTINEL_SAYS"
SH
spew("$bin/redis-server", <<'SH', 0755);
#!/bin/sh
printf '%s\n' "$@"
SH

# the pod's start: what redis-server got, and the appendfsync it keeps
sub start {
    my (%env) = @_;
    local $ENV{PATH} = "$bin:$ENV{PATH}";
    local $ENV{SENTINEL_SAYS} = $env{sentinel} // '';
    local $ENV{HOSTNAME} = $env{hostname};
    local $ENV{POD_IP} = $env{ip};
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        exec @cmd, @args or die "exec: $!";
    }
    chomp(my @got = <$fh>);
    close $fh;
    my ($fsync, $of);
    for my $i (0 .. $#got - 1) {
        $fsync = $got[$i + 1] if $got[$i] eq '--appendfsync';
        $of = $got[$i + 1] if $got[$i] eq '--replicaof';
    }
    return { fsync => $fsync // 'none', replicaof => $of // 'none' };
}

is_deeply(start(hostname => 'redis-0', ip => '10.0.0.9'),
          { fsync => 'always', replicaof => 'none' },
          'first start, redis-0: the primary, appendfsync always');
is_deeply(start(hostname => 'redis-1', ip => '10.0.0.8'),
          { fsync => 'everysec', replicaof => 'redis-0.redis-headless' },
          'first start, redis-1: a replica of redis-0, everysec');
is_deeply(start(hostname => 'redis-0', ip => '10.0.0.9',
                sentinel => '10.0.0.5'),
          { fsync => 'everysec', replicaof => '10.0.0.5' },
          'redis-0 again while the Sentinels name another: a replica, '
          . 'everysec');
is_deeply(start(hostname => 'redis-2', ip => '10.0.0.5',
                sentinel => '10.0.0.5'),
          { fsync => 'always', replicaof => 'none' },
          'the pod the Sentinels name: the primary, always');

# --- nginx: the primary fsyncs always whichever Redis it is ------------------

my $conf = slurp('k8s/overlays/prod/files/nginx.conf');
like($conf, qr/^\s*cast_redis_min_replicas\s+[1-9]\d*;/m,
     'prod nginx waits for replicas');
like($conf, qr/^\s*cast_redis_primary_fsync\s+on;/m,
     'and sets appendfsync always on the primary');

# t/090 runs nginx -t on it with the module, as on the base's

done_testing();
