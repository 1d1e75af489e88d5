#!/usr/bin/env bash
# Install what is missing, build, and run the test suite with CTest.
#   tools/test.sh               Release build in build/, every test
#   tools/test.sh --sanitize    the engine and scenes tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#                               in build-asan/ (LibTorch and Vulkan off: engine, both physics backends, scenes)
#   tools/test.sh --clang       the whole tree (tests, CLI, learners, renderer, viewer) compiled a second
#                               time with Debian's clang-16 in build-clang/ (installed if missing), then
#                               the engine and scenes tests run on that build. learners/ is left out
#                               against a LibTorch older than 2.1 (Debian's 1.13), whose headers Clang
#                               rejects in C++20 (see third_party/CMakeLists.txt)
#   --werror                    with any of the above: compiler warnings in simlab's code are errors
# Extra arguments after -- go to ctest (e.g. tools/test.sh -- -R VectorEnv).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=0
clang=0
werror=OFF
ctest_args=()
while (($#)); do
  case $1 in
    --sanitize) sanitize=1 ;;
    --clang) clang=1 ;;
    --werror) werror=ON ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "tools/test.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

extra=()
((clang)) && extra+=(clang-16)
"$root/tools/install-deps.sh" "${extra[@]}"
jobs=$(nproc)

if ((clang)); then
  build="$root/build-clang"
  mkdir -p "$build"
  if ! cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 \
      -DSIMLAB_BUILD_TESTS=ON -DSIMLAB_WARNINGS_AS_ERRORS=$werror -DSIMLAB_TORCH_CLANG_FALLBACK=ON \
      >"$build/configure.log" 2>&1; then
    cat "$build/configure.log" >&2
    exit 1
  fi
  grep -A4 "CMake Warning" "$build/configure.log" >&2 || true
  cmake --build "$build" -j "$jobs"
  "$build/tools/simlab" version
  ctest --test-dir "$build" -L "engine|scenes" --output-on-failure -j "$jobs" "${ctest_args[@]}"
elif ((sanitize)); then
  build="$root/build-asan"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMLAB_SANITIZE=ON \
    -DSIMLAB_WITH_TORCH=OFF -DSIMLAB_WITH_VULKAN=OFF -DSIMLAB_WITH_BULLET=ON \
    -DSIMLAB_BUILD_VIEWER=OFF -DSIMLAB_WITH_PYTHON=OFF -DSIMLAB_BUILD_TESTS=ON \
    -DSIMLAB_WARNINGS_AS_ERRORS=$werror >/dev/null
  cmake --build "$build" -j "$jobs"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir "$build" -L "engine|scenes" --output-on-failure -j "$jobs" "${ctest_args[@]}"
else
  build="$root/build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIMLAB_BUILD_TESTS=ON \
    -DSIMLAB_WARNINGS_AS_ERRORS=$werror >/dev/null
  cmake --build "$build" -j "$jobs"
  ctest --test-dir "$build" --output-on-failure -j "$jobs" "${ctest_args[@]}"
fi
