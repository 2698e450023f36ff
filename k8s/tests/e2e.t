#!/usr/bin/perl
#
# make k8s-e2e: CAST on a real Kubernetes cluster, end to end.
#
# The cluster is KUBECONFIG's when it answers; otherwise the local one that
# ../shared/k8s-local/cluster.sh builds and starts (root only), with the
# stand-in images of Redis, PostgreSQL and Kafka loaded into it.  Then:
# build-and-deploy.sh builds the image and deploys the dev overlay, and
# through a port-forward to the Service cast-nginx: the old client flow
# (cas, vote, query, invalid and expired tickets), a ledger burst, one pod
# each of nginx, relay, persister, ticketd (the lease holder) and Redis
# deleted in turn while votes flow, then every acknowledged vote exactly once
# in Redis and PostgreSQL and `cast-admin check` in the cluster; the prod
# overlay with kubectl apply --dry-run=server; build-and-deploy.sh refusing
# to switch to prod in place.  Logs, the cluster's state and every pod's
# logs end up in CAST_E2E_LOGS (build/k8s-e2e); the cluster is torn down
# (the local one stopped, on another cluster the namespace deleted) unless
# KEEP=1.
#
#   CAST_E2E_LOGS   build/k8s-e2e      K8S_LOCAL   ../shared/k8s-local
#   CAST_E2E_VOTES  2000 (the burst)   KEEP        1: leave it running

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use FindBin;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use lib "$FindBin::Bin/lib", "$FindBin::Bin/../../t/lib";
use CastK8s;

my $ROOT = abs_path("$FindBin::Bin/../..");
chdir $ROOT or die "chdir $ROOT: $!";

my $NS      = 'cast';
my $LOGS    = $ENV{CAST_E2E_LOGS} || "$ROOT/build/k8s-e2e";
my $VOTES   = $ENV{CAST_E2E_VOTES} || 2000;
my $KEEP    = $ENV{KEEP} ? 1 : 0;
my $RUN     = 'e2e' . time;               # names and keys of this run
my $TAG     = image_tag();
my $PERIOD  = 2;                          # ticket period, s
my (%CL, $DEPLOYED, $TORN_DOWN);

remove_tree($LOGS);
make_path("$LOGS/pods");
logs_dir($LOGS);
$| = 1;

END {
    my $rc = $?;
    teardown() unless $TORN_DOWN;
    $? = $rc;
}

local $SIG{INT} = local $SIG{TERM} = sub { die "interrupted\n" };

note("logs in $LOGS");
cluster();
standins();
deploy();
deployment_checks();
ok(port_forward_start($NS), 'kubectl port-forward svc/cast-nginx')
    or bail('no port-forward: see port-forward.log');
client_flow();
ledger_burst();
pods_deleted_while_voting();
admin_check();
prod_overlay();
teardown();
done_testing();


# e2e-<commit>, -dirty-<time> for uncommitted changes: a cluster kept
# from an earlier run (KEEP=1) rolls its pods to a new build
sub image_tag {
    my $sha = `git rev-parse --short=12 HEAD 2>/dev/null` || "nogit\n";
    chomp $sha;
    my $dirty = `git status --porcelain --untracked-files=no 2>/dev/null`;

    return "e2e-$sha" . ($dirty ? '-dirty-' . int(time) : '');
}


# Stops the test: the details (a log's end) as diagnostics, the first line
# as the reason.
sub bail {
    my ($why) = @_;
    my ($first, $rest) = split /\n/, $why, 2;

    diag($rest) if $rest;
    teardown();
    BAIL_OUT($first);
}


# --- the cluster -------------------------------------------------------------

sub cluster {
    my $local = abs_path($ENV{K8S_LOCAL} || "$ROOT/../shared/k8s-local");

    if ($ENV{KUBECONFIG} && system("${\($ENV{KUBECTL} // 'kubectl')} get "
                                    . "--raw /readyz >/dev/null 2>&1") == 0)
    {
        %CL = (local => 0);
        pass("the cluster of KUBECONFIG=$ENV{KUBECONFIG} answers");
        bail("namespace $NS exists in that cluster: the e2e would replace "
             . "and then delete it; use another cluster or delete it first")
            if kubectl_ok('get', 'namespace', $NS);
        return;
    }
    bail('no cluster: KUBECONFIG names none that answers, and '
         . ($local // $ENV{K8S_LOCAL} // '../shared/k8s-local')
         . ' (cluster.sh) is missing') unless $local && -x "$local/cluster.sh";
    bail('the local cluster (cluster.sh) needs root') if $> != 0;

    my $dir = $ENV{K8S_LOCAL_DIR} || '/var/lib/k8s-local';
    %CL = (local => 1, sh => "$local/cluster.sh", standins => "$local/standins",
           dir => $dir);
    my $t0 = time;
    my ($ok, $tail);
    my $kubectl = "$dir/bin-v" . k8s_version($CL{sh}) . '/kubectl';
    if (local_cluster_runs($dir, $kubectl)) {
        # `up` again would rewrite kube-proxy's configuration file, and
        # kube-proxy exits when its file changes: Services would stop
        pass("local cluster already running: reused (KEEP=1 earlier)");
    } else {
        # a cluster half up (a component died) is started afresh
        step('cluster-up', $CL{sh}, 'down');
        ($ok, $tail) = step('cluster-up', $CL{sh}, 'up');
        ok($ok, sprintf('local cluster up with %s (%.0f s)', $CL{sh},
                        time - $t0))
            or bail("cluster.sh up failed:\n$tail");
    }
    $ENV{KUBECTL} = $kubectl;
    $ENV{KUBECONFIG} = "$dir/pki/admin.kubeconfig";
    $ENV{CAST_CONTAINERD_ADDRESS} = "$dir/run/containerd.sock";
    note("KUBECONFIG=$ENV{KUBECONFIG} KUBECTL=$kubectl");
}


# The Kubernetes version cluster.sh builds: K8S_VERSION, or its default.
sub k8s_version {
    my ($sh) = @_;

    return $ENV{K8S_VERSION} if $ENV{K8S_VERSION};
    open my $fh, '<', $sh or return '';
    local $/;
    my ($v) = <$fh> =~ /^K8S_VERSION=\$\{K8S_VERSION:-([\d.]+)\}/m;
    return $v // '';
}


# Every component of cluster.sh alive, and the API server answering.
sub local_cluster_runs {
    my ($dir, $kubectl) = @_;

    return 0 unless $kubectl && -x $kubectl;
    for my $c (qw(etcd kube-apiserver kube-controller-manager kube-scheduler
                  containerd kubelet kube-proxy)) {
        open my $fh, '<', "$dir/run/$c.pid" or return 0;
        my $pid = <$fh> // '';
        close $fh;
        chomp $pid;
        return 0 unless $pid =~ /^\d+$/ && kill 0, $pid;
    }
    return system("$kubectl --kubeconfig $dir/pki/admin.kubeconfig get "
                  . '--raw /readyz >/dev/null 2>&1') == 0;
}


# The third-party images, rebuilt locally and named as the manifests name
# them: nothing can be pulled here.  Built from a writable copy: COPY keeps
# the files' modes, and the Kafka start script rewrites the files of
# /opt/kafka/config, which a read-only checkout of standins/ would make
# read-only in the image ("error while preparing configs").
sub standins {
    return unless $CL{local};
    my $t0 = time;
    my $src = "$ROOT/build/k8s-standins";
    remove_tree($src);
    system('cp', '-r', $CL{standins}, $src) == 0
        && system('chmod', '-R', 'u+w', $src) == 0
        or bail("cannot copy $CL{standins} to $src");
    my ($ok, $tail) = step('standins', "$src/build.sh");
    ok($ok, sprintf('stand-in images built (%.0f s)', time - $t0))
        or bail("standins/build.sh failed:\n$tail");
    my @tags = tail("$LOGS/standins.log", 1000) =~ /^(docker\.io\/\S+)$/mg;
    is(scalar(@tags), 3, "three stand-ins: @tags");
    for my $tag (@tags) {
        ($ok, $tail) = step('standins', $CL{sh}, 'load', $tag);
        ok($ok, "$tag loaded into the cluster") or bail("load $tag:\n$tail");
    }
}


sub deploy {
    my $t0 = time;
    my @load = $CL{local} ? ('--load', 'containerd') : ();

    $DEPLOYED = 1;
    my ($ok, $tail) = step('deploy', './build-and-deploy.sh', '--overlay',
                           'dev', '--tag', $TAG, @load);
    my $log = tail("$LOGS/deploy.log", 400);
    ok($ok, sprintf('build-and-deploy.sh --overlay dev: built, loaded, '
                    . 'applied, rolled out, smoke vote (%.0f s)', time - $t0))
        or bail("build-and-deploy.sh failed:\n$tail");
    like($log, qr/^deploy: smoke: no ingress address; through a port-forward/m,
         'without an ingress controller the smoke vote used a port-forward')
        if $CL{local};
    like($log, qr/^deploy: smoke: ok /m, 'the smoke vote counted');
    my ($after) = $log =~ /rollout: every workload ready after (\d+)s/;
    note("every workload ready " . ($after // '?') . " s after apply");
}


# --- what the deployment looks like ------------------------------------------

sub deployment_checks {
    my $pods = kubectl_json('-n', $NS, 'get', 'pods');
    my (%by, $bad);
    my $inspect = "podman image inspect --format '{{.Id}}' localhost/cast:$TAG";
    my $id = $CL{local} ? `$inspect 2>/dev/null` : '';
    chomp $id;

    # pods of an earlier rollout may still be terminating
    for my $p (grep { !$_->{metadata}{deletionTimestamp} }
               @{ $pods->{items} // [] }) {
        my $c = $p->{metadata}{labels}{'app.kubernetes.io/component'} // '?';
        push @{ $by{$c} }, $p;
        for my $s (@{ $p->{status}{containerStatuses} // [] },
                   @{ $p->{status}{initContainerStatuses} // [] }) {
            my ($spec) = grep { $_->{name} eq $s->{name} }
                @{ $p->{spec}{containers} },
                @{ $p->{spec}{initContainers} // [] };
            my $where = "$p->{metadata}{name}/$s->{name}";
            $bad .= "$where: $spec->{image} is not fully qualified\n"
                if $spec->{image} !~ m{^(localhost|[^/]*\.[^/]*)/};
            $bad .= "$where: $spec->{image}, not localhost/cast:$TAG\n"
                if $spec->{image} =~ m{^localhost/cast:}
                   && $spec->{image} ne "localhost/cast:$TAG";
            $bad .= "$where: no image id\n" unless $s->{imageID};
            # the image podman built, not an older one of the same name
            $bad .= "$where: runs $s->{imageID}, podman built $id\n"
                if $id && $spec->{image} =~ m{^localhost/cast:}
                   && ($s->{imageID} // '') !~ /\Q$id\E$/;
        }
    }
    is($bad // '', '', "every container runs its image as tagged "
       . "(localhost/cast:$TAG" . ($id ? ' = ' . substr($id, 0, 12) : '')
       . ', docker.io/...)');
    is(join(' ', map { "$_=" . scalar @{ $by{$_} } } sort keys %by),
       'kafka=1 nginx=2 persister=1 postgres=1 redis=1 relay=1 ticketd=2',
       'the dev overlay\'s pods');

    # issue 14: the Service kafka must not become broker settings
    my $env = kubectl('-n', $NS, 'exec', 'kafka-0', '--', 'env');
    my @links = grep { /^KAFKA_(PORT|SERVICE_)/ } split /\n/, $env;
    is("@links", '', 'no service-link variables in the Kafka pod');
    my $props = kubectl('-n', $NS, 'exec', 'kafka-0', '--', 'cat',
                        '/opt/kafka/config/server.properties');
    like($props, qr/^process\.roles=broker,controller$/m,
         'the broker wrote its server.properties');
    is(join(' ', $props =~ /^((?:port|service\.[a-z.]+)=.*)$/mg), '',
       'server.properties has no port= or service.* from Kubernetes');

    # issue 14: migrate waited for PostgreSQL instead of crash-looping
    my ($pers) = @{ $by{persister} // [] };
    my %init = map { $_->{name} => $_ }
               @{ $pers->{status}{initContainerStatuses} // [] };
    is(($init{'wait-postgres'}{state}{terminated} // {})->{exitCode}, 0,
       'the persister\'s wait-postgres init container succeeded');
    is($init{migrate}{restartCount}, 0,
       'migrate ran once (restartCount 0): no crash loop before PostgreSQL');
}


# --- the client flow of the older implementation -----------------------------

sub client_flow {
    my @names = map { "${RUN}_flow_$_" } qw(alice bob charlie);
    my ($ticket, $left, $until) = cas_ticket();

    ok($ticket && length($ticket) == 86, 'cas: a ticket');
    like($until // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
         "cas: validUntil $until");
    ok(($left // 0) > 0 && $left <= 100, "cas: remainingUsage $left");

    my $vote;
    for (1 .. 3) {
        (undef, my $json) = graphql('mutation($u:[String!]!,$c:[Int!],'
            . '$t:String!){vote(usernames:$u,voteCount:$c,ticket:$t)'
            . '{success message usernames votes}}',
            { u => \@names, c => [1, 2, 3], t => $ticket });
        $vote = $json && $json->{data} && $json->{data}{vote};
        last unless $vote && $vote->{message} eq 'Ticket expired';
        ($ticket) = cas_ticket();
    }
    is_deeply($vote, { success => JSON::PP::true,
                       message => 'Votes recorded successfully',
                       usernames => \@names, votes => [1, 2, 3] },
              'vote for alice, bob and charlie with [1, 2, 3]');

    my @counts = map {
        my (undef, $j) = graphql('query($u:String!){query(username:$u)}',
                                 { u => $_ });
        $j && $j->{data} ? $j->{data}{query} : undef;
    } @names;
    is_deeply(\@counts, [1, 2, 3], 'query: 1, 2 and 3 votes');

    my $res = HTTP::Tiny->new(timeout => 5)->get(port_forward_url()
        . '?query=' . '%7Bquery(username%3A%22' . $names[2] . '%22)%7D');
    is($res->{content}, '{"data":{"query":3}}', 'GET /graphql?query=...');

    (undef, my $json) = graphql('mutation($t:String!){vote(usernames:'
        . "[\"$names[0]\"],ticket:\$t){success message}}",
        { t => 'not-a-ticket' });
    is_deeply($json && $json->{data}{vote},
              { success => JSON::PP::false, message => 'Invalid ticket' },
              'an invalid ticket is refused');

    # two periods and the grace later the ticket is neither current nor
    # previous
    sleep 2 * $PERIOD + 1;
    (undef, $json) = graphql('mutation($t:String!){vote(usernames:'
        . "[\"$names[0]\"],ticket:\$t){success message}}", { t => $ticket });
    is_deeply($json && $json->{data}{vote},
              { success => JSON::PP::false, message => 'Ticket expired' },
              'an expired ticket is refused');
    (undef, $json) = graphql('query($u:String!){query(username:$u)}',
                             { u => $names[0] });
    is($json && $json->{data}{query}, 1, 'the refused votes changed nothing');
}


# --- votes: a burst, then pods deleted while they flow -----------------------

sub ledger_burst {
    my @names = map { "${RUN}_burst_$_" } 1 .. 200;
    my $t0 = time;
    my $run = traffic_start(names => \@names, calls => $VOTES, tag => 'burst');
    my $res = traffic_result($run);
    my $st = $res->{stat} // {};

    is($res->{error}, undef, 'burst: the traffic ran');
    note(sprintf('burst: %d vote calls in %.0f s: %d acknowledged, %d '
                 . 'refused, %d without an answer (resent %d)',
                 $VOTES, time - $t0, map { $st->{$_} // 0 }
                 qw(ok rejected unsure resent)));
    ok(($st->{ok} // 0) >= $VOTES * 0.9,
       "burst: at least 90 % of $VOTES votes acknowledged ("
       . ($st->{ok} // 0) . ')');
    is($st->{unsettled}, 0, 'burst: every vote got a definite answer');
    my $why = wait_agree($NS, "${RUN}_burst_", $res->{ledger}, 120);
    is($why, '', 'burst: Redis and PostgreSQL hold every acknowledged vote '
       . 'exactly once (' . scalar(keys %{ $res->{ledger} }) . ' names)');
}


sub pods_deleted_while_voting {
    my @names = map { "${RUN}_chaos_$_" } 1 .. 200;
    my $run = traffic_start(names => \@names, calls => 0, tag => 'chaos');

    votes_flow($run, 'before any pod is deleted');
    for my $part (qw(nginx relay persister ticketd redis)) {
        my ($pod, $watch);

        if ($part eq 'ticketd') {
            my $lease = kubectl('-n', $NS, 'exec', 'redis-0', '-c', 'redis',
                                '--', 'redis-cli', 'GET', '{cast}:lease');
            ($pod) = $lease =~ /^([^:\s]+):/;
            $watch = ticket_watch_start();
            sleep 1;
        }
        $pod = delete_pod($part, $pod) or next;
        if ($watch) {
            sleep 3 * $PERIOD;
            my $w = ticket_watch_result($watch);
            is($w->{errors}, 0, "ticketd: while the lease holder $pod was "
               . "replaced, every cas found a current ticket ($w->{tickets} "
               . "answers, $w->{distinct} tickets"
               . ($w->{errors} ? ", first error $w->{first_error}" : '') . ')');
            ok($w->{distinct} >= 3, 'ticketd: the tickets kept rotating');
        }
        votes_flow($run, "after $part pod $pod was replaced");
    }
    traffic_stop($run);
    my $res = traffic_result($run);
    my $st = $res->{stat} // {};

    is($res->{error}, undef, 'chaos: the traffic ran');
    note(sprintf('chaos: %d acknowledged, %d refused, %d without an answer '
                 . '(resent %d)', map { $st->{$_} // 0 }
                 qw(ok rejected unsure resent)));
    is($st->{unsettled}, 0, 'chaos: every vote got a definite answer');
    my $why = wait_agree($NS, "${RUN}_chaos_", $res->{ledger}, 180);
    is($why, '', 'chaos: Redis and PostgreSQL hold every acknowledged vote '
       . 'exactly once (' . ($st->{ok} // 0) . ' votes, '
       . scalar(keys %{ $res->{ledger} }) . ' names)');
}


# Deletes one pod of a part (the given one, or the first) and waits for
# the replacement to be ready; the deleted pod's name.
sub delete_pod {
    my ($part, $name) = @_;
    my $sel = "app.kubernetes.io/component=$part";
    my $before = kubectl_json('-n', $NS, 'get', 'pods', '-l', $sel);
    my @pods = @{ $before->{items} // [] };
    my $want = @pods;
    my ($victim) = grep { !$name || $_->{metadata}{name} eq $name } @pods;

    ok($victim, "$part: a pod to delete") or return;
    my $uid = $victim->{metadata}{uid};
    $name = $victim->{metadata}{name};
    my $t0 = time;
    kubectl('-n', $NS, 'delete', 'pod', $name, '--wait=false');

    my ($ready, $gone);
    while (time - $t0 < 240) {
        my $now = kubectl_json('-n', $NS, 'get', 'pods', '-l', $sel);
        my @items = @{ $now->{items} // [] };
        $gone = !grep { $_->{metadata}{uid} eq $uid } @items;
        $ready = grep {
            !$_->{metadata}{deletionTimestamp}
            && grep { $_->{type} eq 'Ready' && $_->{status} eq 'True' }
                    @{ $_->{status}{conditions} // [] }
        } @items;
        last if $gone && $ready == $want;
        sleep 1;
    }
    ok($gone && $ready == $want, sprintf('%s: pod %s deleted, %d of %d '
       . 'ready again after %.0f s', $part, $name, $ready, $want, time - $t0));
    return $name;
}


# Waits (60 s at most) until the traffic got two more rounds of votes
# acknowledged.
sub votes_flow {
    my ($run, $when) = @_;
    my ($r0, $ok0) = traffic_rounds($run);
    my $t0 = time;
    my ($r, $ok) = ($r0, $ok0);

    while (time - $t0 < 60) {
        ($r, $ok) = traffic_rounds($run);
        last if $r >= $r0 + 2 && $ok > $ok0;
        sleep 0.5;
    }
    ok($r >= $r0 + 2 && $ok > $ok0, "votes acknowledged $when ("
       . ($ok - $ok0) . ' more)');
}


sub admin_check {
    my ($ok, $tail) = step('admin-check', $ENV{KUBECTL} // 'kubectl', '-n',
                           $NS, 'exec', 'deploy/cast-persister', '-c',
                           'persister', '--', 'cast-entrypoint', 'admin',
                           'check', '--wait', '120');
    ok($ok, 'cast-admin check in the cluster: Redis and PostgreSQL agree')
        or diag($tail);
}


# --- the prod overlay --------------------------------------------------------

sub prod_overlay {
    my $ns = "cast-e2e-prod-$$";           # a kept cluster may still be
                                           # deleting an earlier one
    my $dir = "$LOGS/prod-dry-run";

    # its own namespace: the StatefulSets of the dev deployment could not
    # take prod's volume claim templates
    make_path($dir);
    open my $fh, '>', "$dir/kustomization.yaml" or die $!;
    print {$fh} "resources:\n  - ../../../k8s/overlays/prod\n"
              . "namespace: $ns\n";
    close $fh;
    kubectl('create', 'namespace', $ns);
    my ($ok, $tail) = step('prod-dry-run', $ENV{KUBECTL} // 'kubectl',
                           'apply', '--dry-run=server', '-k', $dir);
    ok($ok, 'kubectl apply --dry-run=server -k k8s/overlays/prod: the API '
       . 'server accepts every resource') or diag($tail);
    kubectl('delete', 'namespace', $ns, '--wait=false');

    # switching the live dev deployment to prod is refused before anything
    # is applied, saying why
    my $before = generations();
    ($ok, $tail) = step('prod-switch', './build-and-deploy.sh', '--overlay',
                        'prod', '--tag', $TAG, '--no-build', '--load', 'none',
                        '--no-smoke');
    ok(!$ok, 'build-and-deploy.sh --overlay prod over dev stops');
    my $names = qr{volume claim templates differ:\n.*statefulset/kafka/data: };
    my $sizes = qr{the overlay asks 50Gi .*the cluster has 1Gi };
    like($tail, qr/$names$sizes/,
         'and names the StatefulSet volumes that differ');
    like($tail, qr/--cascade=orphan/, 'and says how to move');
    is(generations(), $before, 'nothing was applied (generations of every '
       . 'Deployment and StatefulSet unchanged)');
}


sub generations {
    my $l = kubectl_json('-n', $NS, 'get', 'deployments,statefulsets') // {};

    return join ' ', map { "$_->{metadata}{name}=$_->{metadata}{generation}" }
                     sort { $a->{metadata}{name} cmp $b->{metadata}{name} }
                     @{ $l->{items} // [] };
}


# --- the end -----------------------------------------------------------------

sub collect_logs {
    my $state = "$LOGS/cluster-state.txt";

    system("${\($ENV{KUBECTL} // 'kubectl')} get all,pvc,pv,ingress,"
           . "networkpolicy -A -o wide >$state 2>&1");
    system("${\($ENV{KUBECTL} // 'kubectl')} get events -A "
           . "--sort-by=.lastTimestamp >>$state 2>&1");
    my $pods = kubectl_json('-n', $NS, 'get', 'pods') // {};
    for my $p (@{ $pods->{items} // [] }) {
        my $n = $p->{metadata}{name};
        system("${\($ENV{KUBECTL} // 'kubectl')} -n $NS describe pod $n "
               . ">$LOGS/pods/$n.describe.txt 2>&1");
        for my $c (@{ $p->{spec}{initContainers} // [] },
                   @{ $p->{spec}{containers} }) {
            for my $prev ('', '--previous') {
                my $f = "$LOGS/pods/$n.$c->{name}"
                        . ($prev ? '.previous' : '') . '.log';
                system("${\($ENV{KUBECTL} // 'kubectl')} -n $NS logs $n "
                       . "-c $c->{name} $prev >$f 2>&1");
                unlink $f if $prev && -s $f < 200;
            }
        }
    }
    if ($CL{local}) {
        for my $f (glob("$CL{dir}/logs/*.log")) {
            system("tail -n 3000 $f >$LOGS/pods/node-"
                   . (split m{/}, $f)[-1]);
        }
    }
}


sub teardown {
    return if $TORN_DOWN++;
    port_forward_stop();
    return unless %CL;
    collect_logs();
    if ($KEEP) {
        diag("KEEP=1: left running; KUBECONFIG=$ENV{KUBECONFIG}"
             . ($CL{local} ? " KUBECTL=$ENV{KUBECTL}" : ''));
        return;
    }
    my ($ok, $tail);
    if ($CL{local}) {
        ($ok, $tail) = step('teardown', $CL{sh}, 'down');
    } elsif ($DEPLOYED) {
        ($ok, $tail) = step('teardown', $ENV{KUBECTL} // 'kubectl', 'delete',
                            'namespace', $NS, '--timeout=120s');
    } else {
        $ok = 1;
    }
    ok($ok, $CL{local} ? 'local cluster stopped (cluster.sh down)'
                       : "namespace $NS deleted") or diag($tail);
}
