#!/usr/bin/env bash
# Runs every test: the C++ core's GoogleTest suite (under ASan+UBSan), the fuzzers (parsers, the HTTP/1.1 and HTTP/2
# connections) for a bounded time each, the release sdist and wheels, then the Python suite on Python 3.12, 3.13 and
# 3.11. Run scripts/install.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=$(nproc)

echo "== lint and type checks (ruff, mypy on the package and the examples)"
.venv/bin/ruff check src/tiercel tests benchmarks examples docs/hooks
.venv/bin/mypy src/tiercel
.venv/bin/mypy --allow-untyped-defs --allow-incomplete-defs examples

echo "== native tests (GoogleTest, ASan+UBSan)"
cmake -S . -B build/native -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_MAKE_PROGRAM="$PWD/.venv/bin/ninja" \
  -DTIERCEL_BUILD_MODULE=OFF -DTIERCEL_BUILD_TESTS=ON -DTIERCEL_SANITIZE=ON >/dev/null
cmake --build build/native -j "$JOBS"
ctest --test-dir build/native --output-on-failure -j "$JOBS" >build/native/ctest.log 2>&1 \
  || { tail -n 80 build/native/ctest.log; exit 1; }
grep -E "tests passed|tests failed|Skipped" build/native/ctest.log

echo "== fuzzing the parsers (HTTP/1.1, multipart, WebSocket frames) and the connections (HTTP/1.1 pipeline, HTTP/2), ${FUZZ_SECONDS}s each (libFuzzer, ASan+UBSan)"
FUZZ_SECONDS=$FUZZ_SECONDS bash scripts/fuzz.sh

echo "== release artefacts: the sdist, and from it a manylinux wheel per CPython 3.10-3.13 present (auditwheel)"
bash scripts/wheels.sh

status=0
for venv in .venv312 .venv313; do
  if [ -x $venv/bin/pytest ]; then
    echo "== Python tests on $($venv/bin/python --version)"
    $venv/bin/pytest -q -p no:cacheprovider tests || status=$?
  fi
done
echo "== Python tests on $(.venv/bin/python --version)"
.venv/bin/pytest -q -p no:cacheprovider tests || status=$?
exit $status
