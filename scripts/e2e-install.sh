#!/usr/bin/env bash
# Install what the end-to-end tests need: npm serverless@3 and serverless-offline@13,
# pinned by examples/serverless/package.json and its package-lock.json, into
# .cache/e2e/ (git-ignored). Idempotent: when the installed copy matches the lockfile
# and the node version, it returns at once.
#
# Uses the machine's node (>= 18.12, what serverless-offline 13 requires) and npm.
# Install scripts of dependencies are not run (--ignore-scripts): none is needed.
# Override the target folder with SECAUTH_E2E_CACHE.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app="$root/examples/serverless"
dest="${SECAUTH_E2E_CACHE:-$root/.cache/e2e}"
stamp="$dest/.installed"

fail() { echo "e2e-install: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not on PATH (need node >= 18.12 and npm)"
command -v npm >/dev/null 2>&1 || fail "npm is not on PATH (need node >= 18.12 and npm)"
node_version="$(node --version)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
         process.exit(a > 18 || (a === 18 && b >= 12) ? 0 : 1)' \
  || fail "node $node_version is too old; serverless-offline 13 needs node >= 18.12"

patch="$root/scripts/e2e/patch-serverless-offline.cjs"
want="$(cat "$app/package.json" "$app/package-lock.json" "$patch" | sha256sum | cut -d' ' -f1) node=$node_version"
installed() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -x "$dest/node_modules/.bin/serverless" ] \
    && [ -f "$dest/node_modules/serverless-offline/package.json" ]
}
installed && exit 0

mkdir -p "$dest"
# One installer at a time (make and pytest workers may race).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dest/.lock"
  flock 9
  installed && exit 0
fi

echo "e2e-install: installing serverless and serverless-offline into ${dest#"$root"/} ..." >&2
rm -f "$stamp"
cp "$app/package.json" "$app/package-lock.json" "$dest/"
(
  cd "$dest"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
    --update-notifier=false >/dev/null
)
# An upstream bug in how serverless-offline matches policy Resources: see the patch.
node "$patch" "$dest/node_modules/serverless-offline" || fail "patching serverless-offline failed"
SLS_TELEMETRY_DISABLED=1 SLS_TRACKING_DISABLED=1 SLS_NOTIFICATIONS_MODE=off \
  SLS_DISABLE_AUTO_UPDATE=1 "$dest/node_modules/.bin/serverless" --version >/dev/null 2>&1 \
  || fail "serverless was installed but does not run"
echo "$want" >"$stamp"
echo "e2e-install: done ($(node -p "require('$dest/node_modules/serverless/package.json').version") +" \
  "serverless-offline $(node -p "require('$dest/node_modules/serverless-offline/package.json').version"))" >&2
