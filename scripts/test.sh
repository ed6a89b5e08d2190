#!/usr/bin/env bash
# Runs every test: the C++ core's GoogleTest suite (under ASan+UBSan), the fuzzers (parsers, the HTTP/1.1 and HTTP/2
# connections) for a bounded time each, then the Python suite on Python 3.11 and 3.12. Run scripts/install.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=$(nproc)

echo "== lint and type checks (ruff, mypy on the package and the examples)"
.venv/bin/ruff check src/tiercel tests benchmarks examples
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

echo "== the module builds on Python 3.10 and 3.13 (when present)"
for v in 3.10 3.13; do
  py=$(ls "$(pyenv root 2>/dev/null)"/versions/$v*/bin/python$v 2>/dev/null | head -n 1 || true)
  [ -n "$py" ] || py=$(command -v python$v || true)
  if [ -z "$py" ]; then echo "python$v not found: skipped"; continue; fi
  "$py" -m pip wheel -q --no-deps -w build/wheels . >build/wheel-$v.log 2>&1 \
    || { echo "build on Python $v failed:"; tail -n 30 build/wheel-$v.log; exit 1; }
  echo "Python $v: built $(ls build/wheels | grep "cp${v/./}" | head -n 1)"
done

status=0
if [ -x .venv312/bin/pytest ]; then
  echo "== Python tests on $(.venv312/bin/python --version)"
  .venv312/bin/pytest -q -p no:cacheprovider tests || status=$?
fi
echo "== Python tests on $(.venv/bin/python --version)"
.venv/bin/pytest -q -p no:cacheprovider tests || status=$?
exit $status
