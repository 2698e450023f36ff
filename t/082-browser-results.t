# The results page (GET /) in a real browser: Debian's chromium, headless,
# driven by t/browser/results.mjs (puppeteer-core) against the test
# stack.  The page's streams (GraphQL subscriptions over SSE) go live and
# draw the chart, the ticket and the totals; a vote cast from its form
# shows in the chart, drawn from the stream's event (the page never draws
# the chart from the vote's answer); when nginx restarts with the browser
# offline, the page says the live updates are unavailable, and comes back
# live by itself once online.  The CSP holds (no violation), nothing
# fails, and at 390 px the page fits the width.  How long the vote took
# to show is printed, not asserted (timing is make bench's).
# Screenshots: t/var/screenshots/results-*.png.

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

(my $base = $url) =~ s{/graphql\z}{};
my ($r, $out) = browser_script('results.mjs', $base,
                               "$root/scripts/stack.sh");

is($r->{error}, undef, 'the browser ran the page to the end')
    or diag $out;
is($r->{status}, 200, 'GET /: 200');
like($r->{headers}{'content-type'} // '', qr{^text/html}, 'text/html');
like($r->{headers}{'content-security-policy'} // '',
     qr/(?:^|; )default-src 'self'(?:;|$)/, 'with the CSP');
is($r->{title}, 'CAST: live results', 'the title');

my $name = $r->{name} // '';
my ($after) = grep { $_->{username} eq $name } @{ $r->{after} // [] };
ok($after, "the vote for $name shows in the chart");
cmp_ok($after->{votes} // 0, '>=', ($r->{had} // 0) + 3,
       '... with its 3 votes more');
like($r->{voteStatus} // '', qr/^Counted: \Q$name\E has \d+ votes? now\.$/,
     'the form says the vote was counted');
like($r->{mineClass} // '', qr/\bmine\b/, "the visitor's row is marked");
like($after->{width} // '', qr/^\d+(\.\d+)?%$/, 'its bar has a width');
diag("the vote showed in the chart $r->{chartMs} ms after the click")
    if defined $r->{chartMs};

my @fig = @{ $r->{figures} // [] };
like($fig[0] // '', qr/^\d+\.\d s$/, "the ticket's countdown ($fig[0])");
like($fig[1] // '', qr/^\d+$/, "its remaining uses ($fig[1])");
like($fig[2] // '', qr/^\d+\.\d$/, "votes per second ($fig[2])");
like($fig[3] // '', qr/^[\d,]+$/, "votes counted ($fig[3])");
like($r->{liveText} // '', qr/Live/, 'the streams were live');

like($r->{downText} // '', qr/unavailable, reconnecting/,
     'streams ended and not reopened: the page says so');
like($r->{backText} // '', qr/^\s*Live$/, 'online again: live by itself');

is_deeply($r->{csp}, [], 'no CSP violation (desktop)')
    or diag explain $r->{csp};
is_deeply($r->{problems}, [],
          'no console error or failed request (desktop, online)')
    or diag explain $r->{problems};
is($r->{phoneOverflow}, 0, 'at 390 px nothing is wider than the screen');
is_deeply($r->{phoneCsp}, [], 'no CSP violation (390 px)')
    or diag explain $r->{phoneCsp};
is_deeply($r->{phoneProblems}, [],
          'no console error or failed request (390 px)')
    or diag explain $r->{phoneProblems};

my $shots = screenshot_dir();
for my $name (qw(results-desktop results-down results-phone)) {
    ok(-s "$shots/$name.png", "screenshot $name.png");
}

done_testing();
