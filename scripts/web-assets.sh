#!/usr/bin/env bash
#
# Installs the third-party files of the browser pages (README "In the
# browser") into html/static/vendor/: `npm ci` in web/ (the exact versions of
# web/package.json, checked against web/package-lock.json's integrity
# hashes; no install scripts run), then a copy of the standalone browser
# builds the pages load.  nginx serves them from there: no CDN, nothing
# fetched at run time.  Run by scripts/deps.sh and by build-and-deploy.sh
# (the Dockerfile copies html/ from the build context).
# Safe to run again: does nothing when html/static/vendor/ is up to date.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEB=$ROOT/web
OUT=$ROOT/html/static/vendor

# "file in web/node_modules|name in html/static/vendor"
FILES=(
    'react/umd/react.production.min.js|react.production.min.js'
    'react-dom/umd/react-dom.production.min.js|react-dom.production.min.js'
    'graphiql/graphiql.min.js|graphiql.min.js'
    'graphiql/graphiql.min.css|graphiql.min.css'
)


say() {
    printf 'web-assets: %s\n' "$*"
}


die() {
    printf 'web-assets: error: %s\n' "$*" >&2
    exit 1
}


if [[ -f $OUT/.stamp && $OUT/.stamp -nt $WEB/package-lock.json ]] \
    && [[ $(find "$OUT" -type f | wc -l) -ge $((2 * ${#FILES[@]} + 2)) ]]; then
    say "html/static/vendor up to date"
    exit 0
fi

command -v npm >/dev/null || die "npm is needed (Debian: npm)"
say "npm ci in web/"
(cd "$WEB" && npm ci --ignore-scripts --no-audit --no-fund \
                     --loglevel=error >/dev/null) \
    || die "npm ci in web/ failed"

rm -rf "$OUT"
mkdir -p "$OUT"
for f in "${FILES[@]}"; do
    from=$WEB/node_modules/${f%%|*}
    [[ -s $from ]] || die "$from is missing from the installed packages"
    cp "$from" "$OUT/${f#*|}"
    # served as is to a client that takes gzip (gzip_static in cast.conf)
    gzip -9 -n -k "$OUT/${f#*|}"
done

# what was installed, for the README's claim and for a reviewer
(cd "$WEB" && node -e '
    for (const p of ["graphiql", "react", "react-dom"])
        console.log(p + " " + require(p + "/package.json").version);
') >"$OUT/VERSIONS"
touch "$OUT/.stamp"
say "html/static/vendor: $(tr '\n' ' ' <"$OUT/VERSIONS")"
