#!/usr/bin/env bash
# Install what is missing, build, and run the test suite with CTest.
#   tools/test.sh               Release build in build/, every test
#   tools/test.sh --sanitize    the engine and scenes tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#                               in build-asan/ (LibTorch and Vulkan off: engine, both physics backends, scenes)
# Extra arguments after -- go to ctest (e.g. tools/test.sh -- -R VectorEnv).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=0
ctest_args=()
while (($#)); do
  case $1 in
    --sanitize) sanitize=1 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "tools/test.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

"$root/tools/install-deps.sh"
jobs=$(nproc)

if ((sanitize)); then
  build="$root/build-asan"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMLAB_SANITIZE=ON \
    -DSIMLAB_WITH_TORCH=OFF -DSIMLAB_WITH_VULKAN=OFF -DSIMLAB_WITH_BULLET=ON \
    -DSIMLAB_BUILD_VIEWER=OFF -DSIMLAB_BUILD_TESTS=ON >/dev/null
  cmake --build "$build" -j "$jobs"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir "$build" -L "engine|scenes" --output-on-failure -j "$jobs" "${ctest_args[@]}"
else
  build="$root/build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIMLAB_BUILD_TESTS=ON >/dev/null
  cmake --build "$build" -j "$jobs"
  ctest --test-dir "$build" --output-on-failure -j "$jobs" "${ctest_args[@]}"
fi
