#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build Release into build/, and train a
# policy: PPO on cartpole-balance with 256 parallel envs (about 1.5 minutes on 2 cores), then print
# where the learning curve, metrics and checkpoint are. Arguments go to `simlab train` (e.g.
# tools/quickstart.sh --steps 3000000 --threads 8). Once the world model and policy export land,
# this becomes train (dreamer), export and evaluate.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" --target simlab -j "$(nproc)"
echo
"$root/build/tools/simlab" version
echo
fresh=(--overwrite)
[[ " $* " == *" --resume "* ]] && fresh=()  # continue the last quickstart run instead
"$root/build/tools/simlab" train --scene cartpole-balance --algo ppo --steps 2000000 --envs 256 \
  --horizon 32 --out "$root/runs/quickstart" "${fresh[@]}" "$@"
echo
echo "simlab is built: $root/build/tools/simlab --help shows every command."
