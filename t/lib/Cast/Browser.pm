package Cast::Browser;

# The browser tests' side in Perl: runs a t/browser/*.mjs script (Debian's
# chromium driven by puppeteer-core) and returns the JSON it printed.
# chromium_path() is undef when no chromium is installed, the one reason
# for a browser test to skip (make deps installs it); puppeteer-core
# missing is a failure of make deps, which the tests report as one.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use Cast::Stack ();

our @EXPORT = qw(chromium_path browser_script screenshot_dir);


sub chromium_path {
    return $ENV{CAST_CHROMIUM} if $ENV{CAST_CHROMIUM};
    for my $p ('/usr/bin/chromium', '/usr/bin/chromium-browser') {
        return $p if -x $p;
    }
    return undef;
}


sub screenshot_dir {
    my $var = $ENV{CAST_VAR} // Cast::Stack::repo_root() . '/t/var';
    return "$var/screenshots";
}


# (result hash, raw output); the script's last line is its JSON
sub browser_script {
    my ($script, @args) = @_;
    my $root = Cast::Stack::repo_root();

    local $ENV{CAST_CHROMIUM} = chromium_path();
    local $ENV{CAST_SCREENSHOTS} = screenshot_dir();
    my $cmd = join ' ', map { quotemeta } 'node', "$root/t/browser/$script",
                                          @args;
    my $out = `$cmd 2>&1`;
    my ($last) = $out =~ /(\{[^\n]*\})\s*\z/;
    my $res = eval { JSON::PP::decode_json($last // '') };

    return ($res // { error => "no JSON from $script (exit "
                               . ($? >> 8) . "):\n$out" }, $out);
}


1;
