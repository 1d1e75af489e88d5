#!/usr/bin/env bash
# The GPU figures of the README in one run, on a machine with an NVIDIA GPU and a CUDA build of
# PyTorch (its LibTorch is what simlab builds against; see README, "On a GPU"):
#   tools/bench-gpu.sh [--quick] [BUILD_DIR]     (default build-gpu/; configured and built if needed)
# Prints and writes build-gpu/bench-gpu/*.json: the world-model learner's updates/s at batch 16 x 64
# and 256 x 64, with and without CUDA graphs, beside the same machine's CPU threads; then (without
# --quick) cartpole-swingup trained on the GPU for 100k env steps, exported and evaluated.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0
[[ ${1:-} == --quick ]] && { quick=1; shift; }
build=${1:-$root/build-gpu}
if [[ ! -x $build/tools/simlab ]]; then
  prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)') || {
    echo "tools/bench-gpu.sh: python3 cannot import torch; set CMAKE_PREFIX_PATH and build $build yourself" >&2
    exit 2
  }
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DSIMLAB_BUILD_TESTS=OFF -DSIMLAB_BUILD_VIEWER=OFF
  cmake --build "$build" --target simlab -j "$(nproc)"
fi
simlab="$build/tools/simlab"
out="$build/bench-gpu"
mkdir -p "$out"
"$simlab" version
bench() {  # NAME ARGS...: one bench dreamer run, kept as JSON and summarized
  local name=$1
  shift
  "$simlab" bench dreamer --json "$@" > "$out/$name.json"
  python3 - "$out/$name.json" "$name" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
peak = j.get("matmul_gflops_bf16_peak", j["matmul_gflops_fp32_peak"])
print(f"{sys.argv[2]:<28} {j['updates_per_s']:8.2f} updates/s {j['sequences_per_s']:9.1f} sequences/s "
      f"{j['achieved_gflops']:9.1f} GFLOP/s achieved (peak {peak:.0f}) graph={j['cuda_graph']}")
PY
}
bench cuda-16x64 --device cuda --updates 200
bench cuda-16x64-eager --device cuda --updates 50 --no-cuda-graphs
bench cuda-256x64 --device cuda --batch 256 --updates 100
bench cuda-256x64-eager --device cuda --batch 256 --updates 20 --no-cuda-graphs
bench cpu-16x64 --device cpu --threads 1 --updates 20
((quick)) && exit 0
run="$out/swingup"
/usr/bin/time -f "%e s wall" "$simlab" train --scene cartpole-swingup --algo dreamer --device cuda \
  --steps 100000 --out "$run" --overwrite
"$simlab" export --run "$run" --format torchscript --out "$run/export"
"$simlab" eval --policy "$run/export/policy.pt" --episodes 20 --out "$run/eval.json"
