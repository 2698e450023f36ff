#!/usr/bin/perl
#
# Offline checks of the deployment: the Kubernetes manifests, the
# Dockerfile, build-and-deploy.sh and every shell script of the repository.
# No cluster and no container engine: every overlay is rendered with
# kustomize, validated against the Kubernetes JSON schemas shipped by the
# PyPI package kubernetes-validate, and checked against CAST's policies.
# The tools are pinned and installed by k8s/tests/tools.sh (make deps).

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Find;
use File::Spec;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;

my $ROOT = File::Spec->rel2abs(dirname(__FILE__) . '/..');
chdir $ROOT or die "chdir $ROOT: $!";

my @OVERLAYS     = qw(dev prod);
my @K8S_VERSIONS = qw(1.30.0 1.33.0 1.37.0);
my @STORES       = (
    # component, port, the CAST components that may connect
    [ 'redis',    6379, [qw(nginx persister relay ticketd)] ],
    [ 'postgres', 5432, [qw(persister)] ],
    [ 'kafka',    9092, [qw(persister relay)] ],
);
# in prod, the Redis Sentinels also reach Redis (k8s/overlays/prod)
my %STORE_PEERS = (prod => { redis => ['redis-sentinel'] });
my %DAEMON_SRC = (
    ticketd => 'ticketd', relay => 'relay', persister => 'persister',
    migrate => 'admin',
);

my $TMP = tempdir(CLEANUP => 1);

chomp(my $tool_path = `k8s/tests/tools.sh --path`);
$ENV{PATH} = "$tool_path:$ENV{PATH}";

for my $tool (qw(kustomize kubernetes-validate hadolint shellcheck python)) {
    ok(which($tool), "$tool is installed")
        or BAIL_OUT("$tool missing: run k8s/tests/tools.sh (make deps)");
}


# --- the ConfigMap's copy of conf/ -----------------------------------------

is(system('k8s/sync-conf.sh --check >/dev/null 2>&1'), 0,
   'k8s/base/files is what k8s/sync-conf.sh makes of conf/');

{
    my $kust = slurp('k8s/base/kustomization.yaml');
    my %listed = map { $_ => 1 } $kust =~ m{^\s+- files/(\S+)$}mg;
    my %present = map { (m{([^/]+)$})[0] => 1 } glob('k8s/base/files/*');
    is_deeply([sort keys %listed], [sort keys %present],
              'configMapGenerator lists exactly the files in k8s/base/files');
}


# The generated nginx.conf files (base and prod) with the real module:
# nginx -t, with only the container's absolute paths and the Redis and
# Sentinel hosts mapped to this machine.
for my $file ('k8s/base/files/nginx.conf',
              'k8s/overlays/prod/files/nginx.conf')
{
    SKIP: {
        my $so = "$ROOT/build/ngx_http_cast_module.so";
        skip 'build/ngx_http_cast_module.so not built (make module)', 1
            unless -f $so;

        (my $name = $file) =~ s{\W+}{-}g;
        my $dir = "$TMP/nginx-$name";
        mkdir $dir or die "$dir: $!";
        open(my $fh, '>', "$dir/ticket-key") or die $!;
        print $fh 'k' x 64;
        close $fh;
        my $conf = slurp($file);
        $conf =~ s{/usr/lib/nginx/modules/ngx_http_cast_module\.so}{$so}g;
        $conf =~ s{/usr/share/cast/}{$ROOT/}g;
        $conf =~ s{/etc/cast/secret/ticket-key}{$dir/ticket-key}g;
        $conf =~ s{cast_redis(\s+)redis:6379;}{cast_redis${1}127.0.0.1:6379;};
        $conf =~ s{redis-sentinel:26379}{127.0.0.1:26379}g;
        open($fh, '>', "$dir/nginx.conf") or die $!;
        print $fh $conf;
        close $fh;
        my $res = `nginx -t -e stderr -p '$dir/' -c '$dir/nginx.conf' 2>&1`;
        is($?, 0, "nginx -t accepts $file with the module") or diag($res);
    }
}


# --- render and validate ---------------------------------------------------

my %docs;

for my $overlay (@OVERLAYS) {
    my $out = "$TMP/$overlay.yaml";

    is(system("kustomize build k8s/overlays/$overlay >$out 2>$out.err"), 0,
       "kustomize build k8s/overlays/$overlay")
        or diag(slurp("$out.err"));

    for my $v (@K8S_VERSIONS) {
        my $res = `kubernetes-validate --strict --quiet -k $v $out 2>&1`;
        is($?, 0, "$overlay: every resource valid (strict) for Kubernetes $v")
            or diag($res);
    }

    my $json = `python -c 'import json, sys, yaml
json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)' <$out`;
    $docs{$overlay} = decode_json($json || '[]');
    ok(@{ $docs{$overlay} } > 10, "$overlay: rendered "
       . scalar(@{ $docs{$overlay} }) . ' resources');

    # GraphiQL: off in prod (its own nginx.conf, k8s/sync-conf.sh), on else
    my ($cm) = grep { $_->{kind} eq 'ConfigMap'
                      && $_->{metadata}{name} =~ /^cast-conf/ }
               @{ $docs{$overlay} };
    my $gq = $overlay eq 'prod' ? 'off' : 'on';
    like($cm->{data}{'nginx.conf'} // '', qr/^\s*cast_graphiql\s+$gq;/m,
         "$overlay: the ConfigMap's nginx.conf has cast_graphiql $gq");
}


# --- policies, per overlay -------------------------------------------------

my $dry = `./build-and-deploy.sh --dry-run --overlay dev 2>&1`;
my ($secret_keys) = $dry =~ /secret cast-secrets keys: ([^\n(]+)/;
my %secret_keys = map { $_ => 1 } split ' ', ($secret_keys // '');
ok(%secret_keys, "build-and-deploy.sh generates cast-secrets ($secret_keys)");

for my $overlay (@OVERLAYS) {
    my @docs = @{ $docs{$overlay} };

    check_workloads($overlay, \@docs);
    check_nginx($overlay, \@docs);
    check_ingress($overlay, \@docs);
    check_network_policies($overlay, \@docs);
    check_stores($overlay, \@docs);
    check_services($overlay, \@docs);
    check_daemon_env($overlay, \@docs);

    my @names = map { lc($_->{kind}) . "/$_->{metadata}{name}" }
                grep { $_->{kind} =~ /^(Deployment|StatefulSet)$/ } @docs;
    my $dry_o = `./build-and-deploy.sh --dry-run --overlay $overlay 2>&1`;
    is($?, 0, "$overlay: build-and-deploy.sh --dry-run succeeds");
    for my $w (@names) {
        like($dry_o, qr{rollout status \Q$w\E }, "$overlay: waits for $w");
    }
}


# --- Dockerfile ----------------------------------------------------------------

{
    my $res = `hadolint --no-color Dockerfile 2>&1`;
    is($?, 0, 'hadolint: the Dockerfile parses and passes') or diag($res);

    my $df = slurp('Dockerfile');
    $df =~ s/\\\n/ /g;
    my %arg = $df =~ /^ARG\s+(\w+)=(\S+)/mg;
    my @from = $df =~ /^FROM\s+(\S+)/mg;

    is(scalar(@from), 2, 'Dockerfile: two stages (build, runtime)');
    is_deeply([ map { s/\$\{DEBIAN_IMAGE\}/$arg{DEBIAN_IMAGE}/r } @from ],
              [ ($arg{DEBIAN_IMAGE}) x 2 ],
              'every stage from the same base image');
    unlike($df, qr{^RUN\b[^\n]*\bnpm\b}m, 'no npm run inside the image'
           . ' build (no registry needed there)');
    like($df, qr{^COPY html/ /usr/share/cast/html/$}m,
         'runtime stage takes the pages (root of the synced nginx.conf)');
    like($df, qr{test -s /usr/share/cast/html/static/vendor/graphiql\.min\.js},
         'and refuses a build context without the pinned npm files');
    like(slurp('build-and-deploy.sh'), qr{^\s+run "\$ROOT/scripts/web-assets\.sh"$}m,
         'build-and-deploy.sh installs them before it builds');
    unlike(slurp('.dockerignore'), qr{^/?html(/static(/vendor)?)?/?\s*$}m,
           '.dockerignore lets them into the build context');
    like($arg{DEBIAN_IMAGE} // '', qr/^debian:12\.\d+(-slim)?$/,
         'the base image is Debian 12 with a pinned point release');
    ok(!exists $arg{NGINX_VERSION} && $df !~ /\bnginx(-dev|-common)?=[^\$]/,
       'nginx is not pinned to a Debian revision (security updates remove'
       . ' old ones)');

    my $build = $df =~ /^FROM \S+ AS build\s*$(.*?)^FROM /ms ? $1 : '';
    my $run = $df =~ /.*^FROM [^\n]*$(.*)/ms ? $1 : '';
    my @installs = $build =~ /apt-get install ([^&]*)/g;
    ok(grep({ /\snginx\s/ && /\snginx-dev\s/ } @installs),
       'build stage installs nginx and nginx-dev in one apt transaction');
    like($build, qr/apt-get download\s+"nginx=\$\(dpkg-query[^)]*nginx\)"\s+"nginx-common=\$\(dpkg-query[^)]*nginx-common\)"/,
         'build stage keeps the nginx packages it built against');
    like($run, qr/^COPY --from=build \/debs\/ \/tmp\/debs\/$/m,
         'runtime stage takes those packages');
    like($run, qr{apt-get install[^&]*\s/tmp/debs/nginx_\*\.deb\s+/tmp/debs/nginx-common_\*\.deb\s},
         'runtime stage installs exactly them');
    unlike($run, qr/apt-get install[^&]*\snginx\s/,
           'runtime stage installs no other nginx');
    like($run, qr/load_module \/usr\/lib\/nginx\/modules\/ngx_http_cast_module\.so;.*nginx -t/s,
         'runtime stage proves nginx loads the module');
    like($build, qr/make\b.*\ball\b/, 'build stage runs make all');
    for my $lib (qw(libhiredis0.14 librdkafka1 libpq5 libcjson1 libssl3)) {
        like($run, qr/\s\Q$lib\E\s/, "runtime stage installs $lib");
    }
    my ($user) = $run =~ /^USER\s+(\S+)/m;
    ok(defined $user && $user !~ /^(0|root)(:|$)/,
       'runtime stage runs as a non-root user (' . ($user // 'none') . ')');
    like($run, qr/^EXPOSE\s+8080\b/m, 'runtime stage exposes 8080');
    for my $src ($run =~ /^COPY\s+(?!--from)(\S+)/mg) {
        ok(-e $src, "COPY source $src exists");
        ok(!dockerignored($src), "COPY source $src is not in .dockerignore");
    }
}


# --- every shell script: shellcheck ----------------------------------------

{
    my @scripts = shell_scripts();
    ok(scalar(grep { $_ eq 'build-and-deploy.sh' } @scripts),
       'build-and-deploy.sh is among the ' . scalar(@scripts)
       . ' shell scripts found');
    for my $s (@scripts) {
        my $res = `shellcheck -x '$s' 2>&1`;
        is($?, 0, "shellcheck $s") or diag($res);
    }
}

done_testing();


# --- checks --------------------------------------------------------------------

sub check_workloads {
    my ($overlay, $docs) = @_;

    for my $w (grep { $_->{kind} =~ /^(Deployment|StatefulSet|Job)$/ } @$docs) {
        my $name = "$overlay: $w->{kind}/$w->{metadata}{name}";
        my $pod = $w->{spec}{template};
        my $ps = $pod->{spec};
        my $psc = $ps->{securityContext} // {};
        my $writable = $pod->{metadata}{annotations}{'cast.io/writable-root'};

        is($ps->{automountServiceAccountToken}, JSON::PP::false,
           "$name: no service account token");
        ok(!$ps->{hostNetwork} && !$ps->{hostPID} && !$ps->{hostIPC},
           "$name: no host namespaces");
        ok(!grep({ $_->{hostPath} } @{ $ps->{volumes} // [] }),
           "$name: no hostPath volume");
        # the Kafka image makes a broker setting of every KAFKA_* variable,
        # Kubernetes would add KAFKA_PORT=tcp://... for the Service kafka
        is($ps->{enableServiceLinks}, JSON::PP::false,
           "$name: no service-link variables");

        my @containers = (map({ [ $_, 0 ] } @{ $ps->{containers} }),
                          map({ [ $_, 1 ] } @{ $ps->{initContainers} // [] }));
        for (@containers) {
            my ($c, $init) = @$_;
            my $cn = "$name/$c->{name}";
            my $sc = $c->{securityContext} // {};
            my $eff = sub { $sc->{$_[0]} // $psc->{$_[0]} };

            my ($tag) = $c->{image} =~ /^[^@]+:([^:\/]+)$/;
            ok(defined $tag && $tag ne 'latest',
               "$cn: image $c->{image} has a pinned tag");
            # as containerd names it: cast:TAG would be docker.io/library/
            like($c->{image}, qr{^(localhost|[^/]*[.:][^/]*)/[^/]+(/[^/]+)*:},
                 "$cn: image $c->{image} is fully qualified");
            like($c->{imagePullPolicy} // '', qr/^(IfNotPresent|Never)$/,
                 "$cn: imagePullPolicy IfNotPresent or Never");

            for my $r (qw(requests limits)) {
                for my $k (qw(cpu memory)) {
                    ok(defined $c->{resources}{$r}{$k}, "$cn: $r.$k set");
                }
            }
            unless ($init) {
                for my $p (qw(readinessProbe livenessProbe)) {
                    ok($c->{$p}, "$cn: $p");
                    probe_port_ok($cn, $c, $c->{$p}) if $c->{$p};
                }
            }

            is($eff->('runAsNonRoot'), JSON::PP::true, "$cn: runAsNonRoot");
            ok(($eff->('runAsUser') // 1) != 0, "$cn: runAsUser is not 0");
            is($sc->{allowPrivilegeEscalation}, JSON::PP::false,
               "$cn: allowPrivilegeEscalation false");
            ok(!$sc->{privileged}, "$cn: not privileged");
            is_deeply($sc->{capabilities}{drop}, ['ALL'],
                      "$cn: drops ALL capabilities");
            ok(!$sc->{capabilities}{add}, "$cn: adds no capability");
            is(($eff->('seccompProfile') // {})->{type}, 'RuntimeDefault',
               "$cn: seccomp RuntimeDefault");
            if ($writable) {
                ok(length($writable) > 20,
                   "$cn: writable root filesystem, because $writable");
            } else {
                is($sc->{readOnlyRootFilesystem}, JSON::PP::true,
                   "$cn: read-only root filesystem");
            }
        }
    }
}


sub probe_port_ok {
    my ($cn, $c, $probe) = @_;
    my $port = ($probe->{httpGet} // $probe->{tcpSocket} // {})->{port};

    return pass("$cn: exec probe") if $probe->{exec};
    ok(grep({ $_->{name} eq $port || $_->{containerPort} eq $port }
            @{ $c->{ports} // [] }),
       "$cn: probe port $port is a container port");
}


sub check_nginx {
    my ($overlay, $docs) = @_;
    my $d = find_doc($docs, 'Deployment', 'cast-nginx');
    my $hpa = find_doc($docs, 'HorizontalPodAutoscaler', 'cast-nginx');
    my $pdb = find_doc($docs, 'PodDisruptionBudget', 'cast-nginx');
    my $tick = find_doc($docs, 'Deployment', 'cast-ticketd');
    my $c = $d->{spec}{template}{spec}{containers}[0];

    ok($d->{spec}{replicas} >= 2, "$overlay: nginx replicas >= 2");
    is($c->{readinessProbe}{httpGet}{path}, '/readyz',
       "$overlay: nginx readiness /readyz");
    is($c->{livenessProbe}{httpGet}{path}, '/healthz',
       "$overlay: nginx liveness /healthz");
    is($hpa->{spec}{scaleTargetRef}{name}, 'cast-nginx',
       "$overlay: the HPA scales cast-nginx");
    ok($hpa->{spec}{minReplicas} >= 2
       && $hpa->{spec}{maxReplicas} > $hpa->{spec}{minReplicas},
       "$overlay: HPA $hpa->{spec}{minReplicas}..$hpa->{spec}{maxReplicas}");
    is_deeply($pdb->{spec}{selector}{matchLabels},
              $d->{spec}{selector}{matchLabels},
              "$overlay: the PDB covers the nginx pods");
    ok($pdb->{spec}{minAvailable} < $hpa->{spec}{minReplicas},
       "$overlay: the PDB leaves room to drain a node");
    is($tick->{spec}{replicas}, 2, "$overlay: ticketd runs 2 replicas");
    my %tenv = map { $_->{name} => $_->{value} }
               @{ $tick->{spec}{template}{spec}{containers}[0]{env} // [] };
    ok(($tenv{CAST_TICKET_GRACE_MS} // 0) > 0
       && $tenv{CAST_TICKET_GRACE_MS} < 2000,
       "$overlay: ticketd grace covers a round trip, under a period ("
       . ($tenv{CAST_TICKET_GRACE_MS} // 0) . ' ms)');
}


sub check_ingress {
    my ($overlay, $docs) = @_;
    my @ing = grep { $_->{kind} eq 'Ingress' } @$docs;
    my $conf = slurp('k8s/base/files/nginx.conf');

    is(scalar(@ing), 1, "$overlay: one Ingress");
    my $ing = $ing[0] or return;
    my $ann = $ing->{metadata}{annotations} // {};

    is($ing->{spec}{ingressClassName}, 'nginx',
       "$overlay: Ingress class nginx (ingress-nginx)");
    is_deeply([ grep { /rewrite-target|app-root|use-regex|configuration-snippet/ }
                keys %$ann ], [],
              "$overlay: no annotation that rewrites or regex-matches paths");

    my @paths = map { @{ $_->{http}{paths} } } @{ $ing->{spec}{rules} };
    my ($gql) = grep { $_->{path} eq '/graphql' } @paths;
    ok($gql, "$overlay: the Ingress routes /graphql") or return;
    like($gql->{pathType}, qr/^(Prefix|Exact)$/,
         "$overlay: /graphql pathType $gql->{pathType}");
    my %routed = map { ($_->{path} => $_->{pathType}) } @paths;
    is($routed{'/'}, 'Exact', "$overlay: the results page / is routed");
    is($routed{'/static/'}, 'Prefix',
       "$overlay: the pages' files /static/ are routed");
    like($conf, qr{location\s+/\s*\{\s*root\s+/usr/share/cast/html;},
         "$overlay: nginx.conf serves them from the image's html/");

    # follow /graphql to the nginx location that answers it
    my $svc = find_doc($docs, 'Service', $gql->{backend}{service}{name});
    my ($sp) = grep { $_->{name} eq ($gql->{backend}{service}{port}{name} // '')
                      || $_->{port} eq ($gql->{backend}{service}{port}{number} // '') }
               @{ $svc->{spec}{ports} // [] };
    ok($sp, "$overlay: the Ingress backend port is a port of the Service");
    my ($pod) = grep { $_->{kind} eq 'Deployment'
                       && selects($svc->{spec}{selector}, $_) } @$docs;
    my $c = $pod->{spec}{template}{spec}{containers}[0];
    my ($cp) = grep { $_->{name} eq ($sp // {})->{targetPort}
                      || $_->{containerPort} eq ($sp // {})->{targetPort} }
               @{ $c->{ports} };
    ok($cp, "$overlay: the Service reaches container port "
       . ($cp // {})->{containerPort});
    like($conf, qr/^\s*listen\s+(\S+:)?\Q$cp->{containerPort}\E\b/m,
         "$overlay: nginx.conf listens on that port");
    like($conf, qr/location\s+=?\s*\/graphql\s*\{\s*cast_graphql;/,
         "$overlay: nginx.conf answers /graphql itself, unrewritten");
}


sub check_network_policies {
    my ($overlay, $docs) = @_;
    my @np = grep { $_->{kind} eq 'NetworkPolicy' } @$docs;

    for my $s (@STORES) {
        my ($store, $port, $clients) = @$s;
        my @mine = grep {
            ($_->{spec}{podSelector}{matchLabels}{'app.kubernetes.io/component'}
             // '') eq $store } @np;

        is(scalar(@mine), 1, "$overlay: a NetworkPolicy for $store") or next;
        my $spec = $mine[0]{spec};
        ok(grep({ $_ eq 'Ingress' } @{ $spec->{policyTypes} }),
           "$overlay: $store policy restricts ingress");

        my (%allowed, $open);
        for my $rule (@{ $spec->{ingress} // [] }) {
            my @ports = map { $_->{port} } @{ $rule->{ports} // [] };
            next unless grep { $_ eq $port } @ports;
            $open = 1 unless @{ $rule->{from} // [] };
            for my $peer (@{ $rule->{from} // [] }) {
                $open = 1 if $peer->{ipBlock} || $peer->{namespaceSelector}
                             || !$peer->{podSelector};
                $allowed{$_} = 1 for peer_components($peer->{podSelector});
            }
        }
        ok(!$open, "$overlay: $store port $port is not open to all");
        delete $allowed{$store};
        delete $allowed{$_} for @{ $STORE_PEERS{$overlay}{$store} // [] };
        is_deeply([sort keys %allowed], $clients,
                  "$overlay: only @$clients reach $store:$port");
    }
}


sub check_stores {
    my ($overlay, $docs) = @_;

    for my $name (qw(redis postgres kafka)) {
        my $ss = find_doc($docs, 'StatefulSet', $name);
        ok(@{ $ss->{spec}{volumeClaimTemplates} // [] },
           "$overlay: $name keeps its data on a PersistentVolumeClaim");
    }

    my $redis = find_doc($docs, 'StatefulSet', 'redis');
    my $args = join ' ', @{ $redis->{spec}{template}{spec}{containers}[0]{args} };
    like($args, qr/--appendonly yes/, "$overlay: redis AOF on");
    like($args, qr/--appendfsync always/, "$overlay: redis appendfsync always");

    my $kafka = find_doc($docs, 'StatefulSet', 'kafka');
    my $kc = $kafka->{spec}{template}{spec}{containers}[0];
    my %env = map { $_->{name} => $_->{value} } @{ $kc->{env} };
    like($kc->{image}, qr{^docker\.io/apache/kafka:4\.1\.1$},
         "$overlay: official Kafka 4.1.1");
    like($env{KAFKA_PROCESS_ROLES}, qr/controller/, "$overlay: Kafka in KRaft mode");
    my @voters = split /,/, $env{KAFKA_CONTROLLER_QUORUM_VOTERS};
    is(scalar(@voters), $kafka->{spec}{replicas},
       "$overlay: one controller voter per Kafka pod");
    is_deeply([ sort map { /^(\d+)\@kafka-(\d+)\./ && $1 == $2 ? $1 : "bad:$_" }
                @voters ], [ 0 .. $kafka->{spec}{replicas} - 1 ],
              "$overlay: voter ids are the pod ordinals");
    ok($env{KAFKA_DEFAULT_REPLICATION_FACTOR} <= $kafka->{spec}{replicas},
       "$overlay: replication factor <= Kafka pods");

    # the topics are created by relay or persister with their settings
    my $pers = find_doc($docs, 'Deployment', 'cast-persister');
    my @init = map { $_->{name} }
               @{ $pers->{spec}{template}{spec}{initContainers} // [] };
    is("@init", 'wait-postgres migrate',
       "$overlay: the persister waits for PostgreSQL, then migrates");
    my %topic;
    for my $name (qw(cast-relay cast-persister)) {
        my $d = find_doc($docs, 'Deployment', $name);
        my %e = map { $_->{name} => $_->{value} }
                @{ $d->{spec}{template}{spec}{containers}[0]{env} // [] };
        for my $k (qw(CAST_PARTITIONS CAST_REPLICATION)) {
            ok(defined $e{$k}, "$overlay: $name sets $k") or next;
            $topic{$k}{ $e{$k} } = 1;
        }
    }
    my ($parts) = keys %{ $topic{CAST_PARTITIONS} };
    my ($repl) = keys %{ $topic{CAST_REPLICATION} };
    ok(keys %{ $topic{CAST_PARTITIONS} } == 1
       && keys %{ $topic{CAST_REPLICATION} } == 1,
       "$overlay: relay and persister agree on the topic settings");
    ok($pers->{spec}{replicas} <= $parts,
       "$overlay: persister replicas $pers->{spec}{replicas} <= "
       . "$parts partitions");
    ok($repl <= $kafka->{spec}{replicas},
       "$overlay: topic replication $repl <= Kafka pods");

    # secrets: only cast-secrets, only the keys build-and-deploy.sh makes
    my $json = encode_json($docs);
    my @refs = $json =~ /"secretKeyRef":\{([^}]*)\}/g;
    push @refs, $json =~ /"secret":\{("items":\[[^\]]*\][^}]*)\}/g;
    ok(@refs, "$overlay: pods use cast-secrets");
    for my $r (@refs) {
        like($r, qr/"(secretName|name)":"cast-secrets"/,
             "$overlay: secret reference to cast-secrets");
        for my $k ($r =~ /"key":"([^"]+)"/g) {
            ok($secret_keys{$k}, "$overlay: secret key $k is generated");
        }
    }
    ok(!grep({ $_->{kind} eq 'Secret' } @$docs),
       "$overlay: no Secret committed in the manifests");
}


sub check_services {
    my ($overlay, $docs) = @_;
    my @pods = grep { $_->{kind} =~ /^(Deployment|StatefulSet)$/ } @$docs;

    for my $svc (grep { $_->{kind} eq 'Service' } @$docs) {
        my @sel = grep { selects($svc->{spec}{selector}, $_) } @pods;
        ok(@sel, "$overlay: Service $svc->{metadata}{name} selects pods")
            or next;
        my @ports = map { @{ $_->{ports} // [] } }
                    @{ $sel[0]{spec}{template}{spec}{containers} };
        for my $p (@{ $svc->{spec}{ports} }) {
            ok(grep({ $_->{name} eq $p->{targetPort}
                      || $_->{containerPort} eq $p->{targetPort} } @ports),
               "$overlay: Service $svc->{metadata}{name} port $p->{name}"
               . " reaches a container port");
        }
    }
}


# Each CAST_* variable given to a daemon must be a row of its conf table.
sub check_daemon_env {
    my ($overlay, $docs) = @_;

    for my $d (grep { $_->{kind} eq 'Deployment' } @$docs) {
        my $ps = $d->{spec}{template}{spec};
        for my $c (@{ $ps->{containers} }, @{ $ps->{initContainers} // [] }) {
            my $daemon = $DAEMON_SRC{ $c->{name} } or next;
            my %rows = map { ('CAST_' . uc($_)) => 1 } conf_rows($daemon);
            for my $e (grep { $_->{name} =~ /^CAST_/ } @{ $c->{env} // [] }) {
                ok($rows{ $e->{name} },
                   "$overlay: $c->{name}: $e->{name} is a setting of "
                   . "cast-$daemon");
            }
        }
    }
}


# --- helpers -------------------------------------------------------------------

# a daemon's own rows, and the shared ones it takes from cast_conf.h
# (cast_conf_NAME_row macros)
sub conf_rows {
    my ($daemon) = @_;
    my (@rows, %shared);

    %shared = slurp('daemons/common/cast_conf.h')
        =~ /#define\s+cast_conf_(\w+)_row\([^)]*\)\s*\\\s*\{\s*"([a-z_]+)"/g;
    for my $f (glob("daemons/$daemon/*.c")) {
        my $src = slurp($f);
        push @rows, $src =~ /\{\s*"([a-z_]+)",\s*CAST_CONF_/g;
        push @rows, map { $shared{$_} // () }
                        $src =~ /\bcast_conf_(\w+)_row\(/g;
    }
    return @rows;
}


sub peer_components {
    my ($sel) = @_;
    my @c;

    push @c, $sel->{matchLabels}{'app.kubernetes.io/component'}
        if $sel->{matchLabels} && $sel->{matchLabels}{'app.kubernetes.io/component'};
    for my $e (@{ $sel->{matchExpressions} // [] }) {
        push @c, @{ $e->{values} }
            if $e->{key} eq 'app.kubernetes.io/component' && $e->{operator} eq 'In';
    }
    return @c ? @c : ('<any pod>');
}


sub selects {
    my ($selector, $workload) = @_;
    my $labels = $workload->{spec}{template}{metadata}{labels} // {};

    return 0 unless $selector && %$selector;
    for (keys %$selector) {
        return 0 unless ($labels->{$_} // '') eq $selector->{$_};
    }
    return 1;
}


sub find_doc {
    my ($docs, $kind, $name) = @_;
    my ($d) = grep { $_->{kind} eq $kind && $_->{metadata}{name} eq $name }
              @$docs;

    fail("$kind/$name is in the rendered manifests") unless $d;
    return $d // { spec => {} };
}


sub shell_scripts {
    my @found;

    find({ no_chdir => 1, wanted => sub {
        my $f = $File::Find::name =~ s{^\./}{}r;
        if (-d $_) {
            $File::Find::prune = 1
                if m{(^|/)(\.git|node_modules|build|var|servroot)$};
            return;
        }
        return unless -f $_;
        if (/\.(sh|bash)$/) {
            push @found, $f;
            return;
        }
        open(my $fh, '<', $_) or return;
        my $first = <$fh> // '';
        push @found, $f if $first =~ m{^#!\s*\S*(/|env\s+)(ba)?sh\b};
    } }, '.');
    return sort @found;
}


sub dockerignored {
    my ($path) = @_;
    $path =~ s{/$}{};

    for my $pat (grep { /\S/ && !/^#/ } split /\n/, slurp('.dockerignore')) {
        $pat =~ s{^\*\*/}{};
        return 1 if $path eq $pat || index($path, "$pat/") == 0;
    }
    return 0;
}


sub which {
    my ($tool) = @_;

    for (split /:/, $ENV{PATH}) {
        return "$_/$tool" if -x "$_/$tool";
    }
    return undef;
}


sub slurp {
    my ($f) = @_;

    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    return scalar <$fh>;
}
