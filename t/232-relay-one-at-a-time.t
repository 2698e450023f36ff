# Packed outbox entries (docs/redis.md, "Outbox entry") are written while
# a relay says it reads them; a relay of an older CAST reads them too,
# finds no field "e", produces one empty message for each (dead-letter)
# and trims them as delivered.  Kubernetes' default rollout of a
# Deployment starts the new pod beside the old one (maxSurge 1 of 1):
# during the rollout that brought packed entries the new relay set the
# key, and the old one, still running until the new was ready and it had
# stopped, dead-lettered and trimmed the votes of that window, perhaps
# before the new relay read them.  The relay's Deployment is Recreate:
# the old pod is gone before the new one starts.  Offline: the manifests
# as written (t/090-k8s.t renders the overlays with kustomize).

use strict;
use warnings;
use File::Basename qw(dirname);
use Test::More;

my $root = dirname(__FILE__) . '/..';

sub slurp {
    my ($f) = @_;
    open my $fh, '<', "$root/$f" or die "$f: $!\n";
    local $/;
    return <$fh>;
}

my $relay = slurp('k8s/base/relay.yaml');
my ($deploy) = $relay =~ /^(kind: Deployment\n.*?)(?:^---|\z)/ms;

ok($deploy, 'k8s/base/relay.yaml holds the relay\'s Deployment');
like($deploy, qr/^  replicas: 1$/m, '  of one replica');
like($deploy, qr/^  strategy:\n    type: Recreate$/m,
     '  replaced by Recreate, never beside an older one');

# no overlay patches the strategy or the replicas back
for my $overlay (glob("$root/k8s/overlays/*/kustomization.yaml")) {
    my $k = do { open my $fh, '<', $overlay or die; local $/; <$fh> };
    my ($name) = $overlay =~ m{overlays/([^/]+)/};
    unlike($k, qr{/spec/strategy|maxSurge}, "$name: no strategy patched");
    unlike($k, qr/- name: cast-relay\n\s+count: (?!1\b)/,
           "$name: the relay stays at one replica");
}

done_testing();
