#!/usr/bin/env bash
# Installs everything Tiercel needs on a fresh Debian machine — system packages (libuv, GoogleTest,
# OpenSSL, nghttp2 and its h2load client, clang/libFuzzer, wrk, PostgreSQL for the database tests, nginx for the
# scale-out test, strace for a test that watches the native loop's system calls, chromium and its driver for the /docs
# page's browser test) and one virtualenv per supported interpreter — then builds the native module.
#   .venv     Python 3.11 (the default; examples and benchmarks use it)
#   .venv312  Python 3.12 (eager-task path), when a python3.12 is present
#   .venv313  Python 3.13, when a python3.13 is present
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/apt.sh
apt_install build-essential pkg-config libuv1-dev libssl-dev zlib1g-dev libbrotli-dev libzstd-dev libgtest-dev clang-14 libclang-rt-14-dev wrk postgresql nginx-light strace libnghttp2-dev nghttp2-client chromium chromium-driver

. scripts/find_python.sh

build_venv() {  # build_venv DIR PYTHON
  local dir=$1 py=$2
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  "$dir/bin/pip" install -q --upgrade pip
  "$dir/bin/pip" install -q -r requirements-dev.txt
  # No build isolation: the build reuses the venv's nanobind/scikit-build-core and its cached build dir. The
  # test-only parser probe (tiercel._parser_probe) is built too: the differential tests drive the core parser with it.
  "$dir/bin/pip" install -q --no-build-isolation -C cmake.define.TIERCEL_BUILD_PROBES=ON .
}

py311=$(find_python 3.11) || { echo "install.sh: Python 3.11 is required" >&2; exit 1; }
build_venv .venv "$py311"
if py312=$(find_python 3.12); then
  build_venv .venv312 "$py312"
else
  echo "install.sh: no python3.12 found; the 3.12 test run will be skipped" >&2
fi
if py313=$(find_python 3.13); then
  build_venv .venv313 "$py313"
else
  echo "install.sh: no python3.13 found; the 3.13 test run will be skipped" >&2
fi
echo "install.sh: done"
