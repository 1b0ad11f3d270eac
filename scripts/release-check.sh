#!/usr/bin/env bash
# Release readiness:
#   1. python -m build: an sdist, then a wheel built from that sdist (so the sdist is complete);
#   2. twine check --strict, and the wheel's contents and metadata (py.typed, license, no tests);
#   3. the wheel installed into a fresh venv, the README quick start run from it (`secauth demo`
#      with the wheel's console script), and `import secauth` proven to come from that venv;
#   4. (not with --fast) a Lambda-style zip: `pip install --target` of the wheel with the core
#      dependencies only, for the Lambda platform, zipped; its size is reported, and when the
#      platform matches this machine a token is verified with the zip's contents alone.
#
# Usage: scripts/release-check.sh [--fast]
#   PY                     python with build and twine (default .venv/bin/python)
#   LAMBDA_ARCH            x86_64 or arm64 (default: this machine's)
#   LAMBDA_PYTHON_VERSION  e.g. 3.12 (default: PY's version, so the zip can be smoke-tested here)
set -euo pipefail
cd "$(dirname "$0")/.."

FAST=0
[[ "${1:-}" == "--fast" ]] && FAST=1
PY=${PY:-.venv/bin/python}
WORK=build/release-check
DIST=dist
started=$(date +%s)

say() { printf '\n== %s\n' "$*"; }

rm -rf "$WORK" "$DIST"
mkdir -p "$WORK"

say "build: sdist, then the wheel from the sdist"
"$PY" -m build --outdir "$DIST" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
ls -l "$DIST"
wheel=$(ls "$DIST"/secauth-*.whl)
sdist=$(ls "$DIST"/secauth-*.tar.gz)

say "twine check --strict"
"$PY" -m twine check --strict "$DIST"/*

say "contents and metadata"
"$PY" - "$wheel" "$sdist" <<'EOF'
import sys
import tarfile
import zipfile
from email.parser import Parser

wheel, sdist = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
meta = Parser().parsestr(zipfile.ZipFile(wheel).read(meta_name).decode())
problems = []
if "secauth/py.typed" not in names:
    problems.append("the wheel lacks secauth/py.typed")
if meta["License-Expression"] != "Apache-2.0":
    problems.append(f"License-Expression is {meta['License-Expression']!r}, not 'Apache-2.0'")
if meta["License"] is not None:
    problems.append("a legacy License field next to License-Expression")
if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
    problems.append("the wheel lacks the LICENSE file")
if meta.get_all("Requires-Dist") is None or not any(
    r.startswith("cryptography") and "extra" not in r for r in meta.get_all("Requires-Dist")
):
    problems.append("cryptography is not a core dependency")
core = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
if len(core) != 1:
    problems.append(f"core dependencies should be cryptography only: {core}")
stray = [n for n in names if n.split("/")[0] not in ("secauth",) and ".dist-info/" not in n]
if stray:
    problems.append(f"files outside the package: {stray[:5]}")
if any("__pycache__" in n or n.endswith(".pyc") for n in names):
    problems.append("compiled files in the wheel")
members = tarfile.open(sdist).getnames()
for needed in ("src/secauth/py.typed", "LICENSE", "README.md", "CHANGELOG.md", "SECURITY.md"):
    if not any(m.endswith("/" + needed) for m in members):
        problems.append(f"the sdist lacks {needed}")
if any("/tests/" in m for m in members):
    problems.append("the sdist carries part of the test suite (MANIFEST.in prunes tests/)")
if problems:
    sys.exit("release check failed:\n  " + "\n  ".join(problems))
print(f"{len(names)} files in the wheel; License-Expression {meta['License-Expression']}; "
      f"requires {', '.join(core)}; py.typed present; sdist has {len(members)} members")
EOF

say "fresh venv: install the wheel, run the README quick start (secauth demo)"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
(
  cd "$WORK"  # away from src/: only the installed wheel can be imported
  venv/bin/python -c "
import pathlib, secauth
where = pathlib.Path(secauth.__file__).resolve()
assert 'site-packages' in where.parts, where
assert (where.parent / 'py.typed').exists()
print('secauth', secauth.__version__, 'from', where.parent)
"
  venv/bin/secauth demo
)

if [[ $FAST == 1 ]]; then
  say "release check (fast) passed in $(( $(date +%s) - started )) s"
  exit 0
fi

machine=$(uname -m)
case "${LAMBDA_ARCH:-$machine}" in
  x86_64|amd64) arch=x86_64 ;;
  arm64|aarch64) arch=aarch64 ;;
  *) echo "unknown LAMBDA_ARCH ${LAMBDA_ARCH:-$machine}" >&2; exit 2 ;;
esac
pyver=${LAMBDA_PYTHON_VERSION:-$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}

say "Lambda zip: core dependencies for python $pyver on manylinux $arch"
rm -rf build/lambda build/secauth-lambda.zip
"$PY" -m pip install --quiet --disable-pip-version-check --no-compile \
  --target build/lambda --platform "manylinux2014_$arch" --implementation cp \
  --python-version "$pyver" --only-binary=:all: "$wheel"
"$PY" - <<'EOF'
import os
import zipfile
from pathlib import Path

root = Path("build/lambda")
# bin/ holds the console script, whose shebang names this machine's python: not for Lambda.
files = sorted(
    p for p in root.rglob("*")
    if p.is_file() and "__pycache__" not in p.parts and p.relative_to(root).parts[0] != "bin"
)
with zipfile.ZipFile("build/secauth-lambda.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
    for path in files:
        zf.write(path, path.relative_to(root).as_posix())
unzipped = sum(p.stat().st_size for p in files)
zipped = os.path.getsize("build/secauth-lambda.zip")
top = sorted({p.relative_to(root).parts[0] for p in files if not p.name.endswith(".dist-info")})
print(f"build/secauth-lambda.zip: {zipped / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped, "
      f"{len(files)} files")
print("contents:", ", ".join(t for t in top if not t.endswith(".dist-info")))
secauth_size = sum(p.stat().st_size for p in files if p.relative_to(root).parts[0] == "secauth")
print(f"secauth itself: {secauth_size / 1e3:.0f} kB unzipped")
EOF

if [[ $arch == "${machine/arm64/aarch64}" && $pyver == $("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")') ]]; then
  say "smoke test: verify a token with the zip's contents only"
  unzip_dir="$WORK/lambda-unzipped"
  rm -rf "$unzip_dir" && mkdir -p "$unzip_dir"
  "$PY" -m zipfile -e build/secauth-lambda.zip "$unzip_dir"
  # -I: no user site, no PYTHONPATH, no current directory; only the zip's folder is added.
  "$WORK/venv/bin/python" -I - "$unzip_dir" <<'EOF'
import sys

import os

here = os.path.abspath(sys.argv[1])
sys.path[:] = [here] + [p for p in sys.path if "site-packages" not in p]
import cryptography

import secauth
from secauth.testing import KeyPair

for module in (secauth, cryptography):
    assert module.__file__.startswith(here), module.__file__
pair = KeyPair.generate("ES256", kid="k1")
verifier = secauth.JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [pair.public_jwk]})
token = pair.sign({"iss": "https://idp/", "aud": "api", "sub": "ann", "exp": 4102444800})
assert verifier.verify(token)["sub"] == "ann"
print("the zip verifies an ES256 token on its own")
EOF
else
  say "smoke test skipped: the zip targets python $pyver on $arch, this machine runs another"
fi

say "release check passed in $(( $(date +%s) - started )) s"
