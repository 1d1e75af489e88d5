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
#   tools/test.sh --fuzz SECONDS  the libFuzzer targets of tests/fuzz (scene specs, models, event files,
#                               shard/checksum records and dataset obs terms, policy cards) built with clang-16 under
#                               ASan + UBSan in build-fuzz/ (LibTorch, Vulkan, Bullet off; clang-16,
#                               libFuzzer and llvm-16's symbolizer installed if missing), each run
#                               SECONDS seconds on a copy of its corpus plus its saved reproducers;
#                               fails if a target finds a crash, leak, hang (10 s) or sanitizer report
#                               (the inputs are kept in build-fuzz/findings/TARGET/)
#   tools/test.sh --tsan        ThreadSanitizer in build-tsan/ (Vulkan, Bullet off) over VectorEnv (its
#                               async send/recv and threaded steps), the dataset writer (writer thread,
#                               shards, gen jobs), the rollout stream and a dreamer run with its actor
#                               thread (when LibTorch is there), and the fuzz regression test;
#                               tests/tsan.supp silences uninstrumented third-party code only
#   --werror                    with any of the above: compiler warnings in simlab's code are errors
# Extra arguments after -- go to ctest (e.g. tools/test.sh -- -R VectorEnv).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=0
clang=0
fuzz_seconds=0
tsan=0
werror=OFF
ctest_args=()
while (($#)); do
  case $1 in
    --sanitize) sanitize=1 ;;
    --clang) clang=1 ;;
    --werror) werror=ON ;;
    --) shift; ctest_args=("$@"); break ;;
    --fuzz)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "tools/test.sh: --fuzz needs SECONDS per target (e.g. --fuzz 30)" >&2; exit 2; }
      fuzz_seconds=$2
      shift ;;
    --tsan) tsan=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "tools/test.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

extra=()
((clang)) && extra+=(clang-16)
((fuzz_seconds)) && extra+=(clang-16 libfuzzer-16-dev libclang-rt-16-dev llvm-16)
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
elif ((fuzz_seconds)); then
  build="$root/build-fuzz"
  mkdir -p "$build"
  # -O1 with line tables: fast to build, and every report names file:line.
  if ! cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 \
      "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
      -DSIMLAB_FUZZ=ON -DSIMLAB_BUILD_TESTS=OFF -DSIMLAB_WITH_TORCH=OFF -DSIMLAB_WITH_VULKAN=OFF \
      -DSIMLAB_WITH_BULLET=OFF -DSIMLAB_BUILD_VIEWER=OFF -DSIMLAB_WITH_PYTHON=OFF \
      -DSIMLAB_WARNINGS_AS_ERRORS=$werror >"$build/configure.log" 2>&1; then
    cat "$build/configure.log" >&2
    exit 1
  fi
  cmake --build "$build" --target simlab_fuzzers -j "$jobs"
  # llvm-16's symbolizer: reports name functions and lines.
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-16/bin/llvm-symbolizer UBSAN_OPTIONS=print_stacktrace=1
  failed=()
  summary=()
  for target in scene_spec model event_file records policy_card; do
    # The fuzzer adds what it finds to the copy; the repo's corpus stays as committed.
    work="$build/corpus/$target"
    findings="$build/findings/$target"
    log="$build/fuzz_$target.log"
    rm -rf "$work"
    mkdir -p "$work" "$findings"
    cp "$root/tests/fuzz/corpus/$target/"* "$work/"
    dirs=("$work")
    [[ -d $root/tests/fuzz/regressions/$target ]] && dirs+=("$root/tests/fuzz/regressions/$target")
    echo "fuzz_$target: $fuzz_seconds s on $(ls "$work" | wc -l) seeds"
    status=0
    "$build/tests/fuzz/fuzz_$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$findings/" "${dirs[@]}" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if ((status)); then
      failed+=("$target")
      summary+=("fuzz_$target: FINDING after ${execs:-?} executions (exit $status); log $log")
      tail -n 60 "$log" >&2
      echo "reproducer(s) in $findings/; replay: $build/tests/fuzz/fuzz_$target FILE" >&2
    else
      summary+=("fuzz_$target: ${execs:-?} executions, no finding")
    fi
  done
  printf '%s\n' "${summary[@]}"
  if ((${#failed[@]})); then
    echo "tools/test.sh --fuzz: findings in ${failed[*]}: save each reproducer in" \
      "tests/fuzz/regressions/TARGET/ with its fix" >&2
    exit 1
  fi
elif ((tsan)); then
  build="$root/build-tsan"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMLAB_SANITIZE_THREAD=ON \
    -DSIMLAB_WITH_TORCH=ON -DSIMLAB_WITH_VULKAN=OFF -DSIMLAB_WITH_BULLET=OFF \
    -DSIMLAB_BUILD_VIEWER=OFF -DSIMLAB_WITH_PYTHON=OFF -DSIMLAB_BUILD_TESTS=ON \
    -DSIMLAB_WARNINGS_AS_ERRORS=$werror >/dev/null
  tsan_tests=(vector_env_test pipeline_test shard_test dataset_test app_test regression_test tsan_canary)
  # The rollout stream (actor thread beside the learner) lives in learners/: with LibTorch.
  if grep -q 'build tests/dreamer_test' "$build/build.ninja"; then tsan_tests+=(dreamer_test); fi
  cmake --build "$build" --target "${tsan_tests[@]}" -j "$jobs"
  # oneTBB's task edges for TSan (tests/support/tsan_tbb.cpp): wrapped entry points and its ITT hooks.
  export LD_PRELOAD="$build/tests/libsimlab_tsan_tbb.so" INTEL_LIBITTNOTIFY64="$build/tests/libsimlab_tsan_tbb.so" \
    INTEL_ITTNOTIFY_GROUPS=sync
  export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1"
  ctest --test-dir "$build" -R '^(VectorEnv|BackgroundWriter|Shard|ShardStore|Dataset|GenJob|FuzzRegressions|TsanCanary|Stream)\.|^DreamerTraining\.AResumedRunReproducesAnUninterruptedOne$' \
    --output-on-failure -j "$jobs" "${ctest_args[@]}"
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
