# GraphiQL in a real browser: Debian's chromium, headless, driven over the
# DevTools protocol (t/browser/graphiql.mjs with puppeteer-core) against
# the test stack's nginx and conf/cast.conf.  The page opens at GET
# /graphql with chromium's own Accept, loads the schema through
# introspection (the documentation explorer lists the root types), runs a
# query typed into the editor and shows its result, then a subscription
# (its events over Server-Sent Events); its response carries
# the Content-Security-Policy and chromium reports no violation of it, no
# console error, no failed request, at desktop and at phone width.
# Screenshots: t/var/screenshots/graphiql-*.png.

use strict;
use warnings;
use lib 't/lib';
use Cast::Test;
use Cast::Browser;
use Test::More;

my $url = $ENV{CAST_GRAPHQL_URL}
    or plan skip_all => 'no test stack (scripts/test.sh starts one)';
plan skip_all => 'chromium is not installed (make deps installs it)'
    unless chromium_path();

my $root = repo_root();
ok(-f "$root/t/browser/node_modules/puppeteer-core/package.json",
   'puppeteer-core is installed (make deps: npm ci in t/browser)')
    or BAIL_OUT('make deps did not install t/browser');
ok(-s "$root/html/static/vendor/graphiql.min.js",
   'GraphiQL is installed in html/static/vendor (make deps)');

(my $base = $url) =~ s{/graphql\z}{};
my ($r, $out) = browser_script('graphiql.mjs', $base);

is($r->{error}, undef, 'the browser ran the page to the end')
    or diag $out;
is($r->{status}, 200, 'GET /graphql from chromium: 200');
like($r->{requestAccept} // '', qr{^text/html,},
     "chromium's own Accept prefers text/html");
like($r->{headers}{'content-type'} // '', qr{^text/html},
     'the page is text/html');
is($r->{headers}{vary}, 'Accept', 'Vary: Accept');
my $csp = $r->{headers}{'content-security-policy'} // '';
like($csp, qr/(?:^|; )default-src 'self'(?:;|$)/,
     "Content-Security-Policy: default-src 'self'");
unlike($csp, qr/unsafe-inline|unsafe-eval|https?:|\*/,
       'the policy allows no inline script, eval or other origin');
is($r->{title}, 'CAST GraphiQL', 'the title');

like($r->{docs} // '',
     qr/query: Query.*mutation: Mutation.*subscription: Subscription/s,
     'the schema loaded through introspection: the docs list the roots');
like($r->{docs} // '', qr/TicketInfo/, '... and the types');
is($r->{typed}, '{ cas { remainingUsage validUntil } __typename }',
   'the typed query is in the editor');
like($r->{response} // '',
     qr/"data":\s*\{\s*"cas":\s*\{\s*"remainingUsage":\s*\d+,\s*
        "validUntil":\s*"\d{4}-\d\d-\d\dT[^"]+"\s*\},\s*
        "__typename":\s*"Query"/x,
     'its result is shown');
like($r->{subscription} // '', qr/"data":\s*\{\s*"totalVotes":\s*\d+/,
     'a subscription typed and run shows its event (over SSE)');

is_deeply($r->{csp}, [], 'no CSP violation (desktop)')
    or diag explain $r->{csp};
is_deeply($r->{problems}, [], 'no console error or failed request (desktop)')
    or diag explain $r->{problems};
my $pl = $r->{phoneLayout} // {};
cmp_ok($pl->{responseTop} // 0, '>=', ($pl->{editorBottom} // 1e9) - 1,
       'at 390 px the result is below the editor');
cmp_ok($pl->{responseWidth} // 0, '>=', 0.6 * ($pl->{width} // 1e9),
       '... and takes most of the width');
is_deeply($r->{phoneCsp}, [], 'no CSP violation (390 px)')
    or diag explain $r->{phoneCsp};
is_deeply($r->{phoneProblems}, [],
          'no console error or failed request (390 px)')
    or diag explain $r->{phoneProblems};

my $shots = screenshot_dir();
for my $name (qw(graphiql-docs-desktop graphiql-desktop
                  graphiql-subscription graphiql-phone)) {
    ok(-s "$shots/$name.png", "screenshot $name.png");
}

done_testing();
