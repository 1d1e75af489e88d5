"""simlab from Python: batched, domain-randomized robot envs with Gymnasium's contracts.

    import numpy as np, simlab
    envs = simlab.make_vec("cartpole-balance", 256, seed=0)
    obs, infos = envs.reset()
    actions = np.zeros((256, envs.single_action_space.shape[0]), np.float32)
    obs, rewards, terminations, truncations, infos = envs.step(actions)

Arrays are views of the engine's buffers (valid until the next step); copy=True gives owned ones.
"""

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
