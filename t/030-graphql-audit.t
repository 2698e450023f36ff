# GraphQL over HTTP conformance: the public graphql-http audit suite
# against the stack's nginx reports 0 errors and 0 warnings, and
# graphql-js accepts the introspection result (buildClientSchema).

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Test::More;

my $dir = repo_root() . '/t/audit';

plan skip_all => 'no test stack' unless $ENV{CAST_GRAPHQL_URL};

ok(-d "$dir/node_modules/graphql-http",
   'graphql-http is installed (make deps runs npm ci in t/audit)');

for my $script ('audit.mjs', 'schema.mjs') {
    my $out = `node $dir/$script 2>&1`;
    my $rc = $? >> 8;
    is($rc, 0, "$script exits 0") or diag $out;
    if ($script eq 'audit.mjs') {
        my $ok = () = $out =~ /^ok /mg;
        my $bad = () = $out =~ /^(?:error|warn)/mg;
        cmp_ok($ok, '>=', 50, "audit: $ok audits passed");
        is($bad, 0, 'audit: 0 errors and 0 warnings');
    }
}

done_testing();
