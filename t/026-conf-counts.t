# Count directives take plain numbers: "cast_max_depth 1k;" is a
# configuration error naming the directive and the value, not 1024.
# Sizes (cast_max_body_size, cast_max_query_length) still take "1k".
# Names and counts per vote stop where lib/redis/cast.lua stops, and an
# answer holds at least the largest leaderboard allowed.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Test::More;

my @COUNTS = qw(cast_max_usernames cast_max_vote_count cast_max_vote_fields
                cast_max_tokens cast_max_depth cast_max_fields
                cast_max_aliases cast_max_list_length cast_max_result_items
                cast_document_cache);

plan skip_all => 'no build/ngx_http_cast_module.so'
    unless $ENV{TEST_NGINX_LOAD_MODULES};

# nginx -t on a configuration whose http block holds $http: (status, output)
# (a prefix of its own: t/servroot belongs to the block files' harness,
# which removes only what it made there)
my $PREFIX = tempdir('cast-counts-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub nginx_t {
    my ($http) = @_;
    local $ENV{TEST_NGINX_SERVROOT} = $PREFIX;
    my $root = Cast::Nginx::server_root();

    make_path("$root/conf", "$root/logs", "$root/tmp");
    open my $fh, '>', "$root/conf/test-counts.conf" or die "$root/conf: $!";
    print {$fh} Cast::Nginx::nginx_conf(
        config => 'location = /graphql { cast_graphql; }',
        http_config => $http);
    close $fh;

    my $cmd = "$ENV{TEST_NGINX_BINARY} -t -p $root/ -c conf/test-counts.conf";
    # the sanitized module needs its runtime loaded first, as start_nginx does
    local $ENV{LD_PRELOAD} = $ENV{CAST_NGINX_PRELOAD}
        if $ENV{CAST_NGINX_PRELOAD};
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

for my $d (@COUNTS) {
    # 1000: within every directive's own bounds (cast_max_usernames <= 1000)
    my ($rc, $out) = nginx_t("    $d 1000;\n");
    is($rc, 0, "$d 1000: accepted") or diag $out;

    ($rc, $out) = nginx_t("    $d 1k;\n");
    isnt($rc, 0, "$d 1k: refused");
    like($out, qr/"\Q$d\E" takes a plain number, not "1k"/,
         "$d 1k: the message names the directive and the value");

    ($rc, $out) = nginx_t("    $d -1;\n");
    isnt($rc, 0, "$d -1: refused");
}

# a count that may be off takes "off" or a number from 1, nothing else
for my $v ('off', 1, 1000) {
    my ($rc, $out) = nginx_t("    cast_max_subscribers_per_client $v;\n");
    is($rc, 0, "cast_max_subscribers_per_client $v: accepted") or diag $out;
}
for my $v (0, '1k', -1, 'on') {
    my ($rc, $out) = nginx_t("    cast_max_subscribers_per_client $v;\n");
    isnt($rc, 0, "cast_max_subscribers_per_client $v: refused");
    like($out, qr/"cast_max_subscribers_per_client" takes "off" or a plain number from 1, not "\Q$v\E"/,
         "  naming the directive and the value");
}

# what lib/redis/cast.lua takes: more names or a larger count per vote
# would only be refused there
for (['cast_max_usernames', 1000], ['cast_max_vote_count', 1000000]) {
    my ($d, $max) = @$_;
    my ($rc, $out) = nginx_t("    $d $max;\n");
    is($rc, 0, "$d $max: accepted") or diag $out;

    ($rc, $out) = nginx_t("    $d " . ($max + 1) . ";\n");
    isnt($rc, 0, "$d " . ($max + 1) . ": refused");
    like($out, qr/\Q$d\E (?:must be )?1\.\.$max/, 'the message says the range');
}

# the largest top, votes subscription or vote the other limits allow fits
# in an answer with all its fields: 1 + 6 x 100 items by default, 1 + 6 x
# 1000 with either at 1000, 6 + 4 x 1 for a vote of one name, no top
for (['', 601], ["    cast_max_top_limit 1000;\n", 6001],
     ["    cast_max_usernames 1000;\n", 6001],
     ["    cast_max_usernames 1;\n    cast_max_top_limit 0;\n", 10])
{
    my ($other, $min) = @$_;
    my ($rc, $out) = nginx_t("${other}    cast_max_result_items $min;\n");
    is($rc, 0, "cast_max_result_items $min: accepted") or diag $out;

    ($rc, $out) = nginx_t("${other}    cast_max_result_items "
                          . ($min - 1) . ";\n");
    isnt($rc, 0, "cast_max_result_items " . ($min - 1) . ": refused");
    like($out, qr/cast_max_result_items must be at least $min, so that a /,
         '  saying how many');
}

# unset, cast_max_result_items is 5000, or the least the others need
for my $other ("    cast_max_top_limit 1000;\n",
               "    cast_max_usernames 1000;\n")
{
    my ($rc, $out) = nginx_t($other);
    is($rc, 0, "${other}without cast_max_result_items: accepted")
        or diag $out;
}

for my $d (qw(cast_max_body_size cast_max_query_length)) {
    my ($rc, $out) = nginx_t("    $d 1k;\n");
    is($rc, 0, "$d 1k: a size, accepted") or diag $out;
}

done_testing();
