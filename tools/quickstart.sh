#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build Release into build/, and run it.
# For now the main job is the physics benchmark on the built-in 27-DoF humanoid; arguments are
# passed on to it (e.g. tools/quickstart.sh --envs 1024 --threads 8).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" --target simlab -j "$(nproc)"
echo
"$root/build/tools/simlab" version
echo
"$root/build/tools/simlab" bench physics --model humanoid --envs 256 --steps 200 "$@"
echo
echo "simlab is built: $root/build/tools/simlab --help shows every command."
