#!/usr/bin/env bash
# Install the servers the rate-limit tests run against on loopback:
#   * redis-server and redis-cli (Debian's redis-server and redis-tools; apt-get, needs
#     root), only when missing; redis-cli creates the six-node Redis Cluster of the
#     cluster tests (tests/ratelimit/rl_services.py, redis_cluster());
#   * dynalite (a DynamoDB-compatible server), @cloud-copilot/iam-simulate (an offline
#     IAM policy simulator, for tests/test_iam_simulate_crosscheck.py) and oidc-provider
#     (panva's OAuth 2.0 / OpenID authorization server, for the introspection tests via
#     tests/fixtures/oidc_provider.mjs; 8.x, the line that supports node 20), from npm,
#     pinned by scripts/services/package.json and its package-lock.json, into
#     .cache/services/ (git-ignored).
# Idempotent: when all are present and match the lockfile and node version, it returns
# at once. Override the npm target folder with SECAUTH_SERVICES_CACHE.
#
# Exit status: 0 when all are installed. Outside CI (CI != "true") a missing tool
# prints a warning and exits 0, and the tests that need it skip with a message;
# with CI=true it fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
spec="$root/scripts/services"
dest="${SECAUTH_SERVICES_CACHE:-$root/.cache/services}"
stamp="$dest/.installed"
status=0

problem() {
  echo "services-install: $*" >&2
  status=1
}

# --- redis-server and redis-cli ---------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "services-install: installing redis-server and redis-tools with apt-get ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq >/dev/null \
       && apt-get install -y -qq redis-server redis-tools >/dev/null; then
      # Debian starts a system service on install; the tests start their own servers.
      (command -v service >/dev/null 2>&1 && service redis-server stop >/dev/null 2>&1) || true
    else
      problem "apt-get install redis-server redis-tools failed"
    fi
  else
    problem "redis-server or redis-cli is missing and cannot be installed here (needs root and apt-get)"
  fi
fi

# --- dynalite, iam-simulate and oidc-provider (npm) ----------------------------------------
# The simulator must resolve from $dest, as tests/fixtures/iam_simulate.mjs resolves it.
simulator_present() {
  (cd "$dest" && node -e "require.resolve('@cloud-copilot/iam-simulate')") >/dev/null 2>&1
}

# oidc-provider is ESM only: import it, as tests/fixtures/oidc_provider.mjs does.
oidc_provider_present() {
  (cd "$dest" && node --input-type=module -e "await import('oidc-provider')") >/dev/null 2>&1
}

dynalite_installed() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -f "$dest/node_modules/dynalite/cli.js" ] \
    && simulator_present \
    && oidc_provider_present
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  problem "node and npm are not on PATH (dynalite, iam-simulate, oidc-provider need node >= 20)"
elif ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  problem "node $(node --version) is too old; dynalite 4 needs node >= 20"
else
  want="$(cat "$spec/package.json" "$spec/package-lock.json" | sha256sum | cut -d' ' -f1) node=$(node --version)"
  if ! dynalite_installed; then
    mkdir -p "$dest"
    # One installer at a time (make and pytest workers may race).
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$dest/.lock"
      flock 9
    fi
    if ! dynalite_installed; then
      echo "services-install: installing dynalite, iam-simulate and oidc-provider into ${dest#"$root"/} ..." >&2
      rm -f "$stamp"
      cp "$spec/package.json" "$spec/package-lock.json" "$dest/"
      # --ignore-scripts: classic-level ships prebuilt binaries; no install script is needed.
      if (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
            --update-notifier=false >/dev/null) \
         && node -e "require('$dest/node_modules/dynalite')" >/dev/null 2>&1 \
         && (cd "$dest" && node -e "require('@cloud-copilot/iam-simulate')") >/dev/null 2>&1 \
         && oidc_provider_present; then
        echo "$want" >"$stamp"
      else
        problem "npm ci of dynalite, iam-simulate and oidc-provider failed"
      fi
    fi
  fi
fi

if [ "$status" != 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "services-install: failed (CI=true)" >&2
    exit 1
  fi
  echo "services-install: continuing; the tests that need the missing servers will skip" >&2
fi
exit 0
