"""simlab from Python: batched, domain-randomized robot envs with Gymnasium's contracts.

    import numpy as np, simlab
    envs = simlab.make_vec("cartpole-balance", 256, seed=0)
    obs, infos = envs.reset()
    actions = np.zeros((256, envs.single_action_space.shape[0]), np.float32)
    obs, rewards, terminations, truncations, infos = envs.step(actions)

Arrays are views of the engine's buffers (valid until the next step); copy=True gives owned ones.
"""

import importlib
import importlib.util
import warnings

from . import _simlab
from .vector import Env, VectorEnv
from .spaces import Box, HAVE_GYMNASIUM

__all__ = ["make_vec", "make", "scenes", "Scene", "load_policy", "open_dataset", "VectorEnv",
           "Env", "Box", "HAVE_GYMNASIUM"]


def make_vec(scene, num_envs, *, seed=0, backend="mujoco", randomization="train", threads=0,
             render=None, batch_size=0, copy=False):
    """`num_envs` envs of a built-in scene or spec file (see VectorEnv)."""
    return VectorEnv(scene, num_envs, seed=seed, backend=backend, randomization=randomization,
                     threads=threads, render=render, batch_size=batch_size, copy=copy)


def make(scene, *, seed=0, backend="mujoco", randomization="train", render=None):
    """One env of a scene with gymnasium.Env's contract."""
    return Env(scene, seed=seed, backend=backend, randomization=randomization, render=render)


def scenes():
    """The built-in scene names."""
    return _simlab.scenes()


def _register():
    """Gym ids for the datasets' env_args: "simlab/<scene>-v0" for each built-in scene and
    "simlab/Scene-v0" for any spec file (pass scene=PATH). robomimic's create_env_from_metadata
    calls gym.make(env_args["env_name"], **env_args["env_kwargs"]) with these."""
    ids = {f"simlab/{name}-v0": {"scene": name} for name in _simlab.scenes()}
    ids["simlab/Scene-v0"] = {}
    for module in ("gymnasium", "gym"):
        if importlib.util.find_spec(module) is None:
            continue
        with warnings.catch_warnings():  # old gym warns about numpy on import
            warnings.simplefilter("ignore")
            try:
                registry = importlib.import_module(module)
            except Exception:  # a broken install must not break `import simlab`
                continue
        known = getattr(registry, "registry", None)  # gymnasium.registry, gym.registry
        for env_id, kwargs in ids.items():
            try:
                if known is not None and env_id in known:
                    continue
                registry.register(id=env_id, entry_point="simlab.vector:Env", kwargs=kwargs)
            except Exception:  # an old gym's registry: leave it as it is
                pass


_register()


class Scene:
    """A scene spec, checked and compiled: its layout (observation and action element names and
    bounds), control rate, episode length, variants, cameras and randomized parameters."""

    def __init__(self, path_or_name, backend="mujoco"):
        self.info = _simlab.scene_info(str(path_or_name), backend)
        for key, value in self.info.items():
            setattr(self, key, value)

    def __repr__(self):
        o, a = self.info["observation"]["names"], self.info["action"]["names"]
        return (f"Scene({self.info['name']!r}: {len(o)} observations, {len(a)} actions, "
                f"{self.info['control_hz']:g} Hz, {self.info['max_episode_steps']} steps, "
                f"{self.info['variants']} variants)")


def load_policy(path):
    """An exported policy (policy.pt from `simlab export`) with its card's contract."""
    from .policy import Policy

    return Policy(path)


def open_dataset(path):
    """A dataset written by `simlab gen` (a shard file or a folder of shards), read lazily."""
    from .dataset import Dataset

    return Dataset(path)
