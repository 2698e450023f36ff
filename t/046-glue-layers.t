# The nginx glue is layered: each ngx_http_cast_*.c calls only the files
# below it in the "Who calls whom" list at the top of
# ngx_http_cast_module.h (and the other file of its layer, when a "+"
# marks one layer in two files), and hears back from them through
# handlers.  Reads
# the module's objects (CAST_GLUE_OBJS, else those of build/nginx) and
# checks every call from one glue object to a function another defines.

use strict;
use warnings;
use Test::More;
use File::Basename qw(dirname basename);
use File::Find qw(find);
use Cwd qw(abs_path);

my $root = abs_path(dirname(__FILE__) . '/..');
my $dir = $ENV{CAST_GLUE_OBJS} // "$root/build/nginx/objs/addon";

# the layers, top first, as the header lists them
my $header = "$root/ngx_http_cast_module/ngx_http_cast_module.h";
open my $fh, '<', $header or die "$header: $!";
my ($list) = do { local $/; <$fh> } =~ m{Who calls whom\.(.*?)\*/}s;
close $fh;

# a file listed with a leading "+" is the layer above it continued (one
# concern in two files, for their size): the two may call each other
my (@layers, %rank);
my $rank = -1;

for (($list // '') =~ m{^\s\*\s+((?:\+\s*)?ngx_http_cast_\w+)\.c\s}mg) {
    my ($more, $file) = /^(\+?)\s*(\S+)$/;
    $rank++ unless $more && $rank >= 0;
    push @layers, $file;
    $rank{$file} = $rank;
}

cmp_ok scalar(@layers), '>=', 5, "layers listed: @layers";

my @objs;
find(sub { push @objs, $File::Find::name if /^ngx_http_cast_\w+\.o$/ },
     $dir) if -d $dir;

cmp_ok scalar(@objs), '>=', 5, "glue objects found in $dir";

# the functions each object defines, and the symbols it uses
my (%defines, %uses);

for my $o (@objs) {
    my $name = basename($o, '.o');

    for (`nm '$o'`) {
        my @f = split;
        if (@f == 3 && $f[1] eq 'T') {
            $defines{$f[2]} = $name;
        } elsif (@f == 2 && $f[0] eq 'U') {
            push @{ $uses{$name} }, $f[1];
        }
    }
}

ok exists $rank{$_}, "$_.c is in the header's list" for sort keys %uses;

# the check itself works: the request calls down into the resolvers
my @calls;

for my $from (sort keys %uses) {
    for my $sym (@{ $uses{$from} }) {
        my $to = $defines{$sym} or next;
        push @calls, [$from, $to, $sym] if $to ne $from;
    }
}

ok((grep { $_->[0] eq 'ngx_http_cast_handler'
           && $_->[1] eq 'ngx_http_cast_resolve' } @calls),
   'the handler calls the resolvers');

# upward: to a layer above, or between two files of no listed layer
my @up = grep {
    my ($f, $t) = map { $rank{$_} // -1 } $_->[0], $_->[1];
    $f > $t || ($f == $t && $f < 0)
} @calls;

is scalar(@up), 0, scalar(@calls) . ' cross-file calls, all downward'
    or diag map { "upward: $_->[0] -> $_->[1]: $_->[2]\n" } @up;

done_testing();
