# The GraphiQL directives as nginx -t sees them: cast_graphiql takes on or
# off, once; cast_graphiql_page takes a URI starting with "/", and a
# relative one is refused with a message naming the directive and value.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Test::More;

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

# a prefix of its own: t/servroot belongs to the block files' harness
my $PREFIX = tempdir('cast-graphiql-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# nginx -t on a configuration whose http block holds $http: (status, output)
sub nginx_t {
    my ($http) = @_;
    local $ENV{TEST_NGINX_SERVROOT} = $PREFIX;
    my $root = Cast::Nginx::server_root();

    make_path("$root/conf", "$root/logs", "$root/tmp");
    open my $fh, '>', "$root/conf/test-graphiql.conf" or die "$root: $!";
    print {$fh} Cast::Nginx::nginx_conf(
        config => 'location = /graphql { cast_graphql; }',
        http_config => $http);
    close $fh;

    my $cmd = "$ENV{TEST_NGINX_BINARY} -t -p $root/ "
            . '-c conf/test-graphiql.conf';
    local $ENV{LD_PRELOAD} = $ENV{CAST_NGINX_PRELOAD}
        if $ENV{CAST_NGINX_PRELOAD};
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

for my $ok ("cast_graphiql on;", "cast_graphiql off;",
            "cast_graphiql_page /ide;",
            "cast_graphiql off;\n    cast_graphiql_page /x/y.html;") {
    my ($rc, $out) = nginx_t("    $ok\n");
    is($rc, 0, "$ok accepted") or diag $out;
}

my ($rc, $out) = nginx_t("    cast_graphiql maybe;\n");
isnt($rc, 0, 'cast_graphiql maybe: refused');
like($out, qr/invalid value "maybe"/, '... naming the value');

($rc, $out) = nginx_t("    cast_graphiql on;\n    cast_graphiql off;\n");
isnt($rc, 0, 'cast_graphiql twice: refused');
like($out, qr/"cast_graphiql" directive is duplicate/, '... as a duplicate');

for my $bad ('graphiql.html', 'http://elsewhere/ide') {
    ($rc, $out) = nginx_t("    cast_graphiql_page $bad;\n");
    isnt($rc, 0, "cast_graphiql_page $bad: refused");
    my $msg = qq{cast_graphiql_page must be a URI starting with "/", }
            . qq{not "$bad"};
    like($out, qr/\Q$msg\E/,
         '... with a message naming the directive and the value');
}

done_testing();
