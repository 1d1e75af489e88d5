"""python3 -m simlab.bench: env-steps/s through Python against the C++ loop on the same envs.

Both loops step the same VectorEnv with the same actions, one after the other, in one process;
the C++ loop is VectorEnv::step called from C++ (simlab._simlab._step_loop). Python's overhead is
what `envs.step` adds: argument checks, the views, the infos dict.
"""

import argparse
import json
import time

import numpy as np

import simlab
from simlab import _simlab


def measure(scene, envs, steps, threads, repeats):
    vec = simlab.make_vec(scene, envs, seed=0, threads=threads)
    vec.reset()
    act = vec.single_action_space.shape[0]
    actions = np.random.default_rng(0).uniform(-1, 1, (envs, act)).astype(np.float32)
    best_py = best_cpp = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        _simlab._step_loop(vec._envs, actions, steps)
        best_cpp = min(best_cpp, time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(steps):
            vec.step(actions)
        best_py = min(best_py, time.perf_counter() - t)
    n = envs * steps
    return {"scene": scene, "envs": envs, "steps": steps, "threads": vec._envs.num_threads,
            "cpp_env_steps_per_s": n / best_cpp, "python_env_steps_per_s": n / best_py,
            "python_overhead": best_py / best_cpp - 1.0}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", default="cartpole-balance,humanoid-stand")
    p.add_argument("--envs", type=int, default=256)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = [measure(s, args.envs, args.steps, args.threads, args.repeats)
            for s in args.scenes.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'scene':<20} {'envs':>5} {'C++ env-steps/s':>16} {'Python env-steps/s':>19} "
          f"{'Python overhead':>16}")
    for r in rows:
        print(f"{r['scene']:<20} {r['envs']:>5} {r['cpp_env_steps_per_s']:>16,.0f} "
              f"{r['python_env_steps_per_s']:>19,.0f} {100 * r['python_overhead']:>+15.1f}%")


if __name__ == "__main__":
    main()
