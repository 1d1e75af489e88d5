#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build Release into build/, then
#   1. train a policy on cartpole-balance with the world-model learner (dreamer: 4 envs streamed into
#      a replay, the policy trained in imagination, deciding every 2nd control step; 16,000 env
#      steps at a train ratio of 64, about 3 minutes on 2 cores),
#   2. export it (TorchScript, ONNX and the policy card, guardrails inside),
#   3. evaluate the exported file on held-out episodes (returns with a 95% interval, safety figures),
# and print where everything is. `tools/quickstart.sh --ppo` runs the model-free recipe instead (PPO,
# 256 envs, 2M steps, about 1.5 minutes); other arguments go to `simlab train` (e.g. --steps 30000,
# --threads 8, --resume).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" --target simlab -j "$(nproc)"
simlab="$root/build/tools/simlab"
run="$root/build/runs/quickstart"  # beside the build: the source tree stays clean
echo
"$simlab" version
echo
recipe=(--algo dreamer --steps 16000 --prefill 2000 --train-ratio 64)
if [[ ${1:-} == --ppo ]]; then
  shift
  recipe=(--algo ppo --steps 2000000 --envs 256 --horizon 32)
  run="$root/build/runs/quickstart-ppo"
fi
fresh=(--overwrite)
[[ " $* " == *" --resume "* ]] && fresh=()  # continue the last quickstart run instead
"$simlab" train --scene cartpole-balance "${recipe[@]}" --out "$run" "${fresh[@]}" "$@"
echo
"$simlab" export --run "$run" --format torchscript,onnx --out "$run/export"
echo
"$simlab" eval --policy "$run/export/policy.pt" --episodes 20 --out "$run/eval.json"
echo
echo "Results in $run:"
echo "  learning_curve.png  mean return against env steps"
[[ -f $run/world_model.png ]] && echo "  world_model.png     the world model's open-loop predictions against real data"
echo "  export/             policy.pt (TorchScript), policy.onnx, policy_card.json"
echo "  eval.json           the evaluation above, as JSON"
echo "simlab is built: $simlab --help shows every command."
if [[ -d $root/build/tools/python/simlab ]]; then
  echo "From Python (Debian's python3): export PYTHONPATH=$root/build/tools/python"
  echo "  then: python3 -c 'import simlab; print(simlab.scenes())'"
fi
